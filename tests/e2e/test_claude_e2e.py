"""The real Claude Code, offline, against the stand-in model API: `loomtui init
claude` writes the hooks, the model asks for `git push origin main`, the gate
appears in the pod, and a supervisor's approval lets it run while a rejection
denies it with the supervisor's reason reaching the agent (formats reference,
sections 1, 2 and 7)."""

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


def claude_env(loom_home: Path, config_dir: Path, api: ModelAPI) -> dict[str, str]:
    env = base_env(loom_home)
    env.update(
        ANTHROPIC_BASE_URL=api.base_url,
        ANTHROPIC_API_KEY="dummy",
        CLAUDE_CONFIG_DIR=str(config_dir),
        DISABLE_TELEMETRY="1",
        DISABLE_AUTOUPDATER="1",
        DISABLE_ERROR_REPORTING="1",
        CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC="1",
    )
    return env


def run_claude(claude_bin, repo: Path, loom_home: Path, config_dir: Path, *, approve: bool,
               reason: str = ""):
    with ModelAPI(PUSH) as api:
        supervisor = Supervisor(loom_home, approve=approve, reason=reason).start()
        try:
            done = run_agent(
                [str(claude_bin.binary), "-p", "push the branch", "--output-format", "json"],
                cwd=repo, env=claude_env(loom_home, config_dir, api))
        finally:
            supervisor.stop()
    context = (f"claude exit {done.returncode} (timed out: {done.timed_out})\n"
               f"stdout:\n{done.stdout[-4000:]}\nstderr:\n{done.stderr[-4000:]}\n"
               f"model API:\n{api.summary()}\nstore:\n{describe_store(loom_home)}")
    try:
        result = json.loads(done.stdout.strip().splitlines()[-1]) if done.stdout.strip() else None
    except ValueError:
        result = None
    assert isinstance(result, dict), f"claude printed no JSON result\n{context}"
    return result, api, supervisor, context


def transcript_text(config_dir: Path, session_id: str) -> str:
    found = list((config_dir / "projects").glob(f"*/{session_id}.jsonl"))
    return "\n".join(p.read_text(encoding="utf-8", errors="replace") for p in found)


def check_gate_and_agent(result: dict, supervisor: Supervisor, loom_home: Path, repo: Path,
                         context: str) -> None:
    gate = assert_push_gated(supervisor, context)

    fleet, events, gates = store_snapshot(loom_home)
    session_id = result.get("session_id")
    assert session_id, context
    mine = [a for a in fleet if a.session_id == session_id]
    assert len(mine) == 1, f"agent with session {session_id} not registered exactly once\n{context}"
    agent = mine[0]
    assert agent.kind == "claude", context
    assert agent.cwd == str(repo), context
    assert agent.branch == "main", context
    assert gate.agent_id == agent.id, context
    assert [g.id for g in gates] == [gate.id], f"expected exactly one gate\n{context}"
    # The hook saw the real stdin: its payload is kept with the events.
    pre = [json.loads(e.payload) for e in events if e.kind == "gate"]
    assert pre, context


def denials_for_push(result: dict) -> list[dict]:
    return [d for d in result.get("permission_denials") or []
            if d.get("tool_name") == "Bash" and (d.get("tool_input") or {}).get("command") == PUSH]


def test_approved_push_runs(claude_bin, repo: Path, loom_home: Path, tmp_path: Path, ccusage) -> None:
    out = loomtui_init("claude", repo, loom_home)
    settings = json.loads((repo / ".claude" / "settings.json").read_text())
    assert "PreToolUse" in settings["hooks"], out
    config_dir = tmp_path / "claude-config"
    config_dir.mkdir()

    result, api, supervisor, context = run_claude(claude_bin, repo, loom_home, config_dir,
                                                  approve=True)

    check_gate_and_agent(result, supervisor, loom_home, repo, context)
    assert supervisor.decided.status == "approved", context
    assert not denials_for_push(result), f"the approved push was denied\n{context}"
    results = api.tool_results()
    assert len(results) == 1, f"expected one tool result\n{context}"
    text = results[0].text
    assert "hook" not in text.lower() and "rejected" not in text.lower(), context
    # It really ran: git itself answered (there is no remote called origin).
    assert "origin" in text, f"the push did not run\n{context}"
    fleet, events, _ = store_snapshot(loom_home)
    kinds = [e.kind for e in events]
    assert "approved" in kinds, context
    # The transcript the real binary wrote counts as ccusage counts it.
    rows = assert_usage_counted_as_ccusage(ccusage, "claude", loom_home,
                                           {"CLAUDE_CONFIG_DIR": str(config_dir)}, tmp_path, context)
    assert [r["key"] for r in rows] == [result["session_id"]], context


def test_rejected_push_is_denied_with_reason(claude_bin, repo: Path, loom_home: Path,
                                             tmp_path: Path) -> None:
    loomtui_init("claude", repo, loom_home)
    config_dir = tmp_path / "claude-config"
    config_dir.mkdir()

    result, api, supervisor, context = run_claude(claude_bin, repo, loom_home, config_dir,
                                                  approve=False, reason=REJECT_REASON)

    check_gate_and_agent(result, supervisor, loom_home, repo, context)
    assert supervisor.decided.status == "rejected", context
    assert denials_for_push(result), f"permission_denials does not list the push\n{context}"
    # The supervisor's reason reached the model, as the tool's error result...
    results = api.tool_results()
    assert len(results) == 1, f"expected one tool result\n{context}"
    assert results[0].is_error is True, context
    assert REJECT_REASON in results[0].text, context
    assert "ana" in results[0].text, context
    # ...and the transcript.
    transcript = transcript_text(config_dir, result["session_id"])
    assert REJECT_REASON in transcript, f"reason not in the transcript\n{context}"



def served_run(claude_bin, repo: Path, loom_home: Path, tmp_path: Path, *init_args: str):
    """`[serve] http_port` set, `init claude` with `init_args`, the push approved with a pod
    service running: (settings, events' kinds, service log, context)."""
    import re
    import signal
    import socket
    import subprocess
    import sys

    from loomtui.hooks import served
    from tests.e2e.conftest import base_env
    from tests.waiting import wait_for

    subprocess.run([sys.executable, "-m", "loomtui", "init"], cwd=repo, env=base_env(loom_home),
                   capture_output=True, check=True)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config = loom_home / "config.toml"
    config.write_text(config.read_text().replace("# http_port = 0", f"http_port = {port}"))
    loomtui_init("claude", repo, loom_home, *init_args)
    settings = json.loads((repo / ".claude" / "settings.json").read_text())
    config_dir = tmp_path / "claude-config"
    config_dir.mkdir()
    service = subprocess.Popen([sys.executable, "-m", "loomtui", "serve", "--no-ingest", "--no-diffs"],
                               env=base_env(loom_home), stdin=subprocess.DEVNULL,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        wait_for(lambda: service.poll() is not None or served.answering(served.socket_path(loom_home), 0.2),
                 "the pod service to answer")
        result, api, supervisor, context = run_claude(claude_bin, repo, loom_home, config_dir,
                                                      approve=True)
    finally:
        service.send_signal(signal.SIGTERM)
        service.wait(timeout=60)
        log = service.stderr.read()
    context += f"\nservice log:\n{log}"
    check_gate_and_agent(result, supervisor, loom_home, repo, context)
    assert supervisor.decided.status == "approved" and not denials_for_push(result), context
    assert "origin" in api.tool_results()[0].text, f"the push did not run\n{context}"
    counts = {kind: [int(n) for n in re.findall(rf"answered (\d+) {kind}hook call", log)]
              for kind in ("", "HTTP ")}
    _, events, _ = store_snapshot(loom_home)
    return settings, [e.kind for e in events], counts, context


def test_served_push_with_the_sandbox(claude_bin, repo: Path, loom_home: Path, tmp_path: Path) -> None:
    """With the pod service running, the real binary's hook calls go through the hook
    client to the service (the gate is held there); with its sandbox on, every event
    keeps the command hook even though `[serve] http_port` is set (Claude Code's sandbox
    proxy does not reach loopback)."""
    settings, kinds, counts, context = served_run(claude_bin, repo, loom_home, tmp_path)
    for name in ("PreToolUse", "PostToolUse", "Stop"):
        assert settings["hooks"][name][-1]["hooks"][0]["command"].endswith("launch.py claude"), context
    # SessionStart, UserPromptSubmit, PreToolUse, PostToolUseFailure, Stop, SessionEnd
    assert counts[""] and counts[""][-1] >= 5, context
    assert "approved" in kinds and "tool_failed" in kinds and "stop" in kinds, context


def test_records_over_http_without_the_sandbox(claude_bin, repo: Path, loom_home: Path, tmp_path: Path) -> None:
    """Without the sandbox, `init` writes HTTP hooks for the events that never decide,
    and the real binary posts them to the service: no process per event."""
    settings, kinds, counts, context = served_run(claude_bin, repo, loom_home, tmp_path, "--no-sandbox")
    assert settings["hooks"]["PostToolUseFailure"][-1]["hooks"][0]["type"] == "http", context
    assert settings["hooks"]["PreToolUse"][-1]["hooks"][0]["type"] == "command", context
    assert counts["HTTP "] and counts["HTTP "][-1] >= 2, context  # the failed push, Stop (SessionEnd)
    assert counts[""] and counts[""][-1] >= 2, context  # SessionStart, PreToolUse through the socket
    assert "approved" in kinds and "tool_failed" in kinds and "stop" in kinds, context
