"""What the hook writes into the record (loomtui/store/record.py reads it): test runs
and reverts seen in an agent's Bash calls, and policy denials. The gate counts and
streaks are kept by triggers on `gates`, the calls answered by a grant by a trigger on
their `grant.used` audit entry (schema.py, issue 14's record migration).

On the hook path (every PostToolUse of a Bash call imports this): stdlib only, two
small regexes (the summary ones are compiled only for Codex), no NamedTuple classes
(each costs ~0.2 ms to create); a command that names no runner costs three substring
tests, one that does a split into words (a single big regex took ~10 ms to compile in
each hook process). The writes
run inside the transaction that appends the event (store.agents.record_event's `also`),
so the record and the timeline never disagree.

Test runs: pytest (and `python -m pytest`), `npm|pnpm|yarn|bun [run] test`, `go test`,
`cargo test` / `cargo nextest run`, `make ... test|check`, `tox`, as the first word of any
part of a command line (after `&&`, `;`, `|`, env assignments, `sudo`, `uv run`, `timeout N`
and the like), plus the regexes of `[record] test_patterns` in config.toml (searched in
the whole command). The outcome comes from the hook event (formats reference, section 1):
Claude Code sends PostToolUse for a Bash call that exited 0 and PostToolUseFailure
("Exit code N") for one that did not; Codex (0.169) sends PostToolUse either way, with
the output alone as `tool_response` (no exit status), so its outcome is read from the
runner's own summary (`1 failed`, `FAIL`, `test result: FAILED`, ... before `2 passed`,
`ok`, `test result: ok`); neither found: the outcome is unknown. An interrupted call
is no result and is not recorded.

Reverts (work thrown away, counted once the command succeeded; Codex's hook does not say
whether a command failed, so there every finished call counts): `git revert` (not
`--abort|--quit|--continue|--skip`), `git reset --hard`, `git checkout` of paths
(`git checkout -- PATH`, `git checkout .`), `git restore` of the working tree (not
`--staged` alone), `git clean -f`.
"""

import json
import re
import sqlite3

RECENT = 10  # test runs and reverts kept per agent (newest first)

# A command line's parts: after `&&`, `||`, `;`, `|`, `&`, a newline, `(`, a backtick,
# `$(`, `then` and `do`. Words are split on white space: good enough to see a runner
# at the start of a part (a quoted "; pytest" inside a message is not one: its first
# word keeps the quote).
_PARTS = re.compile(r"&&|\|\||[;&|\n(`]|\$\(|\b(?:then|do)\b")
_WRAPPERS = frozenset(("sudo", "time", "nice", "env", "command", "exec", "npx", "bunx", "nohup"))
_RUN_WRAPPERS = frozenset(("uv", "poetry", "pdm", "hatch", "pipenv", "rye"))  # `X run CMD`
_NODE = frozenset(("npm", "pnpm", "yarn", "bun"))
# The runner's summary, for an outcome the event does not carry (Codex). Failure first.
# Compiled when first needed (`_summary`): a Claude Code agent's calls never need them.
_FAILED_SOURCE = (
    r"Process exited with code [1-9]|\b[1-9]\d* (?:failed|errors?)\b|^FAILED\b|^FAIL\b|^--- FAIL"
    r"|test result: FAILED|npm ERR!|ERR_PNPM|error Command failed|make: \*\*\*|^ERROR:")
_PASSED_SOURCE = (
    r"Process exited with code 0\b|\b\d+ passed\b|^ok\s|^PASS\b|test result: ok|^OK\b"
    r"|congratulations :\)")
_SUMMARY: list = []


def _summary() -> tuple:
    if not _SUMMARY:
        _SUMMARY.extend((re.compile(_FAILED_SOURCE, re.MULTILINE), re.compile(_PASSED_SOURCE, re.MULTILINE)))
    return tuple(_SUMMARY)


_SPLIT = re.compile(r"&&|\|\||[;&|\n]")
_GIT_OPTION_WITH_VALUE = frozenset(("-C", "-c", "--git-dir", "--work-tree", "--namespace"))


def is_test_run(command: str, extra: tuple = ()) -> bool:
    """Whether a Bash command runs tests: a built-in runner at the start of one of its
    parts, or one of `extra` (compiled `[record] test_patterns`) anywhere in it. Every
    built-in runner's words hold "test", "tox" or "check": other commands cost three
    substring tests (no regex is compiled for them: the hook runs this on every call)."""
    if ("test" in command or "tox" in command or "check" in command) and any(
            _runs_tests(part.split()) for part in _PARTS.split(command)):
        return True
    return any(pattern.search(command) for pattern in extra)


def _runs_tests(words: list[str]) -> bool:
    i, n = 0, len(words)
    while i < n:  # VAR=value, sudo, time, timeout 60, uv run, pnpm exec, ...
        word, base = words[i], words[i].rsplit("/", 1)[-1]
        if "=" in word and word.split("=", 1)[0].isidentifier():
            i += 1
            continue
        if base in _WRAPPERS:
            i += 1
        elif (base in _RUN_WRAPPERS and words[i + 1:i + 2] == ["run"]
              or base == "pnpm" and words[i + 1:i + 2] == ["exec"]):
            i += 2
        elif base == "timeout":
            i += 1
            while i < n and words[i].startswith("-"):
                i += 1
            i += 1  # the duration
            continue
        else:
            break
        while i < n and words[i].startswith("-"):
            i += 1
    if i >= n:
        return False
    base, args = words[i].rsplit("/", 1)[-1], words[i + 1:]
    if base in ("pytest", "py.test", "tox"):
        return True
    if base == "python" or base.startswith("python") and base[6:].replace(".", "").isdigit():
        while args and args[0].startswith("-") and args[0] != "-m":
            args = args[1:]
        return args[:2] == ["-m", "pytest"]
    if base in _NODE:
        if args[:1] == ["run"]:
            args = args[1:]
        return bool(args) and (args[0] == "test" or args[0].startswith("test:"))
    if base == "go":
        return args[:1] == ["test"]
    if base == "cargo":
        if args[:1] and args[0].startswith("+"):
            args = args[1:]  # cargo +nightly test
        return args[:1] == ["test"] or args[:2] == ["nextest", "run"]
    if base == "make":
        return any(a in ("test", "check") for a in args)
    return False


def revert_kind(command: str) -> str:
    """The git command by which `command` throws work away ("git reset --hard", ...),
    or "" when it does not."""
    if "git" not in command:
        return ""
    for part in _SPLIT.split(command):
        words = part.split()
        while words and "=" in words[0] and not words[0].startswith("-"):
            words = words[1:]  # VAR=value prefixes
        if not words or words[0].rsplit("/", 1)[-1] != "git":
            continue
        i = 1
        while i < len(words) and words[i].startswith("-"):
            i += 2 if words[i] in _GIT_OPTION_WITH_VALUE else 1
        if i >= len(words):
            continue
        sub, rest = words[i], words[i + 1:]
        if sub == "revert" and not {"--abort", "--quit", "--continue", "--skip"} & set(rest):
            return "git revert"
        if sub == "reset" and "--hard" in rest:
            return "git reset --hard"
        if sub == "checkout" and ("--" in rest or "." in rest):
            return "git checkout " + ("-- …" if "--" in rest else ".")
        if sub == "restore" and rest:
            staged = "--staged" in rest or "-S" in rest
            worktree = "--worktree" in rest or "-W" in rest
            if worktree or not staged:
                return "git restore"
        if sub == "clean" and any(w.startswith("-") and not w.startswith("--") and "f" in w
                                  or w == "--force" for w in rest):
            return "git clean -f"
    return ""


def outcome(agent: str, event: str, data: dict) -> str | None:
    """"passed", "failed" or "unknown" for a finished Bash call; None when it is no
    result at all (interrupted)."""
    if event == "PostToolUseFailure":
        return None if data.get("is_interrupt") is True else "failed"
    response = data.get("tool_response")
    text = ""
    if isinstance(response, dict):
        if response.get("interrupted") is True:
            return None
        for key in ("exit_code", "exitCode", "returncode", "exit_status"):
            code = response.get(key)
            if isinstance(code, int) and not isinstance(code, bool):
                return "passed" if code == 0 else "failed"
        if agent == "claude":
            return "passed"  # Claude Code sends PostToolUseFailure for a non-zero exit
        text = "\n".join(str(response.get(k) or "") for k in ("output", "stdout", "stderr"))
    elif isinstance(response, str):
        if agent == "claude":
            return "passed"
        text = response
    tail = text[-20000:]  # the runner's summary is at the end
    failed, passed = _summary()
    if failed.search(tail):
        return "failed"
    if passed.search(tail):
        return "passed"
    return "unknown"


def _ensure(conn: sqlite3.Connection, agent_id: int) -> None:
    conn.execute("INSERT OR IGNORE INTO agent_record (agent_id) VALUES (?)", (agent_id,))


def _pushed(recent: str, item: dict) -> str:
    try:
        items = json.loads(recent)
    except ValueError:
        items = []
    if not isinstance(items, list):
        items = []
    return json.dumps([item, *items][:RECENT], ensure_ascii=False)


def note_test(conn: sqlite3.Connection, agent_id: int, *, command: str, result: str, now: float) -> None:
    """Count one test run (inside the caller's transaction)."""
    _ensure(conn, agent_id)
    recent = conn.execute("SELECT recent_tests FROM agent_record WHERE agent_id = ?",
                          (agent_id,)).fetchone()[0]
    known = {"passed": 1, "failed": 0}.get(result)
    conn.execute(
        """UPDATE agent_record SET tests_passed = tests_passed + ?, tests_failed = tests_failed + ?,
               tests_unknown = tests_unknown + ?, last_test_at = ?,
               last_test_passed = coalesce(?, last_test_passed), recent_tests = ?, updated_at = ?
           WHERE agent_id = ?""",
        (result == "passed", result == "failed", known is None, now, known,
         _pushed(recent, {"at": now, "outcome": result, "command": command[:200]}), now, agent_id))


def note_revert(conn: sqlite3.Connection, agent_id: int, *, command: str, kind: str, now: float) -> None:
    """Count one revert (inside the caller's transaction)."""
    _ensure(conn, agent_id)
    recent = conn.execute("SELECT recent_reverts FROM agent_record WHERE agent_id = ?",
                          (agent_id,)).fetchone()[0]
    conn.execute(
        "UPDATE agent_record SET reverts = reverts + 1, last_revert_at = ?, recent_reverts = ?, "
        "updated_at = ? WHERE agent_id = ?",
        (now, _pushed(recent, {"at": now, "kind": kind, "command": command[:200]}), now, agent_id))


def note_denied(conn: sqlite3.Connection, agent_id: int, *, rule: str, now: float) -> None:
    """Count one policy denial for the agent and the rule (inside the caller's
    transaction); it ends the rule's streak."""
    _ensure(conn, agent_id)
    conn.execute("UPDATE agent_record SET denied = denied + 1, updated_at = ? WHERE agent_id = ?",
                 (now, agent_id))
    conn.execute(
        """INSERT INTO agent_rule_record (agent_id, rule, denied, streak, last_break, last_break_at, last_at)
           VALUES (?, ?, 1, 0, 'denied', ?, ?)
           ON CONFLICT (agent_id, rule) DO UPDATE SET denied = denied + 1, streak = 0,
               last_break = 'denied', last_break_at = excluded.last_break_at, last_at = excluded.last_at""",
        (agent_id, rule, now, now))
