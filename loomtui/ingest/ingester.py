"""Transcripts -> usage rows in the pod store, restart-safe (stdlib only).

For each file the store keeps an offset, the file's identity (inode and a hash of its
head) and the parser's carried state. A chunk of whole lines is parsed, and its usage
rows, the agents they belong to, the new offset and the new parser state are committed in
one transaction (with other chunks, of this file or others, up to `chunk_bytes` of
transcript a transaction: parsing happens before it, so it stays short): a kill -9
anywhere either keeps the whole chunk or none of it, so a restart neither loses nor
double-counts. Dedupe keys are UNIQUE in the store; a key seen
again keeps the larger token total (ccusage's rule), so re-reading a file is harmless.

A session's usage belongs to the agent the hooks registered with the same session id;
a session seen only in transcripts becomes an agent too (its cwd gives repo and
worktree), unless it has been silent for longer than the agent horizon.
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
from collections.abc import Callable, Iterable
from typing import Any, NamedTuple

from loomtui.ingest.claude import ClaudeSession
from loomtui.ingest.codex import CodexRollout
from loomtui.ingest.records import Activity, UsageRecord
from loomtui.ingest.sources import Roots, Source, discover, session_of
from loomtui.ingest.tail import CHUNK_BYTES, Position, read_chunk
from loomtui.places import locate
from loomtui.store import unreported
from loomtui.store.agents import upsert_agent
from loomtui.store.db import transaction

INSERT_USAGE = """
    INSERT INTO usage (agent_id, session_id, ts, model, input_tokens, output_tokens,
                       cache_write_tokens, cache_read_tokens, cost_usd, cost_source, dedupe_key,
                       source_file, kind, cache_write_1h_tokens, speed)
    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
    ON CONFLICT (dedupe_key) DO UPDATE SET
        input_tokens = excluded.input_tokens, output_tokens = excluded.output_tokens,
        cache_write_tokens = excluded.cache_write_tokens,
        cache_read_tokens = excluded.cache_read_tokens, cost_usd = excluded.cost_usd,
        cost_source = excluded.cost_source, model = excluded.model,
        cache_write_1h_tokens = excluded.cache_write_1h_tokens, speed = excluded.speed
    WHERE excluded.input_tokens + excluded.output_tokens + excluded.cache_write_tokens
          + excluded.cache_read_tokens
        > usage.input_tokens + usage.output_tokens + usage.cache_write_tokens
          + usage.cache_read_tokens
"""
SAVE_OFFSET = """
    INSERT INTO ingest_offsets (path, agent, inode, size, offset, head_hash, bad_lines, state,
                                updated_at)
    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
    ON CONFLICT (path) DO UPDATE SET agent = excluded.agent, inode = excluded.inode,
        size = excluded.size, offset = excluded.offset, head_hash = excluded.head_hash,
        bad_lines = excluded.bad_lines, state = excluded.state, updated_at = excluded.updated_at
"""


class Stored(NamedTuple):
    position: Position
    bad_lines: int
    state: dict[str, Any]


class Progress(NamedTuple):
    files: int = 0
    records: int = 0
    bad_lines: int = 0
    errors: tuple[str, ...] = ()


# -- parser state that must survive a restart ---------------------------------------------

def _act_out(a: Activity | None) -> list | None:
    return list(a) if a is not None else None


def _act_in(value: Any) -> Activity | None:
    if isinstance(value, list) and len(value) == len(Activity._fields):
        try:
            return Activity(str(value[0]), float(value[1]), str(value[2]), str(value[3]), str(value[4]))
        except (TypeError, ValueError):
            return None
    return None


def make_parser(source: Source, state: dict[str, Any] | None) -> ClaudeSession | CodexRollout:
    default = session_of(source)
    state = state or {}
    if source.agent == "claude":
        parser = ClaudeSession(default)
        costs = state.get("costs")
        if isinstance(costs, dict):
            parser.reported_costs = {str(k): float(v) for k, v in costs.items()
                                     if isinstance(v, (int, float))}
    else:
        parser = CodexRollout(str(state.get("sid") or default))
        parser.model = str(state.get("model") or "")
        prev = state.get("prev")
        if isinstance(prev, list) and len(prev) == 5 and all(isinstance(x, int) for x in prev):
            parser._prev_total = tuple(prev)  # noqa: SLF001 - the parser's own carried state
    parser.activity = _act_in(state.get("act"))
    parser.version = str(state.get("ver") or "")
    return parser


def parser_state(parser: ClaudeSession | CodexRollout) -> dict[str, Any]:
    if isinstance(parser, ClaudeSession):
        state: dict[str, Any] = {"costs": parser.reported_costs} if parser.reported_costs else {}
    else:
        state = {"sid": parser.session_id, "model": parser.model,
                 "prev": list(parser._prev_total) if parser._prev_total else None}  # noqa: SLF001
    if parser.activity is not None:
        state["act"] = _act_out(parser.activity)
    if parser.version:
        state["ver"] = parser.version
    return state


# -- the ingester ----------------------------------------------------------------------------

class Ingester:
    """Reads transcripts into the store. Not thread-safe: one per thread, own connection."""

    def __init__(self, conn: sqlite3.Connection, roots: Roots, prices, *,
                 clock: Callable[[], float] = time.time, agent_horizon: float = 24 * 3600.0,
                 chunk_bytes: int = CHUNK_BYTES) -> None:
        self.conn = conn
        self.roots = roots
        self.prices = prices
        self.clock = clock
        self.agent_horizon = agent_horizon
        # Usage older than this is not written: retention deleted raw rows that old, and
        # with them the keys that tell a second reading of a record from a new one (the
        # rollups counted it the first time). Read at each catch-up.
        self.deleted_before = 0.0
        self.chunk_bytes = chunk_bytes
        self._stored: dict[str, Stored] | None = None
        self._agents: dict[str, int | None] = {}  # session id -> agent id (None: too old)
        self.touched_agents: set[int] = set()  # agents with new usage since last taken
        # chunks parsed but not yet written: (source, records, parser, position, bad, state)
        self._batch: list[tuple] = []
        self._batch_bytes = 0
        self._undo: dict[str, Stored | None] = {}  # path -> what the store holds for it

    def _load(self) -> dict[str, Stored]:
        if self._stored is None:
            self._stored = {}
            for path, inode, size, offset, head, bad, state in self.conn.execute(
                    "SELECT path, inode, size, offset, head_hash, bad_lines, state FROM ingest_offsets"):
                try:
                    carried = json.loads(state)
                except ValueError:
                    carried = {}
                self._stored[path] = Stored(Position(inode, size, offset, head), bad,
                                            carried if isinstance(carried, dict) else {})
        return self._stored

    def catch_up(self, sources: Iterable[Source] | None = None) -> Progress:
        """Read every transcript (or the given ones) to its end."""
        from loomtui.store.retention import usage_deleted_before

        self.deleted_before = usage_deleted_before(self.conn)
        files = records = bad = 0
        errors: list[str] = []
        try:
            for source in (self._everything() if sources is None else sources):
                try:
                    n, b = self._read(source)
                except OSError as exc:
                    if not isinstance(exc, FileNotFoundError):  # gone between listing and reading
                        errors.append(f"{source.path}: {exc.strerror or exc}")
                    continue
                files += 1
                records += n
                bad += b
            self._flush()
        except BaseException:
            self._forget()
            raise
        return Progress(files, records, bad, tuple(errors))

    def _everything(self) -> list[Source]:
        """Every transcript under the roots, and those the hooks named (`transcript_path`)
        that live elsewhere (an agent started with its own CLAUDE_CONFIG_DIR or HOME): their
        usage counts, and their budgets are enforced, all the same."""
        found = discover(self.roots)
        known = {s.path for s in found}
        for kind, path in self.conn.execute(
                "SELECT DISTINCT kind, transcript_path FROM agents WHERE transcript_path IS NOT NULL "
                "AND kind IN ('claude', 'codex')"):
            if path not in known and path.endswith(".jsonl") and os.path.isfile(path):
                known.add(path)
                found.append(Source(kind, path))
        return found

    def ingest(self, source: Source) -> tuple[int, int]:
        """Read one file to its end: (usage records written, new bad lines)."""
        try:
            done = self._read(source)
            self._flush()
        except BaseException:
            self._forget()
            raise
        return done

    def _read(self, source: Source) -> tuple[int, int]:
        """Parse what is new in one file; its chunks join the batch, which is written once
        it holds `chunk_bytes` of transcript (or by the caller, at the end)."""
        stored = self._load()
        records = bad = 0
        while True:
            prev = stored.get(source.path)
            chunk = read_chunk(source.path, prev.position if prev else None, self.chunk_bytes)
            if chunk is None:
                return records, bad
            carried = None if chunk.restarted or prev is None else prev.state
            parser = make_parser(source, carried)
            found = parser.feed_chunk(chunk.data, chunk.cut)
            bad_total = (0 if chunk.restarted or prev is None else prev.bad_lines) + parser.stats.bad_lines
            state = parser_state(parser)
            if source.path not in self._undo:
                self._undo[source.path] = prev
            # the next chunk starts here; `_forget` puts it back if the batch is not committed
            stored[source.path] = Stored(chunk.position, bad_total, state)
            self._batch.append((source, found, parser, chunk.position, bad_total, state))
            self._batch_bytes += chunk.end - chunk.start
            records += len(found)
            bad += parser.stats.bad_lines
            if self._batch_bytes >= self.chunk_bytes:
                self._flush()
            if not chunk.more:
                return records, bad

    def _flush(self) -> None:
        """Write the batch: its usage rows, agents and offsets in one transaction, so a
        kill -9 keeps all of it or none (then it is read again)."""
        if not self._batch:
            return
        with transaction(self.conn):
            for source, found, parser, position, bad_total, state in self._batch:
                self._write(source, found, parser)
                self.conn.execute(SAVE_OFFSET, (
                    source.path, source.agent, position.inode, position.size, position.offset,
                    position.head_hash, bad_total, json.dumps(state, separators=(",", ":")),
                    self.clock()))
        self._batch.clear()
        self._undo.clear()
        self._batch_bytes = 0

    def _forget(self) -> None:
        """After a failure: drop the batch, and what was remembered of it."""
        stored = self._stored if self._stored is not None else {}
        for path, prev in self._undo.items():
            if prev is None:
                stored.pop(path, None)
            else:
                stored[path] = prev
        self._batch.clear()
        self._undo.clear()
        self._batch_bytes = 0
        self._agents.clear()  # agents made in a rolled-back transaction do not exist

    # -- writing one chunk (inside `_flush`'s transaction) --------------------------------

    def _write(self, source: Source, found: list[UsageRecord],
               parser: ClaudeSession | CodexRollout) -> None:
        activity = parser.activity
        if found or activity is not None:
            latest = activity.ts if activity is not None else 0.0
            if found:
                latest = max(latest, max(r.ts for r in found))
            sessions = {r.session_id for r in found} | {c[0] for c in parser.calls}
            if activity is not None:
                sessions.add(activity.session_id)
            for sid in sessions:
                self._agent_for(sid, source, activity if activity and activity.session_id == sid
                                else None, latest)
        if self.deleted_before and found:
            found = [r for r in found if r.ts >= self.deleted_before]
        price = self.prices.price
        kind, path = source.agent, source.path
        agents = self._agents
        # One row per dedupe key, as the upsert would leave it after each record in turn:
        # the first record's session and time, the largest total's tokens (the first such).
        merged: dict[str, list[UsageRecord]] = {}
        for r in found:
            pair = merged.get(r.dedupe_key)
            if pair is None:
                merged[r.dedupe_key] = [r, r]
            else:
                best = pair[1]
                if (r.input_tokens + r.output_tokens + r.cache_write_tokens + r.cache_read_tokens
                        > best.input_tokens + best.output_tokens + best.cache_write_tokens
                        + best.cache_read_tokens):
                    pair[1] = r
        rows = []
        for first, best in merged.values():
            cost, cost_source = price(best)
            rows.append((agents.get(first.session_id), first.session_id, first.ts, best.model,
                         best.input_tokens, best.output_tokens, best.cache_write_tokens,
                         best.cache_read_tokens, cost, cost_source, first.dedupe_key, path, kind,
                         best.cache_write_1h_tokens, best.speed))
        if rows:
            self.conn.executemany(INSERT_USAGE, rows)
            self.touched_agents.update(a for a in {agents.get(r.session_id) for r in found}
                                       if a is not None)
            self._note_activity(found, subagent="/subagents/" in path)
        if parser.version:
            self._note_version(parser)
        if isinstance(parser, ClaudeSession) and parser.reported_costs:
            self._apply_reported(parser)
        if parser.calls:
            self._note_calls(parser)
        if isinstance(parser, ClaudeSession) and parser.excused:
            unreported.excuse(self.conn, parser.excused)

    def _note_calls(self, parser: ClaudeSession | CodexRollout) -> None:
        """The tool calls the lines showed, to be matched with the hooks' reports
        (store/unreported.py: ungoverned agents)."""
        per_agent: dict[int, list[tuple[str, str, float]]] = {}
        for sid, use_id, tool, ts in parser.calls:
            agent_id = self._agents.get(sid)
            if agent_id is not None:
                per_agent.setdefault(agent_id, []).append((use_id, tool, ts))
        now = self.clock()
        for agent_id, calls in per_agent.items():
            unreported.note_calls(self.conn, agent_id, calls, now=now)

    def _agent_for(self, sid: str, source: Source, activity: Activity | None, latest: float) -> None:
        """Find (or make) the agent of a session; cached per session."""
        known = self._agents.get(sid, -1)
        if known != -1 and known is not None:
            if activity is not None:
                self._refresh_agent(known, activity)
            return
        row = self.conn.execute("SELECT id FROM agents WHERE session_id = ?", (sid,)).fetchone()
        if row is not None:
            self._agents[sid] = int(row[0])
            if activity is not None:
                self._refresh_agent(int(row[0]), activity)
            return
        now = self.clock()
        if latest and now - latest > self.agent_horizon:
            self._agents[sid] = None  # history: counted, not shown in the fleet
            return
        cwd = activity.cwd if activity is not None else ""
        place = locate(cwd or None)
        agent_id = upsert_agent(self.conn, kind=source.agent, now=latest or now, session_id=sid,
                                cwd=cwd or None, repo=place.repo, worktree=place.worktree,
                                branch=(activity.branch if activity and activity.branch else place.branch),
                                transcript_path=source.path)
        status = "working" if latest and now - latest < 600 else "done"
        self.conn.execute(
            "UPDATE agents SET status = ?, status_reason = ?, last_activity_at = ?, started_at = ? "
            "WHERE id = ? AND NOT EXISTS (SELECT 1 FROM events WHERE agent_id = ?)",
            (status, "from its transcript" if status == "working" else "no recent transcript lines",
             latest or now, latest or now, agent_id, agent_id))
        self._agents[sid] = agent_id

    def _refresh_agent(self, agent_id: int, activity: Activity) -> None:
        """Agents without hooks (no events) follow their transcript: what tool, how recent."""
        self.conn.execute(
            """UPDATE agents SET last_activity_at = max(last_activity_at, ?),
                   last_tool = CASE WHEN ? != '' THEN ? ELSE last_tool END,
                   status = CASE WHEN status IN ('done', 'idle') AND ? > last_activity_at
                                 THEN 'working' ELSE status END
               WHERE id = ? AND NOT EXISTS (SELECT 1 FROM events WHERE agent_id = ?)""",
            (activity.ts, activity.tool, activity.tool, activity.ts, agent_id, agent_id))

    def _note_activity(self, found: list[UsageRecord], subagent: bool = False) -> None:
        """Keep each agent's model current (the last priced record's model), and its
        fingerprint's: not from a Claude subagent's transcript, whose model may differ
        from its session's on purpose."""
        latest: dict[str, UsageRecord] = {}
        for r in found:
            if r.model and (r.session_id not in latest or r.ts >= latest[r.session_id].ts):
                latest[r.session_id] = r
        for sid, r in latest.items():
            agent_id = self._agents.get(sid)
            if agent_id is not None:
                self.conn.execute("UPDATE agents SET model = ? WHERE id = ?", (r.model, agent_id))
                if not subagent:
                    self._fingerprint(agent_id, model=r.model)

    def _note_version(self, parser: ClaudeSession | CodexRollout) -> None:
        """The CLI version the transcript shows goes into the agent's fingerprint."""
        if isinstance(parser, ClaudeSession):
            sid = parser.activity.session_id if parser.activity else parser.default_session_id
        else:
            sid = parser.session_id
        agent_id = self._agents.get(sid)
        if agent_id is not None:
            self._fingerprint(agent_id, cli_version=parser.version)

    def _fingerprint(self, agent_id: int, **values: str) -> None:
        """Record what the transcript says of the agent's configuration (a change of a
        known value is audited, by `system`). An agent no hook fingerprinted gets one from
        its transcript alone (kind, version, model)."""
        from loomtui.store.fingerprint import record

        kind = self.conn.execute("SELECT kind FROM agents WHERE id = ?", (agent_id,)).fetchone()
        if kind is not None:
            record(self.conn, agent_id, {"kind": kind[0], **values}, actor="system", now=self.clock())

    def _apply_reported(self, parser: ClaudeSession) -> None:
        """Claude Code's own cost per model (cost-state lines) prices the rows of models
        the table lacks: what it reported beyond what is already assigned is spread over
        the still-unpriced rows by their tokens, and marked as reported."""
        for model, reported in parser.reported_costs.items():
            sid = parser.activity.session_id if parser.activity else parser.default_session_id
            assigned, pending = self.conn.execute(
                """SELECT coalesce(sum(CASE WHEN cost_source = 'reported' THEN cost_usd END), 0),
                          coalesce(sum(CASE WHEN cost_source = 'unpriced' THEN input_tokens
                              + output_tokens + cache_write_tokens + cache_read_tokens END), 0)
                   FROM usage WHERE session_id = ? AND model = ?""", (sid, model)).fetchone()
            extra = reported - assigned
            if pending <= 0 or extra <= 0:
                continue
            self.conn.execute(
                """UPDATE usage SET cost_source = 'reported',
                       cost_usd = ? * (input_tokens + output_tokens + cache_write_tokens
                                       + cache_read_tokens) / ?
                   WHERE session_id = ? AND model = ? AND cost_source = 'unpriced'""",
                (extra, pending, sid, model))
