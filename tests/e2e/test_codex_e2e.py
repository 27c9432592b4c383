"""The real Codex CLI, offline, against the stand-in Responses API: `loomtui init
codex` writes <repo>/.codex/hooks.json, the model calls `exec_command` with
`git push origin main`, the gate appears in the pod, an approval lets it run and
a rejection denies it with the supervisor's reason reaching the model as the
call's output (formats reference, sections 1 and 8)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.e2e.conftest import (
    PUSH,
    REJECT_REASON,
    Supervisor,
    assert_push_gated,
    assert_usage_counted_as_ccusage,
    base_env,
    describe_store,
    loomtui_init,
    run_agent,
    store_snapshot,
)
from tests.e2e.model_api import ModelAPI

pytestmark = pytest.mark.e2e

KEY_VAR = "LOOMTUI_E2E_MODEL_KEY"


def toml_str(value: str) -> str:
    return json.dumps(value)  # a JSON string is a valid TOML basic string


def codex_home(tmp_path: Path, repo: Path, api: ModelAPI) -> Path:
    home = tmp_path / "codex-home"
    home.mkdir(exist_ok=True)
    (home / "config.toml").write_text(
        f'model = "gpt-5-codex"\n'
        f'model_provider = "local"\n'
        f'approval_policy = "never"\n'
        f'sandbox_mode = "danger-full-access"\n'
        f'\n[model_providers.local]\n'
        f'name = "LoomTUI e2e stand-in"\n'
        f'base_url = {toml_str(api.base_url + "/v1")}\n'
        f'wire_api = "responses"\n'
        f'env_key = "{KEY_VAR}"\n'
        f'request_max_retries = 0\n'
        f'stream_max_retries = 0\n'
        f'\n[projects.{toml_str(str(repo))}]\n'
        f'trust_level = "trusted"\n',
        encoding="utf-8")
    return home


def run_codex(codex_bin, repo: Path, loom_home: Path, tmp_path: Path, *, approve: bool,
              reason: str = ""):
    with ModelAPI(PUSH) as api:
        env = base_env(loom_home)
        env.update(CODEX_HOME=str(codex_home(tmp_path, repo, api)), **{KEY_VAR: "dummy"})
        supervisor = Supervisor(loom_home, approve=approve, reason=reason).start()
        try:
            done = run_agent(
                [str(codex_bin.binary), "exec", "--skip-git-repo-check",
                 "--dangerously-bypass-hook-trust", "--json", "push the branch"],
                cwd=repo, env=env)
        finally:
            supervisor.stop()
    context = (f"codex exit {done.returncode} (timed out: {done.timed_out})\n"
               f"stdout:\n{done.stdout[-4000:]}\nstderr:\n{done.stderr[-4000:]}\n"
               f"model API:\n{api.summary()}\nstore:\n{describe_store(loom_home)}")
    events = []
    for line in done.stdout.splitlines():
        try:
            events.append(json.loads(line))
        except ValueError:
            pass
    return done, events, api, supervisor, context


def check_gate_and_agent(events: list[dict], supervisor: Supervisor, loom_home: Path, repo: Path,
                         context: str) -> None:
    gate = assert_push_gated(supervisor, context)

    fleet, _, gates = store_snapshot(loom_home)
    thread_ids = [e.get("thread_id") for e in events if e.get("type") == "thread.started"]
    codex_agents = [a for a in fleet if a.kind == "codex"]
    assert len(codex_agents) == 1, f"expected one codex agent in the store\n{context}"
    agent = codex_agents[0]
    assert agent.session_id, context
    if thread_ids:  # `codex exec --json` names the session it ran
        assert agent.session_id == thread_ids[0], context
    assert agent.cwd == str(repo), context
    assert gate.agent_id == agent.id, context
    assert [g.id for g in gates] == [gate.id], f"expected exactly one gate\n{context}"


def test_approved_push_runs(codex_bin, repo: Path, loom_home: Path, tmp_path: Path, ccusage) -> None:
    out = loomtui_init("codex", repo, loom_home)
    hooks = json.loads((repo / ".codex" / "hooks.json").read_text())
    assert "PreToolUse" in hooks["hooks"], out

    done, events, api, supervisor, context = run_codex(codex_bin, repo, loom_home, tmp_path,
                                                       approve=True)

    check_gate_and_agent(events, supervisor, loom_home, repo, context)
    assert supervisor.decided.status == "approved", context
    results = api.tool_results()
    assert len(results) == 1, f"expected one function_call_output\n{context}"
    text = results[0].text
    assert REJECT_REASON not in text and "Rejected" not in text, context
    # It really ran: git itself answered (there is no remote called origin).
    assert "origin" in text and "does not appear to be a git repository" in text, \
        f"the push did not run\n{context}"
    # The rollout the real binary wrote counts as ccusage counts it.
    rows = assert_usage_counted_as_ccusage(ccusage, "codex", loom_home,
                                           {"CODEX_HOME": str(tmp_path / "codex-home")}, tmp_path, context)
    assert len(rows) == 1 and rows[0]["kind"] == "codex", context


def test_rejected_push_is_denied_with_reason(codex_bin, repo: Path, loom_home: Path,
                                             tmp_path: Path) -> None:
    loomtui_init("codex", repo, loom_home)

    done, events, api, supervisor, context = run_codex(codex_bin, repo, loom_home, tmp_path,
                                                       approve=False, reason=REJECT_REASON)

    check_gate_and_agent(events, supervisor, loom_home, repo, context)
    assert supervisor.decided.status == "rejected", context
    results = api.tool_results()
    assert len(results) == 1, f"expected one function_call_output\n{context}"
    text = results[0].text
    assert REJECT_REASON in text, f"the supervisor's reason did not reach the model\n{context}"
    assert "does not appear to be a git repository" not in text, f"the push ran\n{context}"
