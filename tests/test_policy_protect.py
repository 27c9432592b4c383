"""The built-in protection rules (issue 10, item 3): a table of attacks an agent could try
on the pod, on the decisions, on its own hook and MCP wiring and on LoomTUI's processes,
each through classify() with a real pod, worktree and symlinks on disk; the ordinary
work that must stay untouched; a policy file cannot drop them; and a handful through
the real hook as a subprocess."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from loomtui.policy import PROTECTION_RULES, classify, default_policy_text, load_policy, parse_policy
from loomtui.store.db import connect, db_path
from tests.test_hook import bash as bash_event
from tests.test_hook import event, hook


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("protect").resolve()
    pod = root / "pod"
    connect(db_path(pod)).close()
    (pod / "policy.toml").write_text(default_policy_text())
    (pod / "config.toml").write_text("# config\n")
    (pod / "themes").mkdir()
    wt = root / "work" / "shop"
    (wt / "src").mkdir(parents=True)
    (wt / "README.md").write_text("# shop\n")
    (wt / "config.toml").write_text("# the project's own config\n")
    (wt / ".claude").mkdir()
    (wt / "podlink").symlink_to(pod)                  # a symlink into the pod
    (wt / "db").symlink_to(pod / "loom.db")           # a symlink to the store itself
    (wt / "settings-alias.json").symlink_to(wt / ".claude" / "settings.json")
    home = root / "home"
    (home / ".claude").mkdir(parents=True)
    witness = root / "state" / "loomtui"
    witness.mkdir(parents=True)
    return {"root": root, "pod": pod, "wt": wt, "home": home, "witness": witness}


@pytest.fixture(scope="module")
def policy(world):
    return load_policy(world["pod"])


def decide(world, policy, tool: str, tool_input: dict, **kw):
    args = dict(cwd=str(world["wt"]), repo=str(world["wt"]), pod=str(world["pod"]),
                protected=(str(world["witness"]),), home=str(world["home"]))
    args.update(kw)
    return classify(policy, tool, tool_input, **args)


def sh(world, policy, command: str, **kw):
    return decide(world, policy, "Bash", {"command": command, "description": "x"}, **kw)


# (command with {pod} {wt} {home} {witness} placeholders, action, rule)
BASH = [
    # -- the pod's files, however they are named
    ("sqlite3 $LOOM_HOME/loom.db \"update gates set status='approved'\"", "deny", "protect-pod-commands"),
    ("sqlite3 ${LOOM_HOME}/loom.db .dump", "deny", "protect-pod-commands"),
    ("sqlite3 {pod}/loom.db \"drop trigger audit_no_update\"", "deny", "protect-pod-commands"),
    ("python -c \"import sqlite3; sqlite3.connect('{pod}/loom.db')\"", "deny", "protect-pod-commands"),
    ("python3 -c \"import sqlite3; sqlite3.connect('{pod}/' + 'lo' + 'om.db')\"", "deny", "protect-pod-commands"),
    ("bash -c 'cat {pod}/policy.toml'", "deny", "protect-pod-commands"),
    ("cat ../../pod/loom.db", "deny", "protect-pod-commands"),
    ("cat ../../pod/policy.toml", "deny", "protect-pod-commands"),
    ("cp /dev/null ../../pod/config.toml", "deny", "protect-pod-commands"),
    ("echo 'default_action = \"allow\"' > {pod}/policy.toml", "deny", "protect-pod-commands"),
    ("printf x >> ../../pod/.policy-cache.json", "deny", "protect-pod-commands"),
    ("cat podlink/policy.toml", "deny", "protect-pod-commands"),
    ("sqlite3 db .tables", "deny", "protect-pod-commands"),  # the symlink resolves into the pod
    ("cd ../.. && rm -f pod/policy.toml", "deny", "protect-pod-commands"),
    ("rm -rf {pod}", "deny", "protect-pod-commands"),
    ("ls {pod}/themes", "deny", "protect-pod-commands"),
    ("F={pod}/policy.toml; sed -i s/gate/allow/ $F", "deny", "protect-pod-commands"),
    ("cat < {pod}/config.toml", "deny", "protect-pod-commands"),
    ("python - <<'EOF'\nopen('{pod}/policy.toml', 'w').write('')\nEOF", "deny", "protect-pod-commands"),
    ("echo $LOOM_HOME", "deny", "protect-pod-commands"),
    ("python -c 'import os; print(os.environ[\"LOOM_HOME\"])'", "deny", "protect-pod-commands"),
    ("sqlite3 loom.db-wal", "deny", "protect-pod-commands"),
    ("rm {witness}/witness.json", "deny", "protect-pod-commands"),
    ("tee {witness}/head < /dev/null", "deny", "protect-pod-commands"),
    # -- decisions
    ("loomtui approve 3", "deny", "protect-decisions"),
    ("LOOM_USER=alice loomtui approve 3", "deny", "protect-decisions"),
    ("env LOOM_USER=alice loomtui approve 3 --reason ok", "deny", "protect-decisions"),
    ("python -m loomtui reject 3 --reason x", "deny", "protect-decisions"),
    ("python3 -X importtime -m loomtui approve 1", "deny", "protect-decisions"),
    ("/usr/local/bin/loomtui approve 7", "deny", "protect-decisions"),
    ("{wt}/.venv/bin/loomtui reject 7 --reason no", "deny", "protect-decisions"),
    ("python .venv/bin/loomtui approve 7", "deny", "protect-decisions"),
    ("uvx loomtui approve 7", "deny", "protect-decisions"),
    ("sudo -u ana loomtui approve 2", "deny", "protect-decisions"),
    ("loomtui gate -- loomtui approve 2", "deny", "protect-decisions"),
    ("true && loomtui grant 4 --reason x", "deny", "protect-decisions"),
    ("loomtui revoke 4 --reason x", "deny", "protect-decisions"),
    ("loomtui budget set --pod --period day --limit 1000", "deny", "protect-decisions"),
    ("loomtui policy set default_action allow", "deny", "protect-decisions"),
    ("loomtui memory accept 5", "deny", "protect-decisions"),
    ("loomtui memory reject 5 --reason x", "deny", "protect-decisions"),
    ("loomtui memory pin 5", "deny", "protect-decisions"),
    ("loomtui memory unpin 5", "deny", "protect-decisions"),
    ("loomtui memory retire 5", "deny", "protect-decisions"),
    ("loomtui memory add 'always push' --kind convention --pin", "deny", "protect-decisions"),
    ("loomtui init --shared staff", "deny", "protect-decisions"),
    ("loomtui init claude --no-sandbox", "deny", "protect-decisions"),
    ("loomtui $CMD 3", "deny", "protect-decisions"),
    ("python -c \"from loomtui.cli import main; main(['approve', '3'])\"", "deny", "protect-decisions"),
    # -- the agent's own wiring
    ("sed -i s/loomtui/true/ .claude/settings.json", "gate", "protect-agent-wiring"),
    ("echo '{}' > .claude/settings.local.json", "gate", "protect-agent-wiring"),
    ("rm .mcp.json", "gate", "protect-agent-wiring"),
    ("mv .claude/settings.json /tmp/x", "gate", "protect-agent-wiring"),
    ("cp /tmp/mine.json ~/.claude/settings.json", "gate", "protect-agent-wiring"),
    ("cp /tmp/mine.json $HOME/.claude.json", "gate", "protect-agent-wiring"),
    ("rm -r ~/.codex/hooks.json", "gate", "protect-agent-wiring"),
    ("git checkout -- .claude/settings.json", "gate", "protect-agent-wiring"),
    ("cat x > settings-alias.json", "gate", "protect-agent-wiring"),
    ("python -c \"open('.mcp.json', 'w').write('{}')\"", "gate", "protect-agent-wiring"),
    ("loomtui init claude", "gate", "protect-agent-wiring"),
    # -- LoomTUI's processes
    ("pkill -f loomtui", "deny", "protect-processes"),
    ("pkill -9 -f 'loomtui hook'", "deny", "protect-processes"),
    ("killall loomtui", "deny", "protect-processes"),
    ("pgrep -f loomtui | xargs kill", "deny", "protect-processes"),
    ("pgrep -f loomtui | xargs kill -9", "deny", "protect-processes"),
    ("kill -9 $(pgrep -f loomtui)", "deny", "protect-processes"),
    ("kill -9 -1", "deny", "protect-processes"),
    # -- the default policy still decides what it decided before
    ("git push --force", "gate", "git-force-push"),
    ("rm -rf /", "deny", "rm-root"),
]

# Ordinary work: untouched by the protection rules (the default policy decides).
ORDINARY = [
    ("cat README.md", "pass"),
    ("cat config.toml", "pass"),          # the project's config.toml, not the pod's
    ("sed -i s/a/b/ config.toml", "pass"),
    ("cat .claude/settings.json", "pass"),
    ("jq . .mcp.json", "pass"),
    ("git diff .claude/settings.json", "pass"),
    ("git push origin auth", "gate"),
    ("pytest -q tests", "pass"),
    ("python -c 'print(1)'", "pass"),
    ("loomtui status", "pass"),
    ("loomtui gates --json", "pass"),
    ("loomtui policy check -- git push", "pass"),
    ("loomtui memory search auth tokens", "pass"),
    ("loomtui memory show 3", "pass"),
    ("loomtui memory list --pinned", "pass"),
    ("loomtui memory add 'tests need redis' --kind fact", "pass"),
    ("loomtui init --print claude", "pass"),
    ("ls {root}/work", "pass"),
    ("kill %1", "pass"),
    ("pkill -f webpack-dev-server", "pass"),
    ("cat ~/notes/pod.md", "pass"),
    ("echo loom", "pass"),
    ("LOOM_HOME=/tmp/other-pod loomtui status", "pass"),
]


def fill(command: str, world) -> str:
    for key, value in world.items():
        command = command.replace("{" + key + "}", str(value))
    return command


@pytest.mark.parametrize("command,action,rule", BASH)
def test_bash_attacks(world, policy, command, action, rule) -> None:
    decision = sh(world, policy, fill(command, world))
    assert (decision.action, decision.rule) == (action, rule), decision
    if rule.startswith("protect-"):
        assert decision.rule in PROTECTION_RULES and len(decision.reason) > 40


@pytest.mark.parametrize("command,action", ORDINARY)
def test_ordinary_work_is_untouched(world, policy, command, action) -> None:
    decision = sh(world, policy, fill(command, world))
    assert decision.action == action and not decision.rule.startswith("protect-"), decision


FILES = [
    ("Write", "{pod}/policy.toml", "deny", "protect-pod-files"),
    ("Edit", "{pod}/config.toml", "deny", "protect-pod-files"),
    ("MultiEdit", "{pod}/loom.db", "deny", "protect-pod-files"),
    ("Write", "{pod}/themes/mine.toml", "deny", "protect-pod-files"),  # a new file: by its parent
    ("Write", "{pod}/new-file", "deny", "protect-pod-files"),
    ("Edit", "podlink/policy.toml", "deny", "protect-pod-files"),      # through a symlink, relative
    ("Edit", "{wt}/podlink/config.toml", "deny", "protect-pod-files"),
    ("Write", "../../pod/policy.toml", "deny", "protect-pod-files"),
    ("Write", "{wt}/src/../../../pod/policy.toml", "deny", "protect-pod-files"),
    ("Write", "{witness}/head.json", "deny", "protect-pod-files"),
    ("NotebookEdit", "{pod}/x.ipynb", "deny", "protect-pod-files"),
    ("Edit", ".claude/settings.json", "gate", "protect-agent-wiring"),
    ("Write", ".claude/settings.local.json", "gate", "protect-agent-wiring"),
    ("Write", "{wt}/sub/.claude/settings.json", "gate", "protect-agent-wiring"),
    ("Edit", "~/.claude/settings.json", "gate", "protect-agent-wiring"),
    ("Edit", "{home}/.claude.json", "gate", "protect-agent-wiring"),
    ("Write", ".mcp.json", "gate", "protect-agent-wiring"),
    ("Write", "~/.codex/config.toml", "gate", "protect-agent-wiring"),
    ("Write", ".codex/hooks.json", "gate", "protect-agent-wiring"),
    ("Edit", "settings-alias.json", "gate", "protect-agent-wiring"),  # a symlink to the settings
    ("Write", "src/app.py", "pass", ""),
    ("Edit", "{wt}/README.md", "pass", ""),
    ("Edit", "config.toml", "pass", ""),
    ("Write", ".claude/commands/review.md", "pass", ""),
    ("Write", ".env", "deny", "secrets"),
]


@pytest.mark.parametrize("tool,path,action,rule", FILES)
def test_file_tools(world, policy, tool, path, action, rule) -> None:
    key = "notebook_path" if tool == "NotebookEdit" else "file_path"
    decision = decide(world, policy, tool, {key: fill(path, world)})
    assert (decision.action, decision.rule) == (action, rule), decision


def test_claude_config_dir_and_codex_home_are_wiring_too(world, policy, tmp_path) -> None:
    config, codex = tmp_path / "cc", tmp_path / "cx"
    kw = {"claude_config_dir": str(config), "codex_home": str(codex)}
    assert decide(world, policy, "Write", {"file_path": str(config / "settings.json")}, **kw).rule == "protect-agent-wiring"
    assert decide(world, policy, "Write", {"file_path": str(codex / "config.toml")}, **kw).rule == "protect-agent-wiring"
    assert sh(world, policy, f"rm {codex}/config.toml", **kw).rule == "protect-agent-wiring"
    assert decide(world, policy, "Write", {"file_path": str(config / "notes.md")}, **kw).action == "pass"


def test_asking_to_leave_the_sandbox_is_gated(world, policy) -> None:
    decision = decide(world, policy, "Bash", {"command": "ls", "dangerouslyDisableSandbox": True})
    assert (decision.action, decision.rule, decision.risk) == ("gate", "protect-sandbox", "high")
    assert "sandbox" in decision.reason
    assert decide(world, policy, "Bash", {"command": "ls", "dangerouslyDisableSandbox": False}).action == "pass"


def test_kill_of_a_loomtui_pid_is_denied_and_of_another_process_is_not(world, policy) -> None:
    # A real process whose command line says loomtui (as the console's and hooks' do).
    loom = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)", "loomtui", "console"])
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        decision = sh(world, policy, f"kill -TERM {loom.pid}")
        assert (decision.action, decision.rule) == ("deny", "protect-processes"), decision
        assert str(loom.pid) in decision.reason
        assert sh(world, policy, f"kill -9 -- {loom.pid}").rule == "protect-processes"
        assert sh(world, policy, f"kill {other.pid}").action == "pass"
        # pkill by a pattern that does not name loomtui but matches its command line
        assert sh(world, policy, "pkill -f 'sleep\\(60\\)., .loomtui'").rule == "protect-processes"
    finally:
        for proc in (loom, other):
            proc.send_signal(signal.SIGKILL)
            proc.wait()


def test_no_policy_file_drops_the_protections(world, tmp_path) -> None:
    """An old pod's policy (or a loosened one): allow everything, rules that allow
    the very actions the protections stop. The protections still decide."""
    loose = parse_policy('default_action = "allow"\n'
                         '[[rule]]\nname = "anything"\naction = "allow"\ncommand = "*"\n'
                         '[[rule]]\nname = "files"\naction = "allow"\npath = "**"\n'
                         '[[rule]]\nname = "settings"\naction = "allow"\npath = "**/settings.json"\n')
    assert sh(world, loose, "loomtui approve 3").rule == "protect-decisions"
    assert sh(world, loose, "sqlite3 $LOOM_HOME/loom.db").action == "deny"
    assert decide(world, loose, "Write", {"file_path": str(world["pod"] / "policy.toml")}).action == "deny"
    assert decide(world, loose, "Edit", {"file_path": ".claude/settings.json"}).action == "gate"
    assert decide(world, loose, "Bash", {"command": "ls", "dangerouslyDisableSandbox": True}).action == "gate"
    # A stricter rule still wins over a protection's gate.
    strict = parse_policy('[[rule]]\nname = "no-mcp"\naction = "deny"\npath = ".mcp.json"\n')
    assert decide(world, strict, "Write", {"file_path": ".mcp.json"}).rule == "no-mcp"


def test_protections_win_ties_so_the_gate_names_them(world, policy) -> None:
    decision = sh(world, policy, "rm .mcp.json && git push")
    assert (decision.action, decision.rule) == ("gate", "protect-agent-wiring")


def test_the_default_policy_text_documents_the_built_in_rules() -> None:
    text = default_policy_text()
    for name in PROTECTION_RULES:
        assert name in text


def test_the_checks_are_cheap(world, policy) -> None:
    import time

    commands = [fill(c, world) for c, _, _ in BASH if "kill" not in c] + [fill(c, world) for c, _ in ORDINARY]
    for command in commands:
        sh(world, policy, command)
    start = time.perf_counter()
    for command in commands:
        sh(world, policy, command)
    per_call = (time.perf_counter() - start) / len(commands)
    assert per_call < 0.002, per_call  # issue 10: new checks under 2 ms


# -- through the real hook ------------------------------------------------------------


def hook_pod(world) -> Path:
    return world["pod"]


def answer(out: str) -> dict:
    return json.loads(out)["hookSpecificOutput"]


@pytest.mark.parametrize("command,rule", [
    ("loomtui approve 3", "protect-decisions"),
    ("LOOM_USER=alice loomtui approve 3", "protect-decisions"),
    ("python -m loomtui reject 3 --reason x", "protect-decisions"),
    ("pkill -f loomtui", "protect-processes"),
    ("sqlite3 $LOOM_HOME/loom.db \"update gates set status='approved'\"", "protect-pod-commands"),
    ("python -c \"import sqlite3; sqlite3.connect('{pod}/loom.db')\"", "protect-pod-commands"),
    ("cat ../../pod/policy.toml", "protect-pod-commands"),
])
def test_the_real_hook_denies(world, command, rule) -> None:
    code, out, _ = hook(world["pod"], bash_event(fill(command, world), world["wt"]))
    reply = answer(out)
    assert code == 0 and reply["permissionDecision"] == "deny", out
    assert f"({rule})" in reply["permissionDecisionReason"]


def test_the_real_hook_denies_writing_the_policy_through_a_symlink(world) -> None:
    payload = event("PreToolUse", world["wt"], tool_name="Write", tool_use_id="toolu_w",
                    tool_input={"file_path": "podlink/policy.toml", "content": 'default_action = "allow"\n'})
    code, out, _ = hook(world["pod"], payload)
    assert code == 0 and answer(out)["permissionDecision"] == "deny"
    assert "protect-pod-files" in answer(out)["permissionDecisionReason"]


def test_the_real_hook_leaves_ordinary_work_alone(world) -> None:
    for payload in (bash_event("cat README.md", world["wt"]),
                    event("PreToolUse", world["wt"], tool_name="Edit", tool_use_id="toolu_e",
                          tool_input={"file_path": str(world["wt"] / "src" / "app.py"),
                                      "old_string": "a", "new_string": "b"})):
        code, out, err = hook(world["pod"], payload)
        assert (code, out) == (0, ""), err


def test_policy_check_shows_the_protections(world) -> None:
    env = {**os.environ, "LOOM_HOME": str(world["pod"])}
    for argv, rule in ((["--", "loomtui", "approve", "3"], "protect-decisions"),
                       (["--tool", "Write", "--", str(world["pod"] / "policy.toml")], "protect-pod-files"),
                       (["--", "cat podlink/config.toml"], "protect-pod-commands")):
        done = subprocess.run([sys.executable, "-m", "loomtui", "policy", "check", "--json", *argv],
                              cwd=world["wt"], env=env, capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
        assert json.loads(done.stdout)["rule"] == rule


def test_protection_context_reads_the_agents_environment(tmp_path) -> None:
    from loomtui.policy import protection_context

    env = {"HOME": "/home/ana", "XDG_STATE_HOME": "/var/state", "CLAUDE_CONFIG_DIR": "/cc"}
    assert protection_context(tmp_path, env) == {
        "pod": str(tmp_path), "protected": ("/var/state/loomtui",), "home": "/home/ana",
        "claude_config_dir": "/cc", "codex_home": None}
    assert protection_context(tmp_path, {"HOME": "/home/ana"})["protected"] == ("/home/ana/.local/state/loomtui",)


@pytest.mark.parametrize("command", [
    "lo''omtui approve 1", "l\\oomtui approve 1", 'l"oo"mtui reject 2 --reason x',
    "(env -u CLAUDECODE setsid lo''omtui approve 2 &)",
])
def test_quoting_the_program_name_does_not_hide_a_decision(command: str) -> None:
    """Found by the red team: the pre-filter read the raw text, so a quoted name skipped
    the decision checks although the shell analysis unquotes it."""
    from loomtui.policy import default_policy_text, parse_policy

    decision = classify(parse_policy(default_policy_text()), "Bash", {"command": command}, cwd="/tmp")
    assert decision.action == "deny" and decision.rule == "protect-decisions"
