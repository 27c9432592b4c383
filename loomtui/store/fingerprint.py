"""Each agent's configuration fingerprint, the pod's baseline, and drift (issue 14, item 4).

A fingerprint is a flat JSON object on the agent's row (`agents.fingerprint`), every
value a string:

- `kind`; `cli_version` (Claude Code's from AI_AGENT in its hooks' environment or its
  transcript's `version`, Codex's `cli_version` from its rollout); `model` (a dated id loses its date: claude-sonnet-4-5-20250929 is
  claude-sonnet-4-5); `permission_mode` (from the hook payloads); `sandbox` (as
  hooks/governance.py reads it);
- `hooks`: the events whose LoomTUI hook the agent's settings install, comma-joined
  ("none"; "disabled" when the settings switch hooks off; "unknown" when unreadable);
- `settings_user`, `settings_project`, `settings_local`: a short sha256 of each settings
  file (Claude Code: ~/.claude/settings.json or $CLAUDE_CONFIG_DIR's, the project's
  .claude/settings.json and settings.local.json; Codex: $CODEX_HOME/config.toml and the
  project's .codex/config.toml); `instructions` (CLAUDE.md or AGENTS.md of the worktree),
  `instructions_repo` (of the repository's main tree), `mcp_config` (.mcp.json); for
  each, '' when the file is absent and "unreadable" when it cannot be read;
- `mcp_servers`: the MCP servers those files configure, comma-joined;
- `policy`: the pod policy's hash last recorded in the audit log (not a drift field:
  every call is checked against the pod's current policy, whoever started when);
- `files`: field -> the path it was read from, so that a recompute by the pod (the diff
  watcher saw a file change) reads the same files without the agent's environment.

`cli_version`, `model`, `permission_mode` and `sandbox` may be '' (not known yet): such a
value never drifts and never erases a known one. A field absent from the object was not
computed (an agent seen only in its transcript) and never drifts either.

`record` merges new values in and writes only when something changed. A change to a
value that was known appends `agent.fingerprint` to the audit log with the changed fields
(old and new); the first computation does not, nor does learning a field not known before
(a version the transcript shows after SessionStart): neither is a change of configuration,
and the session's start is on its timeline already.

The baseline is, per agent kind, each field's most common value among the live agents
(a tie: no baseline for that field), unless `[baseline]` in config.toml pins it. Drift is
computed from the agent rows the console reads anyway: no history is scanned.

Stdlib only: the hook imports this.
"""

from __future__ import annotations

import json
import sqlite3
from collections import Counter
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from loomtui.store.db import transaction

if TYPE_CHECKING:  # the hook records fingerprints; only the console and commands need the config
    from loomtui.config import BaselineConfig

AUDIT_ACTION = "agent.fingerprint"
# Fields whose '' means "not known yet" (the others' '' is a known value: no such file).
MAY_BE_UNKNOWN = frozenset({"cli_version", "model", "permission_mode", "sandbox"})
# The files a fingerprint reads, by name: the diff watcher passes their changes on.
CONFIG_NAMES = frozenset({"CLAUDE.md", "AGENTS.md", ".mcp.json", "settings.json", "settings.local.json",
                          "config.toml", "hooks.json"})
VALUE_MAX = 200  # payload values (model, mode) are the agent's to set: keep them short
PATH_MAX = 4096


def parse(text: str | None) -> dict[str, Any]:
    """The stored fingerprint as a dict ({} when none or unreadable)."""
    if not text:
        return {}
    try:
        value = json.loads(text)
    except (TypeError, ValueError, RecursionError):
        return {}
    return value if isinstance(value, dict) else {}


def digest(fingerprint: Mapping[str, Any]) -> str:
    """A short hash of the fingerprint's values (the paths read left out)."""
    import hashlib

    material = json.dumps({k: v for k, v in fingerprint.items() if k != "files"}, sort_keys=True,
                          separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(material.encode("ascii")).hexdigest()[:16]


def normalize_model(model: str) -> str:
    """claude-sonnet-4-5-20250929 -> claude-sonnet-4-5: the hook and the transcript name
    the same model with and without its date."""
    head, _, tail = model.rpartition("-")
    if head and len(tail) == 8 and tail.isascii() and tail.isdigit() and tail.startswith("20"):
        return head
    return model


def _clean(values: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in values.items():
        if key == "files":
            if isinstance(value, Mapping):
                out["files"] = {str(k): str(v)[:PATH_MAX] for k, v in value.items() if isinstance(v, str)}
            continue
        if value is None:
            continue
        text = str(value)[:VALUE_MAX]
        if key == "model":
            text = normalize_model(text)
        if text == "" and key in MAY_BE_UNKNOWN:
            continue  # not known: never erases what is
        out[key] = text
    return out


def known(fingerprint: Mapping[str, Any], field: str) -> bool:
    """Whether the fingerprint has a value for `field` that can be compared."""
    value = fingerprint.get(field)
    return isinstance(value, str) and (value != "" or field not in MAY_BE_UNKNOWN)


def _merge(old: dict[str, Any], values: dict[str, Any]) -> dict[str, Any]:
    new = {**old, **values}
    if "files" in values:
        old_files = old.get("files") if isinstance(old.get("files"), dict) else {}
        new["files"] = {**old_files, **values["files"]}
    return new


def record(conn: sqlite3.Connection, agent_id: int, values: Mapping[str, Any], *, actor: str,
           now: float) -> dict[str, list[str]] | None:
    """Merge `values` into the agent's fingerprint. Returns the fields that changed
    ({field: [old, new]}, only values that were known before), or None when nothing was
    written. A plain read decides first: an unchanged call takes no write lock. Runs in
    the caller's transaction when one is open (the ingester's), else in its own."""
    given = _clean(values)
    row = conn.execute("SELECT fingerprint FROM agents WHERE id = ?", (agent_id,)).fetchone()
    if row is None or not given or _merge(parse(row[0]), given) == parse(row[0]):
        return None
    if conn.in_transaction:
        return _write(conn, agent_id, given, actor, now)
    with transaction(conn):
        return _write(conn, agent_id, given, actor, now)


def _write(conn: sqlite3.Connection, agent_id: int, given: dict[str, Any], actor: str,
           now: float) -> dict[str, list[str]] | None:
    row = conn.execute("SELECT fingerprint, fingerprint_hash, name FROM agents WHERE id = ?",
                       (agent_id,)).fetchone()
    if row is None:
        return None
    old = parse(row[0])
    new = _merge(old, given)
    if new == old:
        return None  # another writer got there first
    fresh = digest(new)
    conn.execute("UPDATE agents SET fingerprint = ?, fingerprint_hash = ? WHERE id = ?",
                 (json.dumps(new, sort_keys=True, separators=(",", ":")), fresh, agent_id))
    changed = {k: [old[k], new[k]] for k in sorted(new)
               if k != "files" and k in old and known(old, k) and old[k] != new[k]}
    if changed and row[1]:
        from loomtui.store.audit import append

        append(conn, actor=actor, action=AUDIT_ACTION, subject=f"agent:{agent_id}",
               detail={"agent": row[2], "changed": changed, "fingerprint_hash": fresh}, now=now)
    return changed


# -- baseline and drift -------------------------------------------------------------------


def _matches(field: str, value: str, base: str, pinned: bool) -> bool:
    if value == base:
        return True
    if not pinned:
        return False
    if field == "model":
        return value == normalize_model(base)
    if field == "cli_version":
        return value.startswith(base + ".")  # "2.1" pins every 2.1.x
    return False


class Baseline:
    """The pod's baseline per agent kind: field -> (value, pinned). Built once per reading
    of the fleet from (kind, live, fingerprint) of each agent."""

    __slots__ = ("by_kind",)

    def __init__(self, by_kind: dict[str, dict[str, tuple[str, bool]]]) -> None:
        self.by_kind = by_kind

    @classmethod
    def of(cls, agents: Iterable[tuple[str, bool, Mapping[str, Any]]],
           config: BaselineConfig | None = None) -> Baseline:
        from loomtui.config import DRIFT_FIELDS

        counts: dict[str, dict[str, dict[str, int]]] = {}
        for kind, live, fingerprint in agents:
            if not live or not fingerprint:
                continue
            per_kind = counts.get(kind)
            if per_kind is None:
                per_kind = counts[kind] = {field: {} for field in DRIFT_FIELDS}
            for field in DRIFT_FIELDS:
                value = fingerprint.get(field)
                if value.__class__ is str and (value or field not in MAY_BE_UNKNOWN):
                    tally = per_kind[field]
                    tally[value] = tally.get(value, 0) + 1
        by_kind: dict[str, dict[str, tuple[str, bool]]] = {}
        for kind, fields in counts.items():
            chosen: dict[str, tuple[str, bool]] = {}
            for field, tally in fields.items():
                top = Counter(tally).most_common(2)
                if len(top) == 1 or (top and top[0][1] > top[1][1]):
                    chosen[field] = (top[0][0], False)
            by_kind[kind] = chosen
        if config is not None:
            for kind in set(by_kind) | set(config.pinned) - {""}:
                for field, value in config.for_kind(kind).items():
                    by_kind.setdefault(kind, {})[field] = (value, True)
        return cls(by_kind)

    def value(self, kind: str, field: str) -> tuple[str, bool] | None:
        """(the baseline's value, whether pinned), or None when there is none."""
        return self.by_kind.get(kind, {}).get(field)

    def drift(self, kind: str, fingerprint: Mapping[str, Any]) -> list[str]:
        """The fields where the agent differs from the baseline, in DRIFT_FIELDS order."""
        from loomtui.config import DRIFT_FIELDS

        base = self.by_kind.get(kind)
        if not base or not fingerprint:
            return []
        return [field for field in DRIFT_FIELDS
                if field in base and known(fingerprint, field)
                and not _matches(field, fingerprint[field], *base[field])]


def baseline_of(agents: Iterable[Any], config: BaselineConfig | None = None) -> Baseline:
    """The baseline of store.agents.Agent rows (live: every status but done)."""
    return Baseline.of(((a.kind, a.status != "done", parse(a.fingerprint)) for a in agents), config)


def drift(agent: Any, base: Baseline) -> list[str]:
    """drift(agent) -> the fields where an Agent row differs from `base`."""
    return base.drift(agent.kind, parse(agent.fingerprint))
