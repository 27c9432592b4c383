"""Who may decide: the identity of a decision, and the one check every decision passes.

The decider is the OS account of the deciding process (its effective uid), an
identity no variable can choose. `$LOOM_USER` is only a display name recorded
beside it (`gates.decided_name`, the audit entry's `"as"`) and grants nothing.

`authorize()` is called by every decision path (`loomtui approve|reject`, the
console's approve, reject, claim and budget changes, memory accept, reject, pin,
unpin and retire) and refuses, with a message saying why:

1. a process inside an agent's environment (`CLAUDECODE`, any `CODEX_*` but
   `CODEX_HOME`, `LOOM_SESSION_ID`, `LOOM_AGENT`), or inside an agent's process tree
   (an ancestor is Claude Code's or Codex's own program: `procs.agent_ancestor`);
2. a decision on a gate of the deciding process's own session: the process
   descends from the agent process the gate's hook ran under;
3. an account that is not an approver: `[supervisors] approvers` in the pod's
   `config.toml`, or when that is empty the pod directory's owner, or for a
   shared pod (setgid, group-writable directory) the members of its group.

The first two keep an agent from deciding for itself when it runs as the same
account as its supervisor; they are not a wall against an unsandboxed agent that
scrubs its environment and detaches from its process tree (docs/security.md):
the agent's OS sandbox is. The demo's simulated teammate decides in-process
through the store, recorded as simulated, without passing here.

Stdlib only.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:
    from loomtui.config import Config
    from loomtui.store.gates import Gate

# Variables an agent's shell carries (Claude Code sets CLAUDECODE; Codex CODEX_SANDBOX,
# CODEX_SANDBOX_NETWORK_DISABLED, CODEX_THREAD_ID...; `loomtui gate` LOOM_SESSION_ID).
AGENT_VARIABLES = ("CLAUDECODE", "LOOM_SESSION_ID", "LOOM_AGENT")
CODEX_PREFIX = "CODEX_"
CODEX_NOT_AGENT = frozenset({"CODEX_HOME"})  # where Codex keeps its files: a person may set it


class NotAllowed(Exception):
    """This process may not make this decision; the message says why, for people."""


class Decider(NamedTuple):
    """Who decides: the OS account (the identity recorded and checked) and a display
    name shown beside it. `simulated` marks the demo's scripted teammate."""

    account: str
    display: str
    simulated: bool = False


def account_name(uid: int) -> str:
    """The account name of `uid`, else the uid as text (a uid with no passwd entry)."""
    import pwd

    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)


def current_decider(environ: Mapping[str, str] | None = None) -> Decider:
    """This process as a decider: its effective uid's account, with $LOOM_USER (one
    line, else the account) as the display name."""
    env = os.environ if environ is None else environ
    account = account_name(os.geteuid())
    display = " ".join((env.get("LOOM_USER") or "").split())[:80]
    return Decider(account=account, display=display or account)


def simulated_decider(name: str) -> Decider:
    """The demo's scripted teammate: recorded as `name`, shown as "name (simulated)"."""
    return Decider(account=name, display=f"{name} (simulated)", simulated=True)


def agent_variable(environ: Mapping[str, str] | None = None) -> str | None:
    """The first variable that marks an agent's environment, or None."""
    env = os.environ if environ is None else environ
    for name in AGENT_VARIABLES:
        if name in env:
            return name
    for name in sorted(env):
        if name.startswith(CODEX_PREFIX) and name not in CODEX_NOT_AGENT:
            return name
    return None


# -- who is an approver ------------------------------------------------------------


class Approvers(NamedTuple):
    accounts: frozenset[str]
    source: str   # says where the list comes from, for the refusal message
    remedy: str   # how to be added


def approvers(pod: Path, config: Config) -> Approvers:
    """Who may decide in the pod at `pod`: the configured approvers, else the
    directory's owner, else (shared pod) its group's members."""
    listed, where = _configured(pod, config)
    if listed:
        return Approvers(frozenset(listed), f"the approvers listed in {where} ([supervisors] approvers: "
                         f"{', '.join(listed)})", f"ask one of them to add it to [supervisors] approvers in {where}")
    try:
        st = os.stat(pod)
    except OSError as exc:
        raise NotAllowed(f"cannot tell who may decide: the pod directory {pod} cannot be read "
                         f"({exc.strerror or exc})") from None
    from loomtui.store.db import pod_is_shared

    config_file = pod / "config.toml"
    if pod_is_shared(pod):
        group, members = _group_members(st.st_gid)
        return Approvers(members, f"the members of the pod's group {group}",
                         f"ask an administrator to add it to group {group}, or list it in "
                         f"[supervisors] approvers in {config_file}")
    owner = account_name(st.st_uid)
    return Approvers(frozenset({owner}), f"the pod directory's owner, {owner}",
                     f"the owner can list it in [supervisors] approvers in {config_file}")


def _configured(pod: Path, config: Config) -> tuple[tuple[str, ...], str]:
    """The approvers list and the file it came from. Only the pod's own config.toml
    counts: a config named by $LOOM_CONFIG (an agent can set it) is not asked."""
    own = pod / "config.toml"
    if config.path is None and not os.environ.get("LOOM_CONFIG") or _same_file(config.path, own):
        return tuple(config.supervisors.approvers), str(config.path or own)
    from loomtui.config import ConfigError, load_config_file

    try:
        return tuple(load_config_file(own).supervisors.approvers), str(own)
    except ConfigError as exc:
        raise NotAllowed(f"cannot tell who may decide: {exc}") from None


def _same_file(a: Path | None, b: Path) -> bool:
    if a is None:
        return False
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def _group_members(gid: int) -> tuple[str, frozenset[str]]:
    """A group's name and its members: those listed in it and those whose primary group it is."""
    import grp
    import pwd

    try:
        group = grp.getgrgid(gid)
        name, members = group.gr_name, set(group.gr_mem)
    except KeyError:
        name, members = str(gid), set()
    members.update(p.pw_name for p in pwd.getpwall() if p.pw_gid == gid)
    return name, frozenset(members)


# -- the check ------------------------------------------------------------------------


def authorize(pod: Path, config: Config, decider: Decider, gate: Gate | None = None, *,
              environ: Mapping[str, str] | None = None) -> None:
    """Raise NotAllowed unless `decider`, running as this process, may decide in the
    pod at `pod` (and on `gate`, when given). See the module's docstring."""
    variable = agent_variable(environ)
    if variable is not None:
        raise NotAllowed(f"refused: this process runs inside an agent's environment ({variable} is set); "
                         "a person decides, from a shell outside any agent")
    from loomtui.store import procs

    above = procs.agent_ancestor()
    if above is not None:
        raise NotAllowed(f"refused: this process runs inside an agent ({procs.name(above.pid) or 'agent'}, "
                         f"pid {above.pid}); a person decides, from a shell outside any agent")
    if gate is not None and own_session(gate):
        raise NotAllowed(f"refused: gate {gate.id} belongs to an agent this process runs under; "
                         "nobody decides a gate of their own session")
    allowed = approvers(pod, config)
    if decider.account not in allowed.accounts:
        raise NotAllowed(f"refused: account {decider.account} may not decide in this pod; only "
                         f"{allowed.source} may. To be added, {allowed.remedy}")


def own_session(gate: Gate) -> bool:
    """Does this process run under the agent (or the waiting hook) of `gate`? Matched by
    pid and start time, whatever host name the gate or this process reports."""
    from loomtui.store import procs

    # No host check here: an agent can rename its host in a namespace of its own
    # (unshare -u). A pid with the same start time among our ancestors is the same
    # process whatever the host name says.
    if gate.agent_pid and procs.descends_from(procs.Proc(gate.agent_pid, gate.agent_started)):
        return True
    # A waiter recorded without its start time (older gates) is not matched by pid alone.
    return (bool(gate.waiter_pid) and gate.waiter_started is not None
            and procs.descends_from(procs.Proc(gate.waiter_pid, gate.waiter_started)))
