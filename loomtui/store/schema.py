"""The pod store's schema and its forward-only migrations.

`MIGRATIONS[i]` takes a database from `PRAGMA user_version` i to i + 1. Never edit
a migration that has shipped; append a new one. The schema covers every aggregate
of the architecture (agents, events, usage, gates, memory, audit, ingest offsets,
leases, worktree diff stats, budgets) so later features add queries, not tables
that compete with each other.

Times are UTC seconds since the epoch (REAL). JSON columns hold text.
"""

from __future__ import annotations


def _rollups_migration() -> str:
    """The text of migration 5 -> 6. It is part of a shipped migration: never edit what
    it produces; change the rollups with a new migration."""
    sums = ("input_tokens", "output_tokens", "cache_write_tokens", "cache_read_tokens")
    counts = ("costed", "n_table", "n_reported", "n_unpriced", "n_rows")
    figures = (*sums, "cost_usd", *counts)
    columns = ",\n        ".join(
        [f"{c} INTEGER NOT NULL DEFAULT 0" for c in sums] + ["cost_usd REAL NOT NULL DEFAULT 0"]
        + [f"{c} INTEGER NOT NULL DEFAULT 0" for c in counts])

    def row(r: str) -> list[str]:
        """One usage row's figures (r: new or old)."""
        return [*(f"{r}.{c}" for c in sums), f"coalesce({r}.cost_usd, 0)", f"{r}.cost_usd IS NOT NULL",
                f"{r}.cost_source = 'table'", f"{r}.cost_source = 'reported'",
                f"{r}.cost_source = 'unpriced'", "1"]

    def quarter(t: str) -> str:
        # floor(t / 900) * 900, exactly: the division may round up to the next integer
        # for a time a hair below an edge, and then one quarter is taken back.
        q = f"CAST({t} / 900 AS INTEGER) * 900"
        return f"({q} - 900 * ({q} > {t}))"

    def edge(t: str) -> str:
        return f"(CAST({t} / 900 AS INTEGER) * 900 = {t})"

    minute = "CAST({t} / 60 AS INTEGER) * 60.0"  # as the Usage tab's minutes always were
    tokens = "{r}.input_tokens + {r}.output_tokens + {r}.cache_write_tokens + {r}.cache_read_tokens"
    # table -> (key columns, key values from a usage row r, extra columns)
    tables = {
        "usage_totals": (("agent_id", "session_id", "model", "kind"),
                         lambda r: [f"coalesce({r}.agent_id, 0)", f"{r}.session_id", f"{r}.model",
                                    f"{r}.kind"], ()),
        "usage_quarters": (("bucket", "agent_id", "session_id", "model", "kind"),
                           lambda r: [quarter(f"{r}.ts"), f"coalesce({r}.agent_id, 0)",
                                      f"{r}.session_id", f"{r}.model", f"{r}.kind"], ()),
        "usage_pod_quarters": (("bucket", "edge", "kind"),
                               lambda r: [quarter(f"{r}.ts"), edge(f"{r}.ts"), f"{r}.kind"],
                               ("min_ts", "max_ts")),
    }
    key_types = {"agent_id": "INTEGER", "bucket": "INTEGER", "edge": "INTEGER"}
    out = []
    for table, (keys, _values, extra) in tables.items():
        key_cols = ",\n        ".join(f"{k} {key_types.get(k, 'TEXT')} NOT NULL" for k in keys)
        extra_cols = "".join(f",\n        {c} REAL" for c in extra)
        out.append(f"CREATE TABLE {table} (\n        {key_cols},\n        {columns}{extra_cols},\n"
                   f"        PRIMARY KEY ({', '.join(keys)})\n    ) WITHOUT ROWID;")
    out.append("CREATE TABLE usage_minutes (\n        agent_id INTEGER NOT NULL,\n"
               "        minute REAL NOT NULL,\n        tokens INTEGER NOT NULL DEFAULT 0,\n"
               "        n_rows INTEGER NOT NULL DEFAULT 0,\n"
               "        PRIMARY KEY (agent_id, minute)\n    ) WITHOUT ROWID;")

    def add(table: str, r: str) -> str:
        keys, values, extra = tables[table]
        cols = [*keys, *figures, *extra]
        vals = [*values(r), *row(r), *([f"{r}.ts"] * len(extra))]
        sets = [f"{c} = {c} + excluded.{c}" for c in figures]
        sets += ["min_ts = min(min_ts, excluded.min_ts)", "max_ts = max(max_ts, excluded.max_ts)"][:len(extra)]
        return (f"INSERT INTO {table} ({', '.join(cols)})\n        VALUES ({', '.join(vals)})\n"
                f"        ON CONFLICT ({', '.join(keys)}) DO UPDATE SET {', '.join(sets)};")

    def subtract(table: str, r: str) -> str:
        keys, values, _extra = tables[table]
        sets = [f"{c} = {c} - ({v})" if " " in v else f"{c} = {c} - {v}" for c, v in zip(figures, row(r))]
        where = " AND ".join(f"{k} = {v}" for k, v in zip(keys, values(r)))
        return f"UPDATE {table} SET {(',' + chr(10) + '            ').join(sets)}\n        WHERE {where};"

    add_minute = ("INSERT INTO usage_minutes (agent_id, minute, tokens, n_rows)\n"
                  f"        SELECT new.agent_id, {minute.format(t='new.ts')}, {tokens.format(r='new')}, 1"
                  " WHERE new.agent_id IS NOT NULL\n"
                  "        ON CONFLICT (agent_id, minute) DO UPDATE SET tokens = tokens + excluded.tokens,\n           "
                  " n_rows = n_rows + 1;")
    subtract_minute = (f"UPDATE usage_minutes SET tokens = tokens - ({tokens.format(r='old')}), "
                       "n_rows = n_rows - 1\n"
                       f"        WHERE agent_id = old.agent_id AND minute = {minute.format(t='old.ts')};")
    adds = "\n    ".join([add(t, "new") for t in tables] + [add_minute])
    subtracts = "\n    ".join([subtract(t, "old") for t in tables] + [subtract_minute])
    out.append(f"CREATE TRIGGER usage_rollup_insert AFTER INSERT ON usage BEGIN\n    {adds}\nEND;")
    watched = ", ".join(("agent_id", "session_id", "ts", "model", "kind", *sums, "cost_usd", "cost_source"))
    out.append(f"CREATE TRIGGER usage_rollup_update AFTER UPDATE OF {watched} ON usage BEGIN\n"
               f"    {subtracts}\n    {adds}\nEND;")
    # Fill from the rows already there.
    u = "usage"
    for table, (keys, values, extra) in tables.items():
        aggs = [f"sum({c})" for c in sums] + ["total(cost_usd)", "count(cost_usd)",
                                              "sum(cost_source = 'table')", "sum(cost_source = 'reported')",
                                              "sum(cost_source = 'unpriced')", "count(*)"]
        aggs += ["min(ts)", "max(ts)"][:len(extra)]
        vals = [v.replace(f"{u}.", "") for v in values(u)]
        out.append(f"INSERT INTO {table} ({', '.join([*keys, *figures, *extra])})\n"
                   f"    SELECT {', '.join(vals)}, {', '.join(aggs)}\n"
                   f"    FROM usage GROUP BY {', '.join(str(i + 1) for i in range(len(keys)))};")
    out.append(f"INSERT INTO usage_minutes (agent_id, minute, tokens, n_rows)\n"
               f"    SELECT agent_id, {minute.format(t='ts')}, sum({tokens.format(r='usage')}), count(*)\n"
               "    FROM usage WHERE agent_id IS NOT NULL GROUP BY 1, 2;")
    return "\n" + "\n".join(out) + "\n"


MIGRATIONS: tuple[str, ...] = (
    # 0 -> 1: the whole first schema.
    """
    CREATE TABLE agents (
        id               INTEGER PRIMARY KEY,
        kind             TEXT NOT NULL CHECK (kind IN ('claude','codex','aider','script','sim')),
        name             TEXT NOT NULL,
        session_id       TEXT UNIQUE,
        cwd              TEXT,
        repo             TEXT,
        worktree         TEXT,
        branch           TEXT,
        model            TEXT,
        transcript_path  TEXT,
        status           TEXT NOT NULL DEFAULT 'working'
                         CHECK (status IN ('working','waiting','idle','stalled','done','error')),
        status_reason    TEXT NOT NULL DEFAULT '',
        last_tool        TEXT NOT NULL DEFAULT '',
        last_summary     TEXT NOT NULL DEFAULT '',
        started_at       REAL NOT NULL,
        last_activity_at REAL NOT NULL,
        ended_at         REAL
    );
    CREATE INDEX agents_status ON agents(status);

    CREATE TABLE events (
        id        INTEGER PRIMARY KEY,
        agent_id  INTEGER NOT NULL REFERENCES agents(id) ON DELETE CASCADE,
        ts        REAL NOT NULL,
        kind      TEXT NOT NULL,
        tool      TEXT NOT NULL DEFAULT '',
        summary   TEXT NOT NULL DEFAULT '',
        payload   TEXT NOT NULL DEFAULT '{}'
    );
    CREATE INDEX events_agent_ts ON events(agent_id, id);

    CREATE TABLE usage (
        id                 INTEGER PRIMARY KEY,
        agent_id           INTEGER REFERENCES agents(id) ON DELETE SET NULL,
        session_id         TEXT NOT NULL,
        ts                 REAL NOT NULL,
        model              TEXT NOT NULL,
        input_tokens       INTEGER NOT NULL DEFAULT 0,
        output_tokens      INTEGER NOT NULL DEFAULT 0,
        cache_write_tokens INTEGER NOT NULL DEFAULT 0,
        cache_read_tokens  INTEGER NOT NULL DEFAULT 0,
        cost_usd           REAL,
        cost_source        TEXT NOT NULL DEFAULT 'table' CHECK (cost_source IN ('table','reported','unpriced')),
        dedupe_key         TEXT NOT NULL UNIQUE,
        source_file        TEXT NOT NULL DEFAULT ''
    );
    CREATE INDEX usage_agent_ts ON usage(agent_id, ts);
    CREATE INDEX usage_ts ON usage(ts);

    CREATE TABLE budgets (
        id          INTEGER PRIMARY KEY,
        scope       TEXT NOT NULL CHECK (scope IN ('agent','repo','pod')),
        scope_ref   TEXT NOT NULL DEFAULT '',
        period      TEXT NOT NULL CHECK (period IN ('session','day','block','week')),
        max_tokens  INTEGER,
        max_usd     REAL,
        set_by      TEXT NOT NULL,
        set_at      REAL NOT NULL,
        UNIQUE (scope, scope_ref, period)
    );

    CREATE TABLE gates (
        id            INTEGER PRIMARY KEY,
        agent_id      INTEGER REFERENCES agents(id) ON DELETE SET NULL,
        created_at    REAL NOT NULL,
        expires_at    REAL NOT NULL,
        status        TEXT NOT NULL DEFAULT 'pending'
                      CHECK (status IN ('pending','approved','rejected','expired','cancelled')),
        tool          TEXT NOT NULL,
        action        TEXT NOT NULL,
        summary       TEXT NOT NULL,
        rule          TEXT NOT NULL DEFAULT '',
        risk          TEXT NOT NULL CHECK (risk IN ('low','medium','high','critical','budget')),
        content_hash  TEXT NOT NULL,
        approved_hash TEXT,
        claimed_by    TEXT,
        claimed_at    REAL,
        decided_by    TEXT,
        decided_at    REAL,
        reason        TEXT,
        waiter_pid    INTEGER
    );
    CREATE INDEX gates_status ON gates(status, created_at);

    CREATE TABLE memory (
        id          INTEGER PRIMARY KEY,
        kind        TEXT NOT NULL CHECK (kind IN ('decision','convention','fact','warning','todo','handoff')),
        title       TEXT NOT NULL,
        body        TEXT NOT NULL DEFAULT '',
        tags        TEXT NOT NULL DEFAULT '',
        scope       TEXT NOT NULL DEFAULT 'pod' CHECK (scope IN ('pod','repo','agent')),
        scope_ref   TEXT NOT NULL DEFAULT '',
        author      TEXT NOT NULL,
        author_kind TEXT NOT NULL CHECK (author_kind IN ('supervisor','agent')),
        agent_id    INTEGER REFERENCES agents(id) ON DELETE SET NULL,
        session_id  TEXT,
        worktree    TEXT,
        commit_sha  TEXT,
        status      TEXT NOT NULL DEFAULT 'active'
                    CHECK (status IN ('proposed','active','superseded','retired')),
        pinned      INTEGER NOT NULL DEFAULT 0,
        version     INTEGER NOT NULL DEFAULT 1,
        supersedes  INTEGER REFERENCES memory(id),
        created_at  REAL NOT NULL,
        updated_at  REAL NOT NULL
    );
    CREATE INDEX memory_status ON memory(status, pinned);

    CREATE TABLE memory_history (
        id         INTEGER PRIMARY KEY,
        memory_id  INTEGER NOT NULL REFERENCES memory(id),
        version    INTEGER NOT NULL,
        changed_at REAL NOT NULL,
        actor      TEXT NOT NULL,
        change     TEXT NOT NULL,
        snapshot   TEXT NOT NULL,
        UNIQUE (memory_id, version)
    );

    CREATE VIRTUAL TABLE memory_fts USING fts5(
        title, body, tags, content='memory', content_rowid='id'
    );
    CREATE TRIGGER memory_fts_insert AFTER INSERT ON memory BEGIN
        INSERT INTO memory_fts(rowid, title, body, tags) VALUES (new.id, new.title, new.body, new.tags);
    END;
    CREATE TRIGGER memory_fts_delete AFTER DELETE ON memory BEGIN
        INSERT INTO memory_fts(memory_fts, rowid, title, body, tags)
        VALUES ('delete', old.id, old.title, old.body, old.tags);
    END;
    CREATE TRIGGER memory_fts_update AFTER UPDATE OF title, body, tags ON memory BEGIN
        INSERT INTO memory_fts(memory_fts, rowid, title, body, tags)
        VALUES ('delete', old.id, old.title, old.body, old.tags);
        INSERT INTO memory_fts(rowid, title, body, tags) VALUES (new.id, new.title, new.body, new.tags);
    END;

    CREATE TABLE audit (
        id        INTEGER PRIMARY KEY,
        ts        REAL NOT NULL,
        actor     TEXT NOT NULL,
        action    TEXT NOT NULL,
        subject   TEXT NOT NULL DEFAULT '',
        detail    TEXT NOT NULL DEFAULT '{}',
        prev_hash TEXT NOT NULL,
        hash      TEXT NOT NULL UNIQUE
    );
    -- The audit log is append-only: the store itself refuses edits and deletes.
    CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit BEGIN
        SELECT RAISE(ABORT, 'the audit log is append-only');
    END;
    CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit BEGIN
        SELECT RAISE(ABORT, 'the audit log is append-only');
    END;

    CREATE TABLE ingest_offsets (
        path       TEXT PRIMARY KEY,
        inode      INTEGER,
        size       INTEGER NOT NULL DEFAULT 0,
        offset     INTEGER NOT NULL DEFAULT 0,
        head_hash  TEXT NOT NULL DEFAULT '',
        bad_lines  INTEGER NOT NULL DEFAULT 0,
        updated_at REAL NOT NULL
    );

    CREATE TABLE leases (
        name        TEXT PRIMARY KEY,
        holder      TEXT NOT NULL,
        acquired_at REAL NOT NULL,
        expires_at  REAL NOT NULL
    );

    CREATE TABLE worktrees (
        path        TEXT PRIMARY KEY,
        repo        TEXT NOT NULL,
        branch      TEXT,
        base        TEXT,
        merge_base  TEXT,
        state       TEXT NOT NULL DEFAULT 'ok',
        files       INTEGER NOT NULL DEFAULT 0,
        added       INTEGER NOT NULL DEFAULT 0,
        deleted     INTEGER NOT NULL DEFAULT 0,
        updated_at  REAL NOT NULL
    );
    CREATE TABLE worktree_files (
        worktree  TEXT NOT NULL REFERENCES worktrees(path) ON DELETE CASCADE,
        path      TEXT NOT NULL,
        old_path  TEXT,
        status    TEXT NOT NULL,
        added     INTEGER NOT NULL DEFAULT 0,
        deleted   INTEGER NOT NULL DEFAULT 0,
        binary    INTEGER NOT NULL DEFAULT 0,
        PRIMARY KEY (worktree, path)
    );
    CREATE INDEX worktree_files_path ON worktree_files(path);
    """,
    # 1 -> 2: the hook asks "which policy did we record last?" on every checked
    # call; without this index that scans the audit log backwards.
    """
    CREATE INDEX audit_action ON audit(action, id);
    """,
    # 2 -> 3: what the ingester needs to resume and to price again, and the budget state
    # it keeps for the hook (one indexed read per tool call) and the console.
    #  - ingest_offsets.state: the parser's carried state (Codex's running totals and
    #    model, Claude's reported costs) as JSON, committed with the offset and the rows;
    #  - usage.kind, usage.cache_write_1h_tokens, usage.speed: enough to re-price a row;
    #  - budget_state: per agent, repo and the pod, what is used of each limit, burn
    #    rate and projection. Rows without a limit carry the figures only.
    """
    ALTER TABLE ingest_offsets ADD COLUMN agent TEXT NOT NULL DEFAULT '';
    ALTER TABLE ingest_offsets ADD COLUMN state TEXT NOT NULL DEFAULT '{}';
    ALTER TABLE usage ADD COLUMN kind TEXT NOT NULL DEFAULT '';
    ALTER TABLE usage ADD COLUMN cache_write_1h_tokens INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE usage ADD COLUMN speed TEXT NOT NULL DEFAULT '';
    CREATE INDEX usage_session ON usage(session_id);

    CREATE TABLE budget_state (
        scope          TEXT NOT NULL CHECK (scope IN ('agent','repo','pod')),
        scope_ref      TEXT NOT NULL DEFAULT '',
        period         TEXT NOT NULL CHECK (period IN ('session','day','block','week')),
        used_tokens    INTEGER NOT NULL DEFAULT 0,
        used_usd       REAL NOT NULL DEFAULT 0,
        max_tokens     INTEGER,
        max_usd        REAL,
        fraction       REAL NOT NULL DEFAULT 0,
        burn_tokens_min REAL NOT NULL DEFAULT 0,
        burn_usd_hour  REAL NOT NULL DEFAULT 0,
        starts_at      REAL,
        resets_at      REAL,
        exhausts_at    REAL,
        updated_at     REAL NOT NULL,
        PRIMARY KEY (scope, scope_ref, period)
    );
    CREATE INDEX budget_state_over ON budget_state(fraction);
    """,
    # 3 -> 4: shared memory retrieval.
    #  - memory_fts again with the Porter stemmer, so "migrating" finds "migrations",
    #    and bm25 weights as its default rank (title 4, body 1, tags 2); the content
    #    table and its triggers are unchanged, the index is rebuilt from `memory`;
    #  - memory_scope: the SessionStart hook reads one repository's entries at a time.
    """
    DROP TABLE memory_fts;
    CREATE VIRTUAL TABLE memory_fts USING fts5(
        title, body, tags, content='memory', content_rowid='id',
        tokenize='porter unicode61 remove_diacritics 2'
    );
    INSERT INTO memory_fts(memory_fts) VALUES ('rebuild');
    INSERT INTO memory_fts(memory_fts, rank) VALUES ('rank', 'bm25(4.0, 1.0, 2.0)');
    CREATE INDEX memory_scope ON memory(scope, scope_ref, status, pinned, updated_at);
    """,
    # 4 -> 5: the boundary.
    #  - gates: the decider's display name beside the OS account in decided_by; the
    #    waiting hook's identity (pid + start time + host, so a dead waiter is told from
    #    a reused pid) and the agent process above it (nobody decides their own
    #    session's gate); the agent's governance when the gate was made ("no sandbox",
    #    "bypassPermissions", "asks to leave the sandbox");
    #  - agents: governance state from hook payloads and settings (permission mode,
    #    sandbox on/off, LoomTUI's hooks installed);
    #  - audit_subject: a decision's audit entry is found by its gate (the hook checks it
    #    before allowing; `audit verify` cross-checks every decided gate).
    """
    ALTER TABLE gates ADD COLUMN decided_name TEXT;
    ALTER TABLE gates ADD COLUMN waiter_started INTEGER;
    ALTER TABLE gates ADD COLUMN waiter_host TEXT;
    ALTER TABLE gates ADD COLUMN agent_pid INTEGER;
    ALTER TABLE gates ADD COLUMN agent_started INTEGER;
    ALTER TABLE gates ADD COLUMN governance TEXT NOT NULL DEFAULT '';
    ALTER TABLE agents ADD COLUMN permission_mode TEXT NOT NULL DEFAULT '';
    ALTER TABLE agents ADD COLUMN sandbox TEXT NOT NULL DEFAULT '';
    ALTER TABLE agents ADD COLUMN hooks TEXT NOT NULL DEFAULT '';
    CREATE INDEX audit_subject ON audit(subject, id);
    """,
    # 5 -> 6: usage rollups, kept by triggers in the writer's own transaction, so that
    # budgets, `loomtui usage` and the Usage tab read figures whose size does not grow
    # with history (see loomtui/store/rollups.py and docs/architecture.md "Costs that do
    # not grow with history"). No DELETE trigger on purpose: retention deletes old raw
    # rows, and the rollups keep counting them. The tables are filled from existing rows.
    _rollups_migration(),
)



SCHEMA_VERSION = len(MIGRATIONS)
