"""`loomtui hook claude|codex`: the hook protocol of Claude Code (and Codex's
compatible hooks), one JSON document on stdin per call.

Every event upserts the agent and appends to its timeline; the agent's status
follows (waiting on a permission prompt or a gate, idle on Stop, done on
SessionEnd). PreToolUse applies the pod's policy; a `gate` waits for a
supervisor's decision; PermissionRequest (the agent's own prompt) goes to the
inbox too, so nobody has to watch twenty terminals.

Fail closed. For the events that decide an action (PreToolUse,
PermissionRequest), bad input, a missing, locked or corrupt store, an internal
error, expiry or a signal all answer **deny** with a reason: deny JSON with
exit 0, or exit 2 with the reason on stderr when the event is unknown. Never
exit 1 there (Claude Code lets exit 1 through) and never allow by accident.
Other events are records: a failure there is reported on stderr with exit 0,
so a broken store never blocks an agent's Stop or SessionEnd.

The answers differ by agent (formats reference, sections 1 and 8):

| outcome  | Claude PreToolUse | Codex PreToolUse | PermissionRequest (both) |
|----------|-------------------|------------------|--------------------------|
| allow    | permissionDecision allow | nothing (Codex takes no allow) | behavior allow |
| pass     | nothing           | nothing          | nothing (the agent asks) |
| deny     | permissionDecision deny + reason | same | behavior deny + message |

Imports stay lean: stdlib, the store's sync path and the policy. No textual,
no gitpython.
"""

from __future__ import annotations

import json
import os
import select
import signal
import sqlite3
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, NamedTuple

from loomtui.places import locate
from loomtui.store.agents import one_line, record_event, upsert_agent
from loomtui.store.db import StoreError, connect, db_path, describe_error

DEFAULT_GATE_SECONDS = 600.0  # always shorter than the hook timeout `loomtui init` writes
# How often a waiting hook looks for a decision. 100 ms keeps the approval round
# trip well under its 250 ms target, and with 50 hooks waiting on two cores it
# halves their wake-ups compared with 50 ms (bench/fleet.py --waiting-hooks).
WAIT_INTERVAL = 0.1
# The hook timeout `loomtui init` writes for the deciding events. A hook that
# times out lets the action through, so no gate may wait that long: expiry is
# capped a minute short of it, whatever a policy rule asks for.
GATE_HOOK_TIMEOUT = 1800
MAX_GATE_SECONDS = GATE_HOOK_TIMEOUT - 60
DECIDING_EVENTS = ("PreToolUse", "PermissionRequest")


class Answer(NamedTuple):
    """What the hook process prints and how it exits."""

    exit_code: int = 0
    stdout: str = ""
    stderr: str = ""


class HookInterrupted(Exception):
    """A signal arrived while the hook waited for a supervisor."""


class BadInput(Exception):
    """The hook's stdin is not a hook event we can trust. `event` is its
    hook_event_name when that much could be read, so the answer fits it."""

    def __init__(self, message: str, event: str = "?") -> None:
        super().__init__(message)
        self.event = event


# -- answers ------------------------------------------------------------------


def deny(event: str, reason: str) -> Answer:
    if event == "PermissionRequest":
        body = {"hookEventName": event, "decision": {"behavior": "deny", "message": reason}}
        return Answer(0, json.dumps({"hookSpecificOutput": body}))
    if event == "PreToolUse":
        body = {"hookEventName": event, "permissionDecision": "deny",
                "permissionDecisionReason": reason}
        return Answer(0, json.dumps({"hookSpecificOutput": body}))
    # An event we could not even read: exit 2 is "blocking" for every event
    # that can block, and the reason reaches the agent on stderr.
    return Answer(2, "", f"LoomTUI: {reason}")


def allow(event: str, agent: str, reason: str) -> Answer:
    if event == "PermissionRequest":
        body = {"hookEventName": event, "decision": {"behavior": "allow"}}
        return Answer(0, json.dumps({"hookSpecificOutput": body}))
    if agent == "codex":
        return Answer()  # Codex reports an explicit allow as a failed hook: say nothing
    body = {"hookEventName": event, "permissionDecision": "allow",
            "permissionDecisionReason": reason}
    return Answer(0, json.dumps({"hookSpecificOutput": body}))


# -- reading the event --------------------------------------------------------


def parse(raw: bytes) -> dict[str, Any]:
    """The hook JSON, or BadInput with a reason a person can act on."""
    if not raw.strip():
        raise BadInput("empty hook input (expected one JSON object on stdin)")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BadInput(f"hook input is not valid UTF-8 (byte {exc.start})") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise BadInput(f"hook input is not valid JSON ({exc.msg} at line {exc.lineno} "
                       f"column {exc.colno})") from None
    except (ValueError, RecursionError) as exc:  # absurd nesting or an integer too long to read
        raise BadInput(f"hook input cannot be read as JSON ({type(exc).__name__})") from None
    if not isinstance(data, dict):
        raise BadInput("hook input is not a JSON object")
    event = data.get("hook_event_name")
    if not isinstance(event, str) or not event:
        raise BadInput("hook input has no hook_event_name")
    if event in DECIDING_EVENTS:
        if not isinstance(data.get("tool_name"), str) or not data["tool_name"]:
            raise BadInput(f"{event} input has no tool_name", event)
        if not isinstance(data.get("tool_input", {}), dict):
            raise BadInput(f"{event} input has a tool_input that is not an object", event)
    return data


def summarize(tool: str, tool_input: Mapping[str, Any], cwd: str | None) -> str:
    """One line for people, without the tool's name (it is recorded beside it):
    the command, the file (relative to the agent's directory), the search, or
    the tool's input as compact JSON."""
    if tool == "Bash" and isinstance(tool_input.get("command"), str):
        return one_line(tool_input["command"])
    path = tool_input.get("file_path") or tool_input.get("notebook_path")
    if isinstance(path, str):
        if cwd and path.startswith(cwd.rstrip("/") + "/"):
            path = path[len(cwd.rstrip("/")) + 1:]
        return one_line(path)
    for key in ("pattern", "url", "query", "description", "prompt"):
        if isinstance(tool_input.get(key), str):
            where = tool_input.get("path")
            return one_line(tool_input[key] + (f" in {where}" if isinstance(where, str) else ""))
    return one_line(json.dumps(tool_input, ensure_ascii=False, sort_keys=True) if tool_input else "")


# -- the hook ----------------------------------------------------------------


class Hook:
    """One hook call. `run()` never raises.

    `agent` ("claude" or "codex") shapes the answers; `pod` is the pod directory."""

    def __init__(self, agent: str, pod: Path, clock: Callable[[], float] = time.time,
                 sleep: Callable[[float], None] = time.sleep, simulated: bool = False) -> None:
        self.agent = agent
        self.pod = pod
        self.clock = clock
        self.sleep = sleep
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
            return self._failed(event, f"the LoomTUI hook was interrupted ({exc})")
        except StoreError as exc:
            return self._failed(event, f"the pod store cannot be used: {exc}")
        except sqlite3.Error as exc:
            return self._failed(event, describe_error(db_path(self.pod), exc))
        except Exception as exc:  # fail closed on anything unforeseen
            return self._failed(event, f"internal error in the LoomTUI hook: {type(exc).__name__}: {exc}")

    def _failed(self, event: str, reason: str) -> Answer:
        """Deciding events (and events we could not identify) are denied; records
        are reported without blocking the agent."""
        if event in DECIDING_EVENTS or event == "?":
            return deny(event, f"{reason}; denied to be safe")
        return Answer(0, "", f"LoomTUI hook ({event}): {reason}")

    def _handle(self, event: str, data: dict[str, Any]) -> Answer:
        conn = connect(db_path(self.pod), create=False)
        try:
            return self._dispatch(conn, event, data)
        finally:
            conn.close()

    def _dispatch(self, conn: sqlite3.Connection, event: str, data: dict[str, Any]) -> Answer:
        now = self.clock()
        cwd = data.get("cwd") if isinstance(data.get("cwd"), str) else None
        place = locate(cwd)
        # Without a session id every call would make a new agent: key it on the
        # directory instead, so one sessionless caller stays one row.
        session = str(data.get("session_id") or "") or f"no-session:{cwd or '?'}"
        agent_id = upsert_agent(
            conn, kind=self.agent, now=now, session_id=session,
            cwd=cwd, repo=place.repo, worktree=place.worktree, branch=place.branch,
            model=data.get("model") if isinstance(data.get("model"), str) else None,
            transcript_path=data.get("transcript_path") if isinstance(data.get("transcript_path"), str) else None,
        )
        tool = data.get("tool_name") if isinstance(data.get("tool_name"), str) else ""
        tool_input = data.get("tool_input") if isinstance(data.get("tool_input"), dict) else {}
        payload = _payload(data)
        governance = self._governance(conn, agent_id, event, data, cwd)

        def note(kind: str, summary: str = "", status: str | None = None, reason: str | None = None,
                 with_tool: str = "") -> None:
            record_event(conn, agent_id, kind=kind, now=self.clock(), tool=with_tool, summary=summary,
                         payload=payload, status=status, status_reason=reason)

        if event in DECIDING_EVENTS:
            return self._decide(conn, agent_id, event, data, tool, tool_input, cwd, place.repo, note,
                                governance)
        if event == "PostToolUse":
            note("tool_done", summarize(tool, tool_input, cwd), "working", "", with_tool=tool)
        elif event == "PostToolUseFailure":
            error = str(data.get("error") or "failed").strip().splitlines()
            note("tool_failed", f"{summarize(tool, tool_input, cwd)}: {error[0] if error else 'failed'}",
                 "working", "", with_tool=tool)
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

    def _governance(self, conn: sqlite3.Connection, agent_id: int, event: str, data: dict[str, Any],
                    cwd: str | None) -> tuple[str, str, str]:
        """The agent's (permission_mode, sandbox, hooks), kept current on its row: the
        mode arrives with every event; sandbox and hooks are read from the agent's
        settings files at session start (and once for an agent first seen mid-session)."""
        from loomtui.store.agents import set_governance

        row = conn.execute("SELECT permission_mode, sandbox, hooks FROM agents WHERE id = ?",
                           (agent_id,)).fetchone() or ("", "", "")
        mode = data.get("permission_mode")
        mode = mode if isinstance(mode, str) else None
        sandbox = hooks = None
        if event == "SessionStart" or (row[1] == "" and row[2] == ""):
            from loomtui.hooks.governance import inspect_settings

            sandbox, hooks = inspect_settings(self.agent, cwd, os.environ)
        if (mode is not None and mode != row[0]) or (sandbox, hooks) != (None, None):
            set_governance(conn, agent_id, permission_mode=mode, sandbox=sandbox, hooks=hooks)
        return (mode if mode is not None else row[0], row[1] if sandbox is None else sandbox,
                row[2] if hooks is None else hooks)

    # -- deciding events -----------------------------------------------------

    def _policy(self, conn: sqlite3.Connection):
        from loomtui.policy import load_policy  # stdlib only, imported when a decision is due
        from loomtui.store.audit import record_policy

        policy = load_policy(self.pod)
        record_policy(conn, policy_hash=policy.hash, source=policy.source, actor="hook", now=self.clock())
        return policy

    def _decide(self, conn, agent_id, event, data, tool, tool_input, cwd, repo, note,
                governance: tuple[str, str, str]) -> Answer:
        """PreToolUse and PermissionRequest: classify, then answer, or gate and wait."""
        from loomtui.policy import classify, protection_context

        summary = summarize(tool, tool_input, cwd)
        decision = classify(self._policy(conn), tool, tool_input, cwd=cwd, repo=repo,
                            agent=_agent_name(conn, agent_id), **protection_context(self.pod, os.environ))
        if decision.action == "deny":
            note("denied", f"{summary} (policy: {decision.reason})", "working", "", with_tool=tool)
            return deny(event, f"Denied by LoomTUI policy ({decision.rule}): {decision.reason}")
        rule, risk, why = decision.rule, decision.risk, decision.reason
        over = _over_budget(conn, agent_id, repo, self.clock()) if decision.action != "gate" else None
        if over is not None:
            # Budgets are enforced: past 100 % every call waits for a supervisor, who
            # approves it alone or raises the budget (then calls flow again).
            rule, risk = f"budget:{over.scope}/{over.period}", "budget"
            why = f"{over.describe()}; approve this call or raise the budget"
            summary = f"{over.describe()} · {summary}"  # the inbox shows why it waits
        elif decision.action != "gate":
            if event == "PreToolUse":
                note("tool", summary, "working", "", with_tool=tool)
                if decision.action == "allow":
                    return allow(event, self.agent, f"Allowed by LoomTUI policy ({rule})")
                return Answer()
            # PermissionRequest: the agent would ask in its own terminal; the inbox asks instead.
            rule, risk, why = "permission-request", "medium", f"{tool} asks for permission"
        from loomtui.hooks.governance import governance_note

        payload = _payload(data)
        ok, reason = hold(conn, agent_id, tool=tool, tool_input=tool_input, summary=summary, rule=rule,
                          risk=risk, why=why, expires_after=decision.expires_after, clock=self.clock,
                          sleep=watching_caller(self.sleep), payload=payload,
                          governance=governance_note(*governance, tool_input),
                          under_agent=not self.simulated)
        return allow(event, self.agent, reason) if ok else deny(event, reason)


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
        return Answer(0, "", f"LoomTUI hook (SessionStart): {reason}")
    if not text:
        return Answer()
    body = {"hookEventName": "SessionStart", "additionalContext": text}
    return Answer(0, json.dumps({"hookSpecificOutput": body}))


def _over_budget(conn: sqlite3.Connection, agent_id: int, repo: str | None, now: float):
    """The most-used budget at or over 100 % that applies to this agent, or None. The
    ingester keeps `budget_state` current; checking it costs one indexed read."""
    if conn.execute("SELECT 1 FROM budget_state WHERE fraction >= 1.0 LIMIT 1").fetchone() is None:
        return None
    from loomtui.store.budgets import over_budget

    found = over_budget(conn, agent_id, repo, now)
    return found[0] if found else None


def hold(conn: sqlite3.Connection, agent_id: int, *, tool: str, tool_input: Mapping[str, Any],
         summary: str, rule: str, risk: str, why: str, expires_after: float | None,
         clock: Callable[[], float] = time.time, sleep: Callable[[float], None] = time.sleep,
         payload: Mapping[str, Any] | None = None, governance: str = "",
         under_agent: bool = True) -> tuple[bool, str]:
    """Put the action in the inbox and wait for a supervisor: (allowed, reason).

    Allowed only by an approval of exactly this content before expiry; a
    rejection, expiry, cancellation or a mismatched approval is a deny whose
    reason names who decided and why. HookInterrupted cancels the gate and is
    re-raised; store errors propagate (the caller denies)."""
    from loomtui.store.gates import approval_matches, create_gate, wait_for_decision

    body = dict(payload) if payload else {"tool_input": dict(tool_input)}

    def note(kind: str, text: str, status: str, reason: str = "") -> None:
        # An agent whose session ended while we waited stays done.
        row = conn.execute("SELECT status FROM agents WHERE id = ?", (agent_id,)).fetchone()
        keep = row is not None and row[0] == "done"
        record_event(conn, agent_id, kind=kind, now=clock(), tool=tool, summary=text, payload=body,
                     status=None if keep else status, status_reason=None if keep else reason)

    now = clock()
    expires_at = now + min(expires_after or DEFAULT_GATE_SECONDS, MAX_GATE_SECONDS)
    from loomtui.store import procs

    if under_agent:
        waiter, above = procs.me(), procs.agent_above()
    else:  # a simulated agent in the console's own process: the waiter is the console
        waiter, above = procs.Proc(os.getpid(), None), None
    gate = create_gate(conn, agent_id=agent_id, tool=tool, action=dict(tool_input), summary=summary,
                       rule=rule, risk=risk, now=now, expires_at=expires_at, waiter_pid=waiter.pid,
                       waiter_started=waiter.started, waiter_host=procs.host(),
                       agent_pid=above.pid if above else None,
                       agent_started=above.started if above else None, governance=governance)
    note("gate", f"{summary} (gate {gate.id}, {risk}: {why})", "waiting", f"approval: {summary}")
    try:
        final = wait_for_decision(conn, gate.id, deadline=expires_at, interval=WAIT_INTERVAL,
                                  clock=clock, sleep=sleep)
    except BaseException as exc:
        # Interrupted, or the store failed us: the caller denies, and the gate must
        # not stay in the inbox for an action that will never run.
        _cancel_quietly(conn, gate.id, exc, clock, note)
        raise
    from loomtui.store.audit import decision_recorded
    from loomtui.store.gates import who_decided

    who = who_decided(final)
    recorded = final.status == "approved" and decision_recorded(conn, final)
    if recorded and approval_matches(final) and final.approved_hash == gate.content_hash:
        note("approved", f"gate {gate.id} approved by {who}", "working")
        return True, f"Approved by {who}" + (f": {final.reason}" if final.reason else "")
    if final.status == "approved" and not recorded:
        # Approved in the store without the decision's audit entry: not by any
        # LoomTUI decision path (they write both in one transaction).
        reason = (f"Gate {gate.id} shows an approval with no audit entry behind it (written "
                  f"into the store by hand?); denied")
    elif final.status == "approved":
        reason = f"Gate {gate.id}: the approval was for different content; denied"
    elif final.status == "rejected":
        reason = f"Rejected by {who}: {final.reason}"
    elif final.status == "expired":
        reason = f"No supervisor decided gate {gate.id} ({summary}) in time; denied"
    else:
        reason = f"Gate {gate.id} was {final.status}" + (f": {final.reason}" if final.reason else "")
    note("rejected" if final.status == "rejected" else final.status, f"gate {gate.id}: {reason}",
         "working")
    return False, reason


def _cancel_quietly(conn: sqlite3.Connection, gate_id: int, why: BaseException, clock, note) -> None:
    from loomtui.store.gates import cancel

    try:
        if conn.in_transaction:  # the signal may have landed inside a write
            conn.execute("ROLLBACK")
        cancel(conn, gate_id, actor="hook", reason=f"waiting hook stopped ({why})", now=clock())
        note("gate_cancelled", f"gate {gate_id} cancelled: {why}", "working")
    except Exception:  # best effort: the store may be what failed
        pass


def caller_gone() -> bool:
    """True when whoever reads our answer has gone: stdout or stderr hung up.
    Claude Code runs a hook in its own session, so when the agent dies the
    hook gets no signal; its output pipe or socket hanging up is the sign."""
    poller = select.poll()
    for fd in (1, 2):
        try:
            poller.register(fd, select.POLLHUP | select.POLLERR)
        except (OSError, ValueError):
            continue
    try:
        return any(mask & (select.POLLHUP | select.POLLERR | select.POLLNVAL)
                   for _fd, mask in poller.poll(0))
    except OSError:
        return False


def watching_caller(sleep: Callable[[float], None]) -> Callable[[float], None]:
    """`sleep` for a waiting hook: between naps, give up if the caller is gone."""

    def nap(seconds: float) -> None:
        if caller_gone():
            raise HookInterrupted("the agent exited while waiting")
        sleep(seconds)

    return nap


def _payload(data: Mapping[str, Any]) -> dict[str, Any]:
    """What an event keeps of the hook input (the transcript path is on the agent)."""
    return {k: v for k, v in data.items() if k != "transcript_path"}


def _agent_name(conn: sqlite3.Connection, agent_id: int) -> str | None:
    row = conn.execute("SELECT name FROM agents WHERE id = ?", (agent_id,)).fetchone()
    return row[0] if row else None


class interrupts_raise:
    """During a hook call SIGTERM / SIGINT / SIGHUP raise HookInterrupted, so a
    waiting gate is cancelled and the agent gets a deny, instead of the process
    vanishing with a signal status (which Claude Code would let through)."""

    SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)

    def __enter__(self) -> None:
        self._old = {}
        for sig in self.SIGNALS:
            try:
                self._old[sig] = signal.signal(sig, self._raise)
            except ValueError:  # not the main thread (tests): nothing to install
                pass

    def __exit__(self, *exc_info) -> None:
        for sig, handler in self._old.items():
            signal.signal(sig, handler)

    @staticmethod
    def _raise(signum, _frame) -> None:
        raise HookInterrupted(signal.Signals(signum).name)
