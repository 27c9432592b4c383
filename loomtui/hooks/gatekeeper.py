"""The gatekeeper: one flow for every action LoomTUI supervises.

    classify  the pod's policy (and the budgets) say allow, pass, deny or gate
    hold      a gated action goes into the inbox (`create_gate`), the agent shows as waiting
    wait      poll the gate until a supervisor decides it, it expires, or the wait is interrupted
    answer    a `Verdict`: allowed only by an approval of exactly this content, on record

`gatekeep` runs the whole flow; `hold` is its second half. Both callers use it:
`loomtui hook claude|codex` (hooks/dispatch.py, which the simulator drives too)
and `loomtui gate -- CMD` (commands/gate.py). Each turns the Verdict into its
own answer: the hook into the agent's JSON (hooks/protocol.py), `gate` into an
exit status. Nothing here knows an agent's wire format.

Imports stay lean (this runs inside the hook): the policy and the store's
gate and audit modules are imported when a decision is due.
"""

from __future__ import annotations

import os
import sqlite3
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from loomtui.hooks.protocol import GATE_HOOK_TIMEOUT
from loomtui.store.agents import record_event

DEFAULT_GATE_SECONDS = 600.0  # always shorter than the hook timeout `loomtui init` writes
# How often a waiting hook looks for a decision. 100 ms keeps the approval round
# trip well under its 250 ms target, and with 50 hooks waiting on two cores it
# halves their wake-ups compared with 50 ms (bench/fleet.py --waiting-hooks).
WAIT_INTERVAL = 0.1
# A hook that times out lets the action through, so no gate may wait that long:
# expiry is capped a minute short of the hook timeout, whatever a policy rule asks for.
MAX_GATE_SECONDS = GATE_HOOK_TIMEOUT - 60


# Action and Verdict are plain classes: a NamedTuple class costs ~0.2 ms to create
# (namedtuple evals its __new__), paid by every hook call at import (measured).


class Action:
    """One action an agent asks to take, as the gatekeeper sees it."""

    __slots__ = ("agent_id", "tool", "tool_input", "summary", "cwd", "repo", "agent_name")

    def __init__(self, *, agent_id: int, tool: str, tool_input: Mapping[str, Any], summary: str,
                 cwd: str | None, repo: str | None, agent_name: str | None) -> None:
        self.agent_id = agent_id
        self.tool = tool
        self.tool_input = tool_input
        self.summary = summary  # one line for people (the inbox, the timeline)
        self.cwd = cwd
        self.repo = repo
        self.agent_name = agent_name  # policy rules may name agents


class Verdict:
    """The gatekeeper's answer. `action` is "allow", "pass" (the agent's own
    permission flow decides) or "deny"; `by` is "policy" (then `rule` and the
    rule's `reason`) or "supervisor" (a gate was held: `reason` names who decided
    and why, or why nobody could)."""

    __slots__ = ("action", "by", "reason", "rule")

    def __init__(self, action: str, by: str, reason: str, rule: str = "") -> None:
        self.action = action
        self.by = by
        self.reason = reason
        self.rule = rule

    def __repr__(self) -> str:
        return f"Verdict({self.action!r}, by={self.by!r}, reason={self.reason!r}, rule={self.rule!r})"


def gatekeep(conn: sqlite3.Connection, pod: Path, action: Action, *, asking: bool = False,
             clock: Callable[[], float] = time.time, sleep: Callable[[float], None] = time.sleep,
             payload: Mapping[str, Any] | None = None,
             governance: tuple[str, str, str] | None = None, under_agent: bool = True,
             check_budgets: bool = True, record_policy_as: str | None = "hook",
             caller_pid: int | None = None, environ: Mapping[str, str] | None = None) -> Verdict:
    """Classify `action`, then answer at once or hold it for a supervisor.

    `asking`: the agent is about to ask its own person (PermissionRequest), so what
    the policy would allow or pass goes to the inbox instead. `payload` is kept on
    the events written; `governance` is the agent's (permission mode, sandbox,
    hooks), shown on its gate. `check_budgets` and `record_policy_as` (the audit
    actor of the policy loaded, or None) are on for the hook; `loomtui gate` has
    never checked budgets nor recorded the policy it loaded. `caller_pid` and
    `environ` are the waiting process's (default: this one's), for the pod service
    answering a hook client.

    Raises HookInterrupted (the gate is cancelled first) and store errors: the
    caller denies."""
    from loomtui.policy import classify, load_policy, protection_context

    policy = load_policy(pod)  # read on every deciding call: no derived file is trusted
    if record_policy_as is not None:
        from loomtui.store.audit import record_policy

        record_policy(conn, policy_hash=policy.hash, source=policy.source, actor=record_policy_as,
                      now=clock())
    decision = classify(policy, action.tool, action.tool_input, cwd=action.cwd, repo=action.repo,
                        agent=action.agent_name, caller_pid=caller_pid,
                        **protection_context(pod, os.environ if environ is None else environ))

    def note(kind: str, summary: str, also=None) -> None:
        record_event(conn, action.agent_id, kind=kind, now=clock(), tool=action.tool, summary=summary,
                     payload=payload, status="working", status_reason="", also=also)

    if decision.action == "deny":
        from loomtui.store.recorder import note_denied

        now = clock()  # the agent's record counts the denial with its event (one transaction)
        note("denied", f"{action.summary} (policy: {decision.reason})",
             also=lambda c: note_denied(c, action.agent_id, rule=decision.rule, now=now))
        return Verdict("deny", "policy", decision.reason, decision.rule)
    rule, risk, why, summary = decision.rule, decision.risk, decision.reason, action.summary
    over = (_over_budget(conn, action.agent_id, action.repo, clock())
            if check_budgets and decision.action != "gate" else None)
    if over is not None:
        # Budgets are enforced: past 100 % every call waits for a supervisor, who
        # approves it alone or raises the budget (then calls flow again).
        rule, risk = f"budget:{over.scope}/{over.period}", "budget"
        why = f"{over.describe()}; approve this call or raise the budget"
        summary = f"{over.describe()} · {summary}"  # the inbox shows why it waits
    elif decision.action != "gate":
        if not asking:
            note("tool", action.summary)
            return Verdict(decision.action, "policy", decision.reason, rule)
        # The agent would ask in its own terminal; the inbox asks instead.
        rule, risk, why = "permission-request", "medium", f"{action.tool} asks for permission"
    if over is None and risk != "critical" and not rule.startswith(("protect-", "budget:")):
        granted = _granted(conn, action, rule, clock())
        if granted is not None:
            note("granted", f"{action.summary} (grant {granted.id}: {granted.pattern})")
            return Verdict("allow", "grant", _grant_reason(granted, clock()), rule)
    note_text = ""
    if governance is not None:
        from loomtui.hooks.governance import governance_note

        note_text = governance_note(*governance, action.tool_input)
    ok, reason = hold(conn, action.agent_id, tool=action.tool, tool_input=action.tool_input,
                      summary=summary, rule=rule, risk=risk, why=why,
                      expires_after=decision.expires_after, clock=clock, sleep=sleep, payload=payload,
                      governance=note_text, under_agent=under_agent, caller_pid=caller_pid,
                      on_held=(lambda: _kick(pod, environ)) if under_agent and caller_pid is None else None)
    if ok and over is not None and decision.action == "pass" and not asking:
        from loomtui.store.budgets import released_by_a_change

        if released_by_a_change(reason):
            # A budget change releases its gates without anyone looking at their calls:
            # it approves the spending, not the call. One the policy leaves to the agent's
            # own permissions goes there now, as it would have under the budget (Claude
            # Code's prompt, and its PermissionRequest gate in the inbox, still ask). A
            # person approving this one gate saw the call: allow.
            return Verdict("pass", "supervisor", reason, rule)
    return Verdict("allow" if ok else "deny", "supervisor", reason, rule)


def _granted(conn: sqlite3.Connection, action: Action, rule: str, now: float):
    """The grant (loomtui/store/grants.py) that lets this call through without a person,
    used (counted, audited), or None. One indexed read when no grant covers the agent."""
    from loomtui.store.grants import matching_grant, use_grant

    if not _in_worktree(action):
        return None
    # The agent's repository as its row says now: the hook has just updated it from this
    # call's directory (a `cd` into another repository moves it; one without git does not).
    row = conn.execute("SELECT repo FROM agents WHERE id = ?", (action.agent_id,)).fetchone()
    grant = matching_grant(conn, agent_id=action.agent_id, repo=_own_repo(action), rule=rule, tool=action.tool,
                           tool_input=action.tool_input, now=now, agent_repo=row[0] if row else None)
    if grant is not None and not use_grant(conn, grant, agent_id=action.agent_id, summary=action.summary, now=now):
        return None  # revoked since it was read: held for a person
    return grant


def _own_repo(action: Action) -> str | None:
    """The repository whose grants (scope repo) may cover this call: `action.repo`, read
    from the `.git` files of the agent's directory, only when git's own links agree. A
    linked worktree's `.git` file is the agent's to write; the repository's
    `.git/worktrees/NAME/gitdir`, pointing back at it, is not (outside its sandbox). An
    agent elsewhere that wrote a `.git` file naming the granted repository took that
    repository's grants (red team, issue 14). None: only agent grants."""
    if not action.repo or not action.cwd:
        return None
    from loomtui.places import _gitdir_of, locate

    worktree = locate(action.cwd).worktree
    if worktree is None:
        return None
    try:
        dotgit = Path(worktree) / ".git"
        if dotgit.is_dir():
            return action.repo if os.path.realpath(worktree) == os.path.realpath(action.repo) else None
        gitdir = _gitdir_of(dotgit)
        if gitdir is None or os.path.realpath(gitdir.parent) != os.path.realpath(
                Path(action.repo) / ".git" / "worktrees"):
            return None
        back = (gitdir / "gitdir").read_text(encoding="utf-8").strip()
    except (OSError, UnicodeError):
        return None
    return action.repo if os.path.realpath(back) == os.path.realpath(dotgit) else None


def _in_worktree(action: Action) -> bool:
    """False for a file tool's call on a file outside the working tree it runs in (`..`
    and symlinks resolved): no grant covers it. Edit and Write are the agent's own tools,
    outside its OS sandbox, and `Edit *.py` granted from an edit of src/cart.py is about
    the agent's files, not a sitecustomize.py in the user's site-packages, which every
    Python the supervisor starts would run (red team, issue 14)."""
    from loomtui.policy.shapes import FILE_KEYS

    path = next((action.tool_input[key] for key in FILE_KEYS if isinstance(action.tool_input.get(key), str)), None)
    if path is None:
        return True
    if not action.cwd:
        return False
    from loomtui.places import locate

    root = os.path.realpath(locate(action.cwd).worktree or action.cwd)
    full = os.path.realpath(os.path.join(action.cwd, path))
    return full.startswith(root.rstrip("/") + "/")


def _grant_reason(grant, now: float) -> str:
    """"Allowed by LoomTUI grant 7 (git push origin *, by alice until 14:05Z: own branch)"."""
    from loomtui.store.grants import until

    return (f"Allowed by LoomTUI grant {grant.id} ({grant.pattern}, by {grant.granter} "
            f"until {until(grant.expires_at, now)}: {grant.reason})")


def _kick(pod: Path, environ: Mapping[str, str] | None) -> None:
    from loomtui.notify import kick

    kick(pod, environ)


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
         under_agent: bool = True, caller_pid: int | None = None,
         on_held: Callable[[], None] | None = None) -> tuple[bool, str]:
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

    if under_agent:  # the waiting process (a hook, or the client the pod service answers)
        pid = os.getpid() if caller_pid is None else caller_pid
        waiter, above = procs.Proc(pid, procs.start_time(pid)), procs.agent_above(pid)
    else:  # a simulated agent in the console's own process: the waiter is the console
        waiter, above = procs.Proc(os.getpid(), None), None
    gate = create_gate(conn, agent_id=agent_id, tool=tool, action=dict(tool_input), summary=summary,
                       rule=rule, risk=risk, now=now, expires_at=expires_at, waiter_pid=waiter.pid,
                       waiter_started=waiter.started, waiter_host=procs.host(),
                       agent_pid=above.pid if above else None,
                       agent_started=above.started if above else None, governance=governance)
    try:
        # Inside the try: a signal that lands while the gate's event is written (the
        # gate is in the inbox already) must cancel it too.
        note("gate", f"{summary} (gate {gate.id}, {risk}: {why})", "waiting", f"approval: {summary}")
        if on_held is not None:  # the direct path, no pod service: a sender for [notify]
            on_held()
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
