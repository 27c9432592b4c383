"""`loomtui hook claude|codex`: one hook event in, one answer out. The same
dispatch serves Claude Code and Codex (Codex's hooks are Claude-compatible;
`agent` only shapes the answers, hooks/protocol.py), and the simulator drives
it with the same JSON.

Every event upserts the agent and appends to its timeline; the agent's status
follows (waiting on a permission prompt or a gate, idle on Stop, done on
SessionEnd). PreToolUse and PermissionRequest go to the gatekeeper
(hooks/gatekeeper.py: classify, hold, wait, answer); a PermissionRequest (the
agent's own prompt) goes to the inbox too, so nobody has to watch twenty
terminals. SessionStart answers with the pod's shared memory.

`Hook.run` never raises and fails closed (the rules are in hooks/protocol.py).
Imports stay lean: stdlib, the store's sync path and the policy. No textual,
no gitpython.
"""

from __future__ import annotations

import os
import sqlite3
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from loomtui.hooks.protocol import (
    DECIDING_EVENTS,
    Answer,
    BadInput,
    additional_context,
    allow,
    deny,
    event_payload,
    failed,
    parse,
    report,
    summarize,
    text_field,
    tool_call,
)
from loomtui.hooks.signals import HookInterrupted, interrupts_raise, watching_caller
from loomtui.places import locate
from loomtui.store.agents import one_line, record_event, set_tmux, tmux_place, upsert_agent
from loomtui.store.db import StoreError, connect, db_path, describe_error


class Caller:
    """The process a hook call answers: by default this one (the direct path). The pod
    service answers for a hook client over its socket: then `pid` is the client's (from
    the socket's peer credentials, never from what it says), `environ` the client's
    environment, and `gone` tells when the client hung up. `agents_own` is False when
    `environ` is not the agent's (HTTP hooks: the service's own): it then says nothing
    of where the agent runs (its tmux pane)."""

    __slots__ = ("pid", "environ", "gone", "agents_own")

    def __init__(self, pid: int | None = None, environ: Mapping[str, str] | None = None,
                 gone: Callable[[], bool] | None = None, agents_own: bool = True) -> None:
        self.pid = pid  # None: this process
        self.environ = os.environ if environ is None else environ
        self.gone = gone  # None: this process's stdout or stderr hung up
        self.agents_own = agents_own


class Hook:
    """One hook call. `run()` never raises.

    `agent` ("claude" or "codex") shapes the answers; `pod` is the pod directory."""

    def __init__(self, agent: str, pod: Path, clock: Callable[[], float] = time.time,
                 sleep: Callable[[float], None] = time.sleep, simulated: bool = False,
                 caller: Caller | None = None) -> None:
        self.agent = agent
        self.pod = pod
        self.clock = clock
        self.sleep = sleep
        # Who called: this process (the direct path), or the hook client the pod
        # service answers for (hooks/served.py): its pid, environment and hang-up.
        self.caller = caller if caller is not None else Caller()
        # The demo's agents run in the console's own process: no agent process sits
        # above this call, so none is recorded on its gates (else the console would be
        # refused as deciding from inside the agent's tree).
        self.simulated = simulated

    def run(self, raw: bytes) -> Answer:
        event = "?"
        try:
            with interrupts_raise():
                data = parse(raw)
                event = data["hook_event_name"]
                return self._handle(event, data)
        except BadInput as exc:
            return deny(exc.event if exc.event in DECIDING_EVENTS else "?", str(exc))
        except HookInterrupted as exc:
            return failed(event, f"the LoomTUI hook was interrupted ({exc})")
        except StoreError as exc:
            return failed(event, f"the pod store cannot be used: {exc}")
        except sqlite3.Error as exc:
            return failed(event, describe_error(db_path(self.pod), exc))
        except Exception as exc:  # fail closed on anything unforeseen
            return failed(event, f"internal error in the LoomTUI hook: {type(exc).__name__}: {exc}")

    def _handle(self, event: str, data: dict[str, Any]) -> Answer:
        conn = connect(db_path(self.pod), create=False)
        try:
            return self._dispatch(conn, event, data)
        finally:
            conn.close()

    def _dispatch(self, conn: sqlite3.Connection, event: str, data: dict[str, Any]) -> Answer:
        now = self.clock()
        cwd = text_field(data, "cwd")
        place = locate(cwd)
        # Without a session id every call would make a new agent: key it on the
        # directory instead, so one sessionless caller stays one row.
        session = str(data.get("session_id") or "") or f"no-session:{cwd or '?'}"
        agent_id = upsert_agent(
            conn, kind=self.agent, now=now, session_id=session,
            cwd=cwd, repo=place.repo, worktree=place.worktree, branch=place.branch,
            model=text_field(data, "model"), transcript_path=text_field(data, "transcript_path"),
        )
        # Where the agent runs in tmux; a simulated agent's environment is the console's.
        tmux = tmux_place(self.caller.environ) if self.caller.agents_own and not self.simulated else None
        if tmux is not None:
            set_tmux(conn, agent_id, *tmux)
        tool, tool_input = tool_call(data)
        payload = event_payload(data)
        governance = self._governance(conn, agent_id, event, data, cwd, place)

        def note(kind: str, summary: str = "", status: str | None = None, reason: str | None = None,
                 with_tool: str = "", also: Callable[[sqlite3.Connection], None] | None = None) -> None:
            record_event(conn, agent_id, kind=kind, now=self.clock(), tool=with_tool, summary=summary,
                         payload=payload, status=status, status_reason=reason, also=also)

        if event in DECIDING_EVENTS:
            return self._decide(conn, event, agent_id, tool, tool_input, cwd, place.repo, payload,
                                governance)
        if event in ("PostToolUse", "PostToolUseFailure"):
            write, failed_test = self._recorder(agent_id, event, data, tool, tool_input)
            if event == "PostToolUse":
                note("tool_done", summarize(tool, tool_input, cwd), "working", "", with_tool=tool, also=write)
            else:
                error = str(data.get("error") or "failed").strip().splitlines()
                note("tool_failed", f"{summarize(tool, tool_input, cwd)}: {error[0] if error else 'failed'}",
                     "working", "", with_tool=tool, also=write)
            if failed_test:
                self._flag_grants(conn, agent_id, summarize(tool, tool_input, cwd))
        elif event == "UserPromptSubmit":
            note("prompt", str(data.get("prompt") or ""), "working", "")
        elif event == "SessionStart":
            note("session_start", f"session {data.get('source') or 'started'}", "working", "")
            return session_memory(conn, self.pod, agent_id, self.clock())
        elif event == "Notification":
            kind = data.get("notification_type")
            message = str(data.get("message") or "")
            if kind == "permission_prompt":
                note("notification", message, "waiting", one_line(message))
                self._kick()  # a question: [notify] may send it
            elif kind == "idle_prompt":
                note("notification", message, "idle", "")
            else:
                note("notification", message)
        elif event == "Stop":
            note("stop", str(data.get("last_assistant_message") or "turn finished"), "idle", "")
        elif event == "SubagentStop":
            note("subagent_stop", f"subagent {data.get('agent_type') or ''} finished".replace("  ", " "))
        elif event == "SessionEnd":
            note("session_end", f"session ended ({data.get('reason') or 'exit'})", "done", "")
        else:
            note("event", event)  # formats drift: record what we do not know, never fail on it
        return Answer()

    def _recorder(self, agent_id: int, event: str, data: dict[str, Any], tool: str,
                  tool_input: dict[str, Any]) -> tuple[Callable[[sqlite3.Connection], None] | None, bool]:
        """What a finished Bash call adds to the agent's record (a test run and its
        outcome, a revert), to write with its event (None for every other call), and
        whether it was a failed test run. Cheap: substring tests first, words split only
        for a command that may run tests or git (store/recorder.py)."""
        command = tool_input.get("command") if tool == "Bash" else None
        if not isinstance(command, str) or not command:
            return None, False
        # Every built-in runner and revert names one of these; most calls stop here.
        named = "test" in command or "tox" in command or "check" in command or "git" in command
        extra = () if named else test_patterns(self.pod)
        if not named and not extra:
            return None, False
        from loomtui.store import recorder

        test = recorder.is_test_run(command) or recorder.is_test_run(command, extra or test_patterns(self.pod))
        result = recorder.outcome(self.agent, event, data) if test else None
        revert = recorder.revert_kind(command) if event == "PostToolUse" else ""
        if result is None and not revert:
            return None, False
        now = self.clock()

        def write(conn: sqlite3.Connection) -> None:
            if result is not None:
                recorder.note_test(conn, agent_id, command=command, result=result, now=now)
            if revert:
                recorder.note_revert(conn, agent_id, command=command, kind=revert, now=now)

        return write, result == "failed"

    def _flag_grants(self, conn: sqlite3.Connection, agent_id: int, summary: str) -> None:
        """A failed test run after a grant flags the agent's active grants (all its rules:
        its work did not hold up), for a person to look at again (issue 14)."""
        from loomtui.store.grants import flag_grants

        flag_grants(conn, agent_id=agent_id, rule=None, now=self.clock(),
                    reason=f"a test run failed after the grant: {summary}")

    def _decide(self, conn: sqlite3.Connection, event: str, agent_id: int, tool: str,
                tool_input: dict[str, Any], cwd: str | None, repo: str | None, payload: dict[str, Any],
                governance: tuple[str, str, str]) -> Answer:
        """PreToolUse and PermissionRequest: the gatekeeper decides (waiting for a
        supervisor if it must); the answer takes this agent's shape."""
        # Imported here: the records (half of all hook calls) never need it.
        from loomtui.hooks.gatekeeper import Action, gatekeep

        action = Action(agent_id=agent_id, tool=tool, tool_input=tool_input,
                        summary=summarize(tool, tool_input, cwd), cwd=cwd, repo=repo,
                        agent_name=_agent_name(conn, agent_id))
        verdict = gatekeep(conn, self.pod, action, asking=event == "PermissionRequest", clock=self.clock,
                           sleep=watching_caller(self.sleep, self.caller.gone), payload=payload,
                           governance=governance, under_agent=not self.simulated,
                           caller_pid=self.caller.pid, environ=self.caller.environ)
        if verdict.action == "pass":
            return Answer()
        if verdict.by == "policy":
            if verdict.action == "deny":
                return deny(event, f"Denied by LoomTUI policy ({verdict.rule}): {verdict.reason}")
            return allow(event, self.agent, f"Allowed by LoomTUI policy ({verdict.rule})")
        if verdict.action == "allow":
            return allow(event, self.agent, verdict.reason)
        return deny(event, verdict.reason)

    def _governance(self, conn: sqlite3.Connection, agent_id: int, event: str, data: dict[str, Any],
                    cwd: str | None, place: Any = None) -> tuple[str, str, str]:
        """The agent's (permission_mode, sandbox, hooks), kept current on its row: the
        mode arrives with every event; sandbox and hooks are read from the agent's
        settings files at session start (and once for an agent first seen mid-session).
        Its configuration fingerprint is computed at the same moments, and follows a
        change of mode or model (loomtui/hooks/fingerprint.py)."""
        from loomtui.store.agents import set_governance

        row = conn.execute("SELECT permission_mode, sandbox, hooks, fingerprint FROM agents WHERE id = ?",
                           (agent_id,)).fetchone() or ("", "", "", "{}")
        mode = text_field(data, "permission_mode")
        sandbox = hooks = None
        if event == "SessionStart" or (row[1] == "" and row[2] == ""):
            from loomtui.hooks.governance import inspect_settings

            sandbox, hooks = inspect_settings(self.agent, cwd, self.caller.environ)
        if (mode is not None and mode != row[0]) or (sandbox, hooks) != (None, None):
            # No sender is started for an agent found ungoverned here (SessionStart must
            # stay lean): the pod service sends it, or the next gate's or question's sender.
            set_governance(conn, agent_id, permission_mode=mode, sandbox=sandbox, hooks=hooks)
        if sandbox is not None:
            from loomtui.hooks.fingerprint import session_fingerprint

            session_fingerprint(conn, agent_id, self.agent, data, cwd=cwd,
                                worktree=place.worktree if place else None, repo=place.repo if place else None,
                                environ=self.caller.environ, permission_mode=mode or row[0],
                                sandbox=sandbox, now=self.clock())
        elif row[3] != "{}" and ((mode is not None and mode != row[0]) or text_field(data, "model")):
            from loomtui.store.fingerprint import record

            record(conn, agent_id, {"permission_mode": mode, "model": text_field(data, "model")},
                   actor="hook", now=self.clock())
        return (mode if mode is not None else row[0], row[1] if sandbox is None else sandbox,
                row[2] if hooks is None else hooks)

    def _kick(self) -> None:
        """An event that may notify was recorded: on the direct path, with no pod
        service to send it, start a detached sender (loomtui/notify.py). Never blocks."""
        if self.caller.pid is None and self.caller.agents_own and not self.simulated:
            from loomtui.notify import kick

            kick(self.pod, self.caller.environ)


def session_memory(conn: sqlite3.Connection, pod: Path, agent_id: int, now: float) -> Answer:
    """SessionStart: the pod's memory and status for this agent, as additionalContext
    (the same answer for Claude Code and Codex). Never fails the session: on any error
    nothing is printed on stdout, the reason goes to stderr and the agent's timeline,
    and the exit status is 0."""
    try:
        from loomtui.memory.context import session_budget, session_context

        budget = session_budget(pod)
        text = session_context(conn, agent_id=agent_id, budget_tokens=budget, now=now) if budget > 0 else ""
    except Exception as exc:  # noqa: BLE001 - a memory problem must not stop the agent
        reason = f"shared memory not injected: {type(exc).__name__}: {exc}"
        try:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            record_event(conn, agent_id, kind="memory_error", now=now, summary=reason)
        except Exception:  # noqa: BLE001 - the store may be what failed
            pass
        return report("SessionStart", reason)
    return additional_context(text)


def test_patterns(pod: Path) -> tuple:
    """`[record] test_patterns` from the pod's config, compiled. The common case (the
    key not set) costs one file read and no TOML parser, as memory's session_budget;
    a set key is read through `loomtui.config`, which validates it."""
    override = os.environ.get("LOOM_CONFIG")
    path = Path(override).expanduser() if override else pod / "config.toml"
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return ()
    if "test_patterns" not in text:
        return ()
    from loomtui.config import ConfigError, load_config

    try:
        return load_config(pod).record.test_patterns
    except ConfigError:
        return ()


def _agent_name(conn: sqlite3.Connection, agent_id: int) -> str | None:
    row = conn.execute("SELECT name FROM agents WHERE id = ?", (agent_id,)).fetchone()
    return row[0] if row else None
