"""Budgets: what is used of each limit, how fast, and when it runs out (stdlib only).

Scopes and periods (config `[budgets]`, overridden in the store by supervisors):
- agent: `session` (everything the agent used) and `day` (since local midnight);
- repo: `day`, over every agent working in that repository;
- pod: `block` (the active 5-hour billing block, computed as ccusage computes blocks)
  and `week` (since `week_starts`, local midnight).

`refresh` recomputes the `budget_state` table; the ingester calls it after it writes
usage and every few seconds (periods roll over with time), the console after a limit
changes. The hook only reads `budget_state` (one indexed query per tool call) and gates
an agent's calls while any budget that applies to it is at 100 % or more.

Burn rate is over the last 10 minutes (tokens per minute, USD per hour); a budget's
projection is when that rate reaches its limit, if before the period resets.
"""

# No `from __future__ import annotations`: this module is on the hook path, where
# NamedTuple would compile() each string annotation (see loomtui/policy/shell/__init__.py).
import sqlite3
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta, tzinfo
from typing import NamedTuple

from loomtui.store.db import transaction

BLOCK_SECONDS = 5 * 3600.0
BURN_WINDOW = 600.0
TOKENS = "(input_tokens + output_tokens + cache_write_tokens + cache_read_tokens)"

# (scope, period) -> (max_tokens, max_usd)
Limits = Mapping[tuple[str, str], tuple[int | None, float | None]]


class Block(NamedTuple):
    start: float
    end: float  # start + 5 h
    first: float
    last: float


class BudgetState(NamedTuple):
    scope: str
    scope_ref: str
    period: str
    used_tokens: int
    used_usd: float
    max_tokens: int | None
    max_usd: float | None
    fraction: float
    burn_tokens_min: float
    burn_usd_hour: float
    starts_at: float | None
    resets_at: float | None
    exhausts_at: float | None
    updated_at: float

    @property
    def limited(self) -> bool:
        return self.max_tokens is not None or self.max_usd is not None

    @property
    def over(self) -> bool:
        return self.limited and self.fraction >= 1.0

    def describe(self) -> str:
        """"day budget: $21.40 of $20.00 (107 %)", naming the limit that is most used."""
        parts = []
        if self.max_usd is not None:
            parts.append((self.used_usd / self.max_usd if self.max_usd else 1.0,
                          f"${self.used_usd:,.2f} of ${self.max_usd:,.2f}"))
        if self.max_tokens is not None:
            parts.append((self.used_tokens / self.max_tokens if self.max_tokens else 1.0,
                          f"{self.used_tokens:,} of {self.max_tokens:,} tokens"))
        if not parts:
            return f"{self.period}: no limit"
        share, text = max(parts)
        return f"{self.period} budget: {text} ({share * 100:.0f} %)"


def billing_blocks(timestamps: Sequence[float]) -> list[Block]:
    """ccusage's 5-hour blocks over sorted entry times: a block starts at its first entry
    floored to the hour (UTC); an entry more than 5 h after the block's start, or more than
    5 h after the previous entry, starts a new block."""
    blocks: list[Block] = []
    start = first = last = None
    for ts in timestamps:
        if start is None or ts - start > BLOCK_SECONDS or ts - last > BLOCK_SECONDS:
            if start is not None:
                blocks.append(Block(start, start + BLOCK_SECONDS, first, last))
            start, first = ts - ts % 3600, ts
        last = ts
    if start is not None:
        blocks.append(Block(start, start + BLOCK_SECONDS, first, last))
    return blocks


def active_block(blocks: Sequence[Block], now: float) -> Block | None:
    """The block still running: now - last < 5 h and now < start + 5 h."""
    if blocks:
        b = blocks[-1]
        if now - b.last < BLOCK_SECONDS and now < b.end:
            return b
    return None


def day_start(now: float, tz: tzinfo | None) -> float:
    local = datetime.fromtimestamp(now, tz).astimezone(tz)
    return local.replace(hour=0, minute=0, second=0, microsecond=0).timestamp()


def week_start(now: float, tz: tzinfo | None, first_weekday: int = 0) -> float:
    local = datetime.fromtimestamp(now, tz).astimezone(tz)
    midnight = local.replace(hour=0, minute=0, second=0, microsecond=0)
    return (midnight - timedelta(days=(midnight.weekday() - first_weekday) % 7)).timestamp()


def _next_local_midnight(start: float, days: int, tz: tzinfo | None) -> float:
    local = datetime.fromtimestamp(start, tz).astimezone(tz)
    return (local + timedelta(days=days)).replace(hour=0, minute=0, second=0,
                                                  microsecond=0).timestamp()


def effective_limits(conn: sqlite3.Connection, config: Limits) -> dict[tuple[str, str, str],
                                                                       tuple[int | None, float | None]]:
    """(scope, scope_ref, period) -> limits. scope_ref '' is the default for its scope:
    a store row (set from the console) wins over the config's."""
    out = {(scope, "", period): v for (scope, period), v in config.items()}
    for scope, ref, period, tokens, usd in conn.execute(
            "SELECT scope, scope_ref, period, max_tokens, max_usd FROM budgets"):
        out[(scope, ref, period)] = (tokens, usd)
    return out


def _limit(limits, scope: str, ref: str, period: str) -> tuple[int | None, float | None]:
    if (scope, ref, period) in limits:
        return limits[(scope, ref, period)]
    return limits.get((scope, "", period), (None, None))


def limit_for(conn: sqlite3.Connection, config: Limits, scope: str, ref: str,
              period: str) -> tuple[int | None, float | None]:
    """The limit that applies to one budget now: the store's, else its scope's default."""
    return _limit(effective_limits(conn, config), scope, ref, period)


def _state(scope, ref, period, tokens, usd, limit, burn_t, burn_u, starts, resets, now) -> BudgetState:
    max_tokens, max_usd = limit
    fractions = []
    remaining = []  # seconds until each limit at the current burn
    if max_tokens is not None:
        fractions.append(tokens / max_tokens if max_tokens > 0 else 1.0)
        if burn_t > 0 and tokens < max_tokens:
            remaining.append((max_tokens - tokens) / burn_t * 60)
    if max_usd is not None:
        fractions.append(usd / max_usd if max_usd > 0 else 1.0)
        if burn_u > 0 and usd < max_usd:
            remaining.append((max_usd - usd) / burn_u * 3600)
    fraction = max(fractions) if fractions else 0.0
    exhausts = now + min(remaining) if remaining and fraction < 1.0 else None
    if exhausts is not None and resets is not None and exhausts >= resets:
        exhausts = None
    return BudgetState(scope, ref, period, int(tokens or 0), float(usd or 0.0), max_tokens, max_usd,
                       fraction, burn_t, burn_u, starts, resets, exhausts, now)


def compute(conn: sqlite3.Connection, config: Limits, now: float, tz: tzinfo | None = None,
            week_starts: int = 0, agent_ids: Sequence[int] | None = None) -> list[BudgetState]:
    """Every budget's state. `agent_ids` limits the per-agent part (default: agents that
    are not done, or used tokens in the last day).

    Reads the usage rollups (store/rollups.py), never all of history: agent sessions from
    `usage_totals`, days from today's per-agent buckets, the week from the pod's, the
    billing block from the buckets of the last days, and the burn rate from the raw rows
    of the last 10 minutes (the `usage_ts` index)."""
    from loomtui.store import rollups

    limits = effective_limits(conn, config)
    day0 = day_start(now, tz)
    day_end = _next_local_midnight(day0, 1, tz)
    burn_from = now - BURN_WINDOW
    states: list[BudgetState] = []
    if agent_ids is None:
        agent_ids = [r[0] for r in conn.execute(
            "SELECT id FROM agents WHERE status != 'done' OR last_activity_at > ? OR ended_at > ?",
            (now - 86400, now - 86400))]
    # today per agent (buckets from local midnight), and the last 10 minutes per agent (raw)
    today = {a: (tok, usd) for a, tok, usd, n in conn.execute(
        "SELECT agent_id, sum(tokens), total(cost_usd), sum(n_rows) FROM usage_agent_quarters "
        "WHERE bucket >= ? GROUP BY agent_id", (rollups.floor_quarter(day0),)) if n}
    if rollups.floor_quarter(day0) != day0:  # a midnight off the quarter hours (not a real zone today)
        for a, tok, usd in conn.execute(
                f"SELECT agent_id, total({TOKENS}), total(cost_usd) FROM usage WHERE ts >= ? AND ts < ? "
                "AND agent_id IS NOT NULL GROUP BY agent_id", (rollups.floor_quarter(day0), day0)):
            if a in today:
                today[a] = (today[a][0] - int(tok), today[a][1] - usd)
    # the burn per agent, and its part since midnight (what a repository's day counts)
    burning, burning_today = {}, {}
    for a, tok, usd, day_tok, day_usd in conn.execute(
            f"SELECT coalesce(agent_id, 0), sum({TOKENS}), total(cost_usd), "
            f"total(CASE WHEN ts >= ? THEN {TOKENS} END), total(CASE WHEN ts >= ? THEN cost_usd END) "
            "FROM usage WHERE ts >= ? GROUP BY 1", (day0, day0, burn_from)):
        burning[a], burning_today[a] = (tok, usd), (int(day_tok), day_usd)
    per_agent = f"""
        SELECT coalesce(sum({TOKENS}), 0), total(cost_usd), coalesce(sum(n_rows), 0)
        FROM usage_totals WHERE agent_id = ?"""
    for agent_id in agent_ids:
        tok, usd, n = conn.execute(per_agent, (agent_id,)).fetchone()
        if not n:
            continue
        day_tok, day_usd = today.get(agent_id, (0, 0.0))
        burn_tok, burn_usd = burning.get(agent_id, (0, 0.0))
        ref = str(agent_id)
        bt, bu = burn_tok / (BURN_WINDOW / 60), burn_usd * (3600 / BURN_WINDOW)
        states.append(_state("agent", ref, "session", tok, usd, _limit(limits, "agent", ref, "session"),
                             bt, bu, None, None, now))
        states.append(_state("agent", ref, "day", day_tok, day_usd, _limit(limits, "agent", ref, "day"),
                             bt, bu, day0, day_end, now))
    # repositories: today's agents' sums, by their repository
    ids = sorted(a for a in today if a)
    repo_of = dict(conn.execute(
        f"SELECT id, repo FROM agents WHERE repo IS NOT NULL AND id IN ({', '.join('?' * len(ids))})",
        ids)) if ids else {}
    repos: dict[str, list[float]] = {}
    for agent_id, (tok, usd) in today.items():
        if agent_id in repo_of:
            r = repos.setdefault(repo_of[agent_id], [0, 0.0, 0, 0.0])
            r[0] += tok
            r[1] += usd
            burn_tok, burn_usd = burning_today.get(agent_id, (0, 0.0))
            r[2] += burn_tok
            r[3] += burn_usd
    for repo in sorted(repos):
        tok, usd, burn_tok, burn_usd = repos[repo]
        states.append(_state("repo", repo, "day", tok, usd, _limit(limits, "repo", repo, "day"),
                             burn_tok / (BURN_WINDOW / 60), burn_usd * (3600 / BURN_WINDOW),
                             day0, day_end, now))
    # the pod: its active billing block and its week
    week0 = week_start(now, tz, week_starts)
    horizon = min(week0, now - 2 * 86400)
    burn_tok = sum(t for t, _u in burning.values())
    burn_usd = sum(u for _t, u in burning.values())
    bt, bu = burn_tok / (BURN_WINDOW / 60), burn_usd * (3600 / BURN_WINDOW)
    found = list(rollups.blocks(rollups.parts(conn, horizon)))
    block = active_block([Block(b.start, b.end, b.first, b.last) for b in found[-1:]], now)
    if block is not None:
        inside = [p.figures for p in found[-1].parts if block.start <= p.bucket < block.end]
        tok = sum(sum(f[:4]) for f in inside)
        usd = sum(f[4] for f in inside)
        states.append(_state("pod", "", "block", tok, usd, _limit(limits, "pod", "", "block"),
                             bt, bu, block.start, block.end, now))
    else:  # no block running: nothing used in it yet; the next entry starts one
        states.append(_state("pod", "", "block", 0, 0.0, _limit(limits, "pod", "", "block"),
                             0.0, 0.0, None, None, now))
    week_rel, week_args = rollups.relation("usage_pod_quarters", week0)
    tok, usd = conn.execute(f"SELECT coalesce(sum({TOKENS}), 0), total(cost_usd) FROM {week_rel}",
                            week_args).fetchone()
    states.append(_state("pod", "", "week", tok, usd, _limit(limits, "pod", "", "week"), bt, bu,
                         week0, _next_local_midnight(week0, 7, tz), now))
    return states


UPSERT_STATE = f"""INSERT OR REPLACE INTO budget_state ({', '.join(BudgetState._fields)})
                   VALUES ({', '.join('?' * len(BudgetState._fields))})"""


def refresh(conn: sqlite3.Connection, config: Limits, now: float, tz: tzinfo | None = None,
            week_starts: int = 0, agent_ids: Sequence[int] | None = None) -> list[BudgetState]:
    """Recompute and store the budget state; returns it."""
    states = compute(conn, config, now, tz, week_starts, agent_ids)
    if agent_ids is None and _same(read_states(conn), states):
        return states  # a write would wake every console for nothing
    with transaction(conn):
        conn.execute("DELETE FROM budget_state WHERE scope = 'repo'")
        conn.executemany(UPSERT_STATE, states)
    return states


def _same(stored: list[BudgetState], fresh: list[BudgetState]) -> bool:
    """Whether the stored state says what the fresh one says (its time aside)."""
    def key(b: BudgetState) -> tuple:
        return tuple(round(v, 6) if isinstance(v, float) else v for v in b[:-1])

    return sorted(map(key, stored)) == sorted(map(key, fresh))


STATE_SQL = (f"SELECT {', '.join(BudgetState._fields)} FROM budget_state "
             "ORDER BY scope, scope_ref, period")


def read_states(conn: sqlite3.Connection) -> list[BudgetState]:
    return [BudgetState(*r) for r in conn.execute(STATE_SQL)]

# A cheap fingerprint of budget_state (latest write, rows, a sum of the figures): the
# console re-reads the states only when it changes.
CHANGE_MARK_SQL = """
    SELECT max(updated_at), count(*), total(used_tokens) + total(used_usd) + total(max_usd)
           + total(max_tokens) + total(burn_tokens_min)
    FROM budget_state
"""


# The hook's one read: budgets at or over 100 % that apply to this agent, still current.
OVER_SQL = f"""
    SELECT {', '.join(BudgetState._fields)} FROM budget_state
    WHERE fraction >= 1.0 AND (max_tokens IS NOT NULL OR max_usd IS NOT NULL)
      AND (resets_at IS NULL OR resets_at > ?)
      AND ((scope = 'agent' AND scope_ref = ?) OR (scope = 'repo' AND scope_ref = ?) OR scope = 'pod')
    ORDER BY fraction DESC
"""


def over_budget(conn: sqlite3.Connection, agent_id: int, repo: str | None, now: float) -> list[BudgetState]:
    return [BudgetState(*r) for r in conn.execute(OVER_SQL, (now, str(agent_id), repo or "\0"))]


def set_limit(conn: sqlite3.Connection, *, scope: str, scope_ref: str, period: str,
              max_tokens: int | None, max_usd: float | None, actor: str, now: float) -> None:
    """A supervisor sets (or clears, with both None) a limit; audited in the same transaction."""
    from loomtui.store import audit

    with transaction(conn):
        before = conn.execute("SELECT max_tokens, max_usd FROM budgets WHERE scope = ? AND "
                              "scope_ref = ? AND period = ?", (scope, scope_ref, period)).fetchone()
        conn.execute(
            """INSERT INTO budgets (scope, scope_ref, period, max_tokens, max_usd, set_by, set_at)
               VALUES (?, ?, ?, ?, ?, ?, ?)
               ON CONFLICT (scope, scope_ref, period) DO UPDATE SET max_tokens = excluded.max_tokens,
                   max_usd = excluded.max_usd, set_by = excluded.set_by, set_at = excluded.set_at""",
            (scope, scope_ref, period, max_tokens, max_usd, actor, now))
        audit.append(conn, actor=actor, action="budget.set", subject=f"{scope}:{scope_ref}:{period}",
                     detail={"max_tokens": max_tokens, "max_usd": max_usd,
                             "before": list(before) if before else None}, now=now)


def unset_limit(conn: sqlite3.Connection, *, scope: str, scope_ref: str, period: str, actor: str,
                now: float) -> bool:
    """A supervisor removes a limit set in the store, so the config's applies again;
    audited as a `budget.set` to no limit (what `audit verify` expects of a limit that is
    gone). Returns whether there was one to remove."""
    from loomtui.store import audit

    with transaction(conn):
        before = conn.execute("SELECT max_tokens, max_usd FROM budgets WHERE scope = ? AND "
                              "scope_ref = ? AND period = ?", (scope, scope_ref, period)).fetchone()
        if before is None:
            return False
        conn.execute("DELETE FROM budgets WHERE scope = ? AND scope_ref = ? AND period = ?",
                     (scope, scope_ref, period))
        audit.append(conn, actor=actor, action="budget.set", subject=f"{scope}:{scope_ref}:{period}",
                     detail={"max_tokens": None, "max_usd": None, "before": list(before),
                             "unset": True}, now=now)
    return True


# The reasons a budget change releases its gates with (actions.PodActions.set_budget): the
# waiting hook tells a release, which looked at no call, from a person approving one gate.
RELEASE_RAISED = "budget raised to"
RELEASE_REMOVED = "budget limit removed"


def released_by_a_change(reason: str) -> bool:
    """Was this budget gate approved by a budget change (not by a person looking at it)?"""
    return RELEASE_RAISED in reason or RELEASE_REMOVED in reason


# Budget gates still waiting: the hook gave them risk `budget` and a `budget:` rule.
PENDING_BUDGET_GATES_SQL = """
    SELECT g.id, g.agent_id, a.repo FROM gates g JOIN agents a ON a.id = g.agent_id
    WHERE g.status = 'pending' AND g.risk = 'budget' AND g.rule LIKE 'budget:%' AND g.expires_at > ?
    ORDER BY g.id
"""


def releasable(conn: sqlite3.Connection, *, scope: str, scope_ref: str, now: float) -> list[int]:
    """The pending budget gates a change of budget (scope, scope_ref) may release: those
    of agents the budget applies to (scope_ref '' is every agent's, or every repository's,
    default) that no budget holds any more, as `budget_state` says now (refresh first).
    An agent still over another budget keeps waiting."""
    found = []
    for gate_id, agent_id, repo in conn.execute(PENDING_BUDGET_GATES_SQL, (now,)).fetchall():
        applies = (scope == "pod"
                   or (scope == "agent" and scope_ref in ("", str(agent_id)))
                   or (scope == "repo" and scope_ref in ("", repo)))
        if applies and not over_budget(conn, agent_id, repo, now):
            found.append(gate_id)
    return found
