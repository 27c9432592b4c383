"""The pod store's schema and its forward-only migrations.

`MIGRATIONS[i]` takes a database from `PRAGMA user_version` i to i + 1. Never edit
a migration that has shipped; append a new one. The schema covers every aggregate
of the architecture (agents, events, usage, gates, memory, audit, ingest offsets,
leases, worktree diff stats, budgets) so later features add queries, not tables
that compete with each other.

Times are UTC seconds since the epoch (REAL). JSON columns hold text.
"""

from __future__ import annotations

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
    # 5 -> 6: retention's bookkeeping (loomtui/store/retention.py). `store_meta` holds small
    # named values about the store itself: `retention.events_through`, the highest event id
    # whose payload retention has dealt with (every older one is reduced or was kept on
    # purpose), so a run starts where the last one stopped and never rescans history; and
    # `retention.last_run`, what the last run that changed something did (JSON).
    """
    CREATE TABLE store_meta (
        name       TEXT PRIMARY KEY,
        value      TEXT NOT NULL,
        updated_at REAL NOT NULL
    );
    """,
    # 6 -> 7: usage rollups, kept by triggers in the writer's own transaction, so that
    # budgets, `loomtui usage` and the Usage tab read figures whose size does not grow
    # with history (see loomtui/store/rollups.py and docs/architecture.md "Costs that do
    # not grow with history"). No DELETE trigger on purpose: retention deletes old raw
    # rows, and the rollups keep counting them. The tables are filled from existing rows.
    #  - a 15-minute bucket is floor(ts / 900) * 900, exactly: the division can round up
    #    to the next integer for a time a hair below an edge, and then 900 is taken back;
    #  - edge: the row is exactly at its bucket's start (billing blocks need those apart);
    #  - cost_usd is the sum of the costs there are, costed how many rows had one;
    #  - usage_agent_quarters: tokens and cost per agent and bucket, all a budget's day needs
    #    (a third of usage_quarters' rows for today, and narrow ones).
    """
    CREATE TABLE usage_totals (
            agent_id INTEGER NOT NULL,
            session_id TEXT NOT NULL,
            model TEXT NOT NULL,
            kind TEXT NOT NULL,
            input_tokens INTEGER NOT NULL DEFAULT 0,
            output_tokens INTEGER NOT NULL DEFAULT 0,
            cache_write_tokens INTEGER NOT NULL DEFAULT 0,
            cache_read_tokens INTEGER NOT NULL DEFAULT 0,
            cost_usd REAL NOT NULL DEFAULT 0,
            costed INTEGER NOT NULL DEFAULT 0,
            n_table INTEGER NOT NULL DEFAULT 0,
            n_reported INTEGER NOT NULL DEFAULT 0,
            n_unpriced INTEGER NOT NULL DEFAULT 0,
            n_rows INTEGER NOT NULL DEFAULT 0,
            PRIMARY KEY (agent_id, session_id, model, kind)
        ) WITHOUT ROWID;
    CREATE TABLE usage_quarters (
            bucket INTEGER NOT NULL,
            agent_id INTEGER NOT NULL,
            session_id TEXT NOT NULL,
            model TEXT NOT NULL,
            kind TEXT NOT NULL,
            input_tokens INTEGER NOT NULL DEFAULT 0,
            output_tokens INTEGER NOT NULL DEFAULT 0,
            cache_write_tokens INTEGER NOT NULL DEFAULT 0,
            cache_read_tokens INTEGER NOT NULL DEFAULT 0,
            cost_usd REAL NOT NULL DEFAULT 0,
            costed INTEGER NOT NULL DEFAULT 0,
            n_table INTEGER NOT NULL DEFAULT 0,
            n_reported INTEGER NOT NULL DEFAULT 0,
            n_unpriced INTEGER NOT NULL DEFAULT 0,
            n_rows INTEGER NOT NULL DEFAULT 0,
            PRIMARY KEY (bucket, agent_id, session_id, model, kind)
        ) WITHOUT ROWID;
    CREATE TABLE usage_pod_quarters (
            bucket INTEGER NOT NULL,
            edge INTEGER NOT NULL,
            kind TEXT NOT NULL,
            input_tokens INTEGER NOT NULL DEFAULT 0,
            output_tokens INTEGER NOT NULL DEFAULT 0,
            cache_write_tokens INTEGER NOT NULL DEFAULT 0,
            cache_read_tokens INTEGER NOT NULL DEFAULT 0,
            cost_usd REAL NOT NULL DEFAULT 0,
            costed INTEGER NOT NULL DEFAULT 0,
            n_table INTEGER NOT NULL DEFAULT 0,
            n_reported INTEGER NOT NULL DEFAULT 0,
            n_unpriced INTEGER NOT NULL DEFAULT 0,
            n_rows INTEGER NOT NULL DEFAULT 0,
            min_ts REAL,
            max_ts REAL,
            PRIMARY KEY (bucket, edge, kind)
        ) WITHOUT ROWID;
    CREATE TABLE usage_minutes (
            agent_id INTEGER NOT NULL,
            minute REAL NOT NULL,
            tokens INTEGER NOT NULL DEFAULT 0,
            n_rows INTEGER NOT NULL DEFAULT 0,
            PRIMARY KEY (agent_id, minute)
        ) WITHOUT ROWID;
    CREATE TABLE usage_agent_quarters (
            bucket INTEGER NOT NULL,
            agent_id INTEGER NOT NULL,
            tokens INTEGER NOT NULL DEFAULT 0,
            cost_usd REAL NOT NULL DEFAULT 0,
            n_rows INTEGER NOT NULL DEFAULT 0,
            PRIMARY KEY (bucket, agent_id)
        ) WITHOUT ROWID;
    CREATE TRIGGER usage_rollup_insert AFTER INSERT ON usage BEGIN
        INSERT INTO usage_totals (agent_id, session_id, model, kind, input_tokens, output_tokens, cache_write_tokens, cache_read_tokens, cost_usd, costed, n_table, n_reported, n_unpriced, n_rows)
            VALUES (coalesce(new.agent_id, 0), new.session_id, new.model, new.kind, new.input_tokens, new.output_tokens, new.cache_write_tokens, new.cache_read_tokens, coalesce(new.cost_usd, 0), new.cost_usd IS NOT NULL, new.cost_source = 'table', new.cost_source = 'reported', new.cost_source = 'unpriced', 1)
            ON CONFLICT (agent_id, session_id, model, kind) DO UPDATE SET input_tokens = input_tokens + excluded.input_tokens, output_tokens = output_tokens + excluded.output_tokens, cache_write_tokens = cache_write_tokens + excluded.cache_write_tokens, cache_read_tokens = cache_read_tokens + excluded.cache_read_tokens, cost_usd = cost_usd + excluded.cost_usd, costed = costed + excluded.costed, n_table = n_table + excluded.n_table, n_reported = n_reported + excluded.n_reported, n_unpriced = n_unpriced + excluded.n_unpriced, n_rows = n_rows + excluded.n_rows;
        INSERT INTO usage_quarters (bucket, agent_id, session_id, model, kind, input_tokens, output_tokens, cache_write_tokens, cache_read_tokens, cost_usd, costed, n_table, n_reported, n_unpriced, n_rows)
            VALUES ((CAST(new.ts / 900 AS INTEGER) * 900 - 900 * (CAST(new.ts / 900 AS INTEGER) * 900 > new.ts)), coalesce(new.agent_id, 0), new.session_id, new.model, new.kind, new.input_tokens, new.output_tokens, new.cache_write_tokens, new.cache_read_tokens, coalesce(new.cost_usd, 0), new.cost_usd IS NOT NULL, new.cost_source = 'table', new.cost_source = 'reported', new.cost_source = 'unpriced', 1)
            ON CONFLICT (bucket, agent_id, session_id, model, kind) DO UPDATE SET input_tokens = input_tokens + excluded.input_tokens, output_tokens = output_tokens + excluded.output_tokens, cache_write_tokens = cache_write_tokens + excluded.cache_write_tokens, cache_read_tokens = cache_read_tokens + excluded.cache_read_tokens, cost_usd = cost_usd + excluded.cost_usd, costed = costed + excluded.costed, n_table = n_table + excluded.n_table, n_reported = n_reported + excluded.n_reported, n_unpriced = n_unpriced + excluded.n_unpriced, n_rows = n_rows + excluded.n_rows;
        INSERT INTO usage_pod_quarters (bucket, edge, kind, input_tokens, output_tokens, cache_write_tokens, cache_read_tokens, cost_usd, costed, n_table, n_reported, n_unpriced, n_rows, min_ts, max_ts)
            VALUES ((CAST(new.ts / 900 AS INTEGER) * 900 - 900 * (CAST(new.ts / 900 AS INTEGER) * 900 > new.ts)), (CAST(new.ts / 900 AS INTEGER) * 900 = new.ts), new.kind, new.input_tokens, new.output_tokens, new.cache_write_tokens, new.cache_read_tokens, coalesce(new.cost_usd, 0), new.cost_usd IS NOT NULL, new.cost_source = 'table', new.cost_source = 'reported', new.cost_source = 'unpriced', 1, new.ts, new.ts)
            ON CONFLICT (bucket, edge, kind) DO UPDATE SET input_tokens = input_tokens + excluded.input_tokens, output_tokens = output_tokens + excluded.output_tokens, cache_write_tokens = cache_write_tokens + excluded.cache_write_tokens, cache_read_tokens = cache_read_tokens + excluded.cache_read_tokens, cost_usd = cost_usd + excluded.cost_usd, costed = costed + excluded.costed, n_table = n_table + excluded.n_table, n_reported = n_reported + excluded.n_reported, n_unpriced = n_unpriced + excluded.n_unpriced, n_rows = n_rows + excluded.n_rows, min_ts = min(min_ts, excluded.min_ts), max_ts = max(max_ts, excluded.max_ts);
        INSERT INTO usage_minutes (agent_id, minute, tokens, n_rows)
            SELECT new.agent_id, CAST(new.ts / 60 AS INTEGER) * 60.0, new.input_tokens + new.output_tokens + new.cache_write_tokens + new.cache_read_tokens, 1 WHERE new.agent_id IS NOT NULL
            ON CONFLICT (agent_id, minute) DO UPDATE SET tokens = tokens + excluded.tokens,
                n_rows = n_rows + 1;
        INSERT INTO usage_agent_quarters (bucket, agent_id, tokens, cost_usd, n_rows)
            SELECT (CAST(new.ts / 900 AS INTEGER) * 900 - 900 * (CAST(new.ts / 900 AS INTEGER) * 900 > new.ts)), new.agent_id, new.input_tokens + new.output_tokens + new.cache_write_tokens + new.cache_read_tokens, coalesce(new.cost_usd, 0), 1 WHERE new.agent_id IS NOT NULL
            ON CONFLICT (bucket, agent_id) DO UPDATE SET tokens = tokens + excluded.tokens,
                cost_usd = cost_usd + excluded.cost_usd, n_rows = n_rows + 1;
    END;
    CREATE TRIGGER usage_rollup_update AFTER UPDATE OF agent_id, session_id, ts, model, kind, input_tokens, output_tokens, cache_write_tokens, cache_read_tokens, cost_usd, cost_source ON usage BEGIN
        UPDATE usage_totals SET input_tokens = input_tokens - old.input_tokens,
                output_tokens = output_tokens - old.output_tokens,
                cache_write_tokens = cache_write_tokens - old.cache_write_tokens,
                cache_read_tokens = cache_read_tokens - old.cache_read_tokens,
                cost_usd = cost_usd - (coalesce(old.cost_usd, 0)),
                costed = costed - (old.cost_usd IS NOT NULL),
                n_table = n_table - (old.cost_source = 'table'),
                n_reported = n_reported - (old.cost_source = 'reported'),
                n_unpriced = n_unpriced - (old.cost_source = 'unpriced'),
                n_rows = n_rows - 1
            WHERE agent_id = coalesce(old.agent_id, 0) AND session_id = old.session_id AND model = old.model AND kind = old.kind;
        UPDATE usage_quarters SET input_tokens = input_tokens - old.input_tokens,
                output_tokens = output_tokens - old.output_tokens,
                cache_write_tokens = cache_write_tokens - old.cache_write_tokens,
                cache_read_tokens = cache_read_tokens - old.cache_read_tokens,
                cost_usd = cost_usd - (coalesce(old.cost_usd, 0)),
                costed = costed - (old.cost_usd IS NOT NULL),
                n_table = n_table - (old.cost_source = 'table'),
                n_reported = n_reported - (old.cost_source = 'reported'),
                n_unpriced = n_unpriced - (old.cost_source = 'unpriced'),
                n_rows = n_rows - 1
            WHERE bucket = (CAST(old.ts / 900 AS INTEGER) * 900 - 900 * (CAST(old.ts / 900 AS INTEGER) * 900 > old.ts)) AND agent_id = coalesce(old.agent_id, 0) AND session_id = old.session_id AND model = old.model AND kind = old.kind;
        UPDATE usage_pod_quarters SET input_tokens = input_tokens - old.input_tokens,
                output_tokens = output_tokens - old.output_tokens,
                cache_write_tokens = cache_write_tokens - old.cache_write_tokens,
                cache_read_tokens = cache_read_tokens - old.cache_read_tokens,
                cost_usd = cost_usd - (coalesce(old.cost_usd, 0)),
                costed = costed - (old.cost_usd IS NOT NULL),
                n_table = n_table - (old.cost_source = 'table'),
                n_reported = n_reported - (old.cost_source = 'reported'),
                n_unpriced = n_unpriced - (old.cost_source = 'unpriced'),
                n_rows = n_rows - 1
            WHERE bucket = (CAST(old.ts / 900 AS INTEGER) * 900 - 900 * (CAST(old.ts / 900 AS INTEGER) * 900 > old.ts)) AND edge = (CAST(old.ts / 900 AS INTEGER) * 900 = old.ts) AND kind = old.kind;
        UPDATE usage_minutes SET tokens = tokens - (old.input_tokens + old.output_tokens + old.cache_write_tokens + old.cache_read_tokens), n_rows = n_rows - 1
            WHERE agent_id = old.agent_id AND minute = CAST(old.ts / 60 AS INTEGER) * 60.0;
        UPDATE usage_agent_quarters SET tokens = tokens - (old.input_tokens + old.output_tokens + old.cache_write_tokens + old.cache_read_tokens), cost_usd = cost_usd - coalesce(old.cost_usd, 0), n_rows = n_rows - 1
            WHERE bucket = (CAST(old.ts / 900 AS INTEGER) * 900 - 900 * (CAST(old.ts / 900 AS INTEGER) * 900 > old.ts)) AND agent_id = old.agent_id;
        INSERT INTO usage_totals (agent_id, session_id, model, kind, input_tokens, output_tokens, cache_write_tokens, cache_read_tokens, cost_usd, costed, n_table, n_reported, n_unpriced, n_rows)
            VALUES (coalesce(new.agent_id, 0), new.session_id, new.model, new.kind, new.input_tokens, new.output_tokens, new.cache_write_tokens, new.cache_read_tokens, coalesce(new.cost_usd, 0), new.cost_usd IS NOT NULL, new.cost_source = 'table', new.cost_source = 'reported', new.cost_source = 'unpriced', 1)
            ON CONFLICT (agent_id, session_id, model, kind) DO UPDATE SET input_tokens = input_tokens + excluded.input_tokens, output_tokens = output_tokens + excluded.output_tokens, cache_write_tokens = cache_write_tokens + excluded.cache_write_tokens, cache_read_tokens = cache_read_tokens + excluded.cache_read_tokens, cost_usd = cost_usd + excluded.cost_usd, costed = costed + excluded.costed, n_table = n_table + excluded.n_table, n_reported = n_reported + excluded.n_reported, n_unpriced = n_unpriced + excluded.n_unpriced, n_rows = n_rows + excluded.n_rows;
        INSERT INTO usage_quarters (bucket, agent_id, session_id, model, kind, input_tokens, output_tokens, cache_write_tokens, cache_read_tokens, cost_usd, costed, n_table, n_reported, n_unpriced, n_rows)
            VALUES ((CAST(new.ts / 900 AS INTEGER) * 900 - 900 * (CAST(new.ts / 900 AS INTEGER) * 900 > new.ts)), coalesce(new.agent_id, 0), new.session_id, new.model, new.kind, new.input_tokens, new.output_tokens, new.cache_write_tokens, new.cache_read_tokens, coalesce(new.cost_usd, 0), new.cost_usd IS NOT NULL, new.cost_source = 'table', new.cost_source = 'reported', new.cost_source = 'unpriced', 1)
            ON CONFLICT (bucket, agent_id, session_id, model, kind) DO UPDATE SET input_tokens = input_tokens + excluded.input_tokens, output_tokens = output_tokens + excluded.output_tokens, cache_write_tokens = cache_write_tokens + excluded.cache_write_tokens, cache_read_tokens = cache_read_tokens + excluded.cache_read_tokens, cost_usd = cost_usd + excluded.cost_usd, costed = costed + excluded.costed, n_table = n_table + excluded.n_table, n_reported = n_reported + excluded.n_reported, n_unpriced = n_unpriced + excluded.n_unpriced, n_rows = n_rows + excluded.n_rows;
        INSERT INTO usage_pod_quarters (bucket, edge, kind, input_tokens, output_tokens, cache_write_tokens, cache_read_tokens, cost_usd, costed, n_table, n_reported, n_unpriced, n_rows, min_ts, max_ts)
            VALUES ((CAST(new.ts / 900 AS INTEGER) * 900 - 900 * (CAST(new.ts / 900 AS INTEGER) * 900 > new.ts)), (CAST(new.ts / 900 AS INTEGER) * 900 = new.ts), new.kind, new.input_tokens, new.output_tokens, new.cache_write_tokens, new.cache_read_tokens, coalesce(new.cost_usd, 0), new.cost_usd IS NOT NULL, new.cost_source = 'table', new.cost_source = 'reported', new.cost_source = 'unpriced', 1, new.ts, new.ts)
            ON CONFLICT (bucket, edge, kind) DO UPDATE SET input_tokens = input_tokens + excluded.input_tokens, output_tokens = output_tokens + excluded.output_tokens, cache_write_tokens = cache_write_tokens + excluded.cache_write_tokens, cache_read_tokens = cache_read_tokens + excluded.cache_read_tokens, cost_usd = cost_usd + excluded.cost_usd, costed = costed + excluded.costed, n_table = n_table + excluded.n_table, n_reported = n_reported + excluded.n_reported, n_unpriced = n_unpriced + excluded.n_unpriced, n_rows = n_rows + excluded.n_rows, min_ts = min(min_ts, excluded.min_ts), max_ts = max(max_ts, excluded.max_ts);
        INSERT INTO usage_minutes (agent_id, minute, tokens, n_rows)
            SELECT new.agent_id, CAST(new.ts / 60 AS INTEGER) * 60.0, new.input_tokens + new.output_tokens + new.cache_write_tokens + new.cache_read_tokens, 1 WHERE new.agent_id IS NOT NULL
            ON CONFLICT (agent_id, minute) DO UPDATE SET tokens = tokens + excluded.tokens,
                n_rows = n_rows + 1;
        INSERT INTO usage_agent_quarters (bucket, agent_id, tokens, cost_usd, n_rows)
            SELECT (CAST(new.ts / 900 AS INTEGER) * 900 - 900 * (CAST(new.ts / 900 AS INTEGER) * 900 > new.ts)), new.agent_id, new.input_tokens + new.output_tokens + new.cache_write_tokens + new.cache_read_tokens, coalesce(new.cost_usd, 0), 1 WHERE new.agent_id IS NOT NULL
            ON CONFLICT (bucket, agent_id) DO UPDATE SET tokens = tokens + excluded.tokens,
                cost_usd = cost_usd + excluded.cost_usd, n_rows = n_rows + 1;
    END;
    INSERT INTO usage_totals (agent_id, session_id, model, kind, input_tokens, output_tokens, cache_write_tokens, cache_read_tokens, cost_usd, costed, n_table, n_reported, n_unpriced, n_rows)
        SELECT coalesce(agent_id, 0), session_id, model, kind, sum(input_tokens), sum(output_tokens), sum(cache_write_tokens), sum(cache_read_tokens), total(cost_usd), count(cost_usd), sum(cost_source = 'table'), sum(cost_source = 'reported'), sum(cost_source = 'unpriced'), count(*)
        FROM usage GROUP BY 1, 2, 3, 4;
    INSERT INTO usage_quarters (bucket, agent_id, session_id, model, kind, input_tokens, output_tokens, cache_write_tokens, cache_read_tokens, cost_usd, costed, n_table, n_reported, n_unpriced, n_rows)
        SELECT (CAST(ts / 900 AS INTEGER) * 900 - 900 * (CAST(ts / 900 AS INTEGER) * 900 > ts)), coalesce(agent_id, 0), session_id, model, kind, sum(input_tokens), sum(output_tokens), sum(cache_write_tokens), sum(cache_read_tokens), total(cost_usd), count(cost_usd), sum(cost_source = 'table'), sum(cost_source = 'reported'), sum(cost_source = 'unpriced'), count(*)
        FROM usage GROUP BY 1, 2, 3, 4, 5;
    INSERT INTO usage_pod_quarters (bucket, edge, kind, input_tokens, output_tokens, cache_write_tokens, cache_read_tokens, cost_usd, costed, n_table, n_reported, n_unpriced, n_rows, min_ts, max_ts)
        SELECT (CAST(ts / 900 AS INTEGER) * 900 - 900 * (CAST(ts / 900 AS INTEGER) * 900 > ts)), (CAST(ts / 900 AS INTEGER) * 900 = ts), kind, sum(input_tokens), sum(output_tokens), sum(cache_write_tokens), sum(cache_read_tokens), total(cost_usd), count(cost_usd), sum(cost_source = 'table'), sum(cost_source = 'reported'), sum(cost_source = 'unpriced'), count(*), min(ts), max(ts)
        FROM usage GROUP BY 1, 2, 3;
    INSERT INTO usage_minutes (agent_id, minute, tokens, n_rows)
        SELECT agent_id, CAST(ts / 60 AS INTEGER) * 60.0, sum(usage.input_tokens + usage.output_tokens + usage.cache_write_tokens + usage.cache_read_tokens), count(*)
        FROM usage WHERE agent_id IS NOT NULL GROUP BY 1, 2;
    INSERT INTO usage_agent_quarters (bucket, agent_id, tokens, cost_usd, n_rows)
        SELECT (CAST(ts / 900 AS INTEGER) * 900 - 900 * (CAST(ts / 900 AS INTEGER) * 900 > ts)), agent_id, sum(input_tokens + output_tokens + cache_write_tokens + cache_read_tokens), total(cost_usd), count(*)
        FROM usage WHERE agent_id IS NOT NULL GROUP BY 1, 2;
    """,
    # 7 -> 8: presence (issue 13): each console's heartbeat (loomtui/store/presence.py): who
    # supervises there (the OS account and the display name) and what it looks at; a row
    # whose heartbeat is older than presence.STALE_AFTER is a console that went away. A
    # claim names the console it was made from (claimed_presence) and lapses with it;
    # claimed_name is the claimer's display name, shown beside the account.
    """
    CREATE TABLE presence (
        id         TEXT PRIMARY KEY,
        account    TEXT NOT NULL,
        display    TEXT NOT NULL,
        screen     TEXT NOT NULL DEFAULT '',
        subject    TEXT NOT NULL DEFAULT '',
        host       TEXT NOT NULL DEFAULT '',
        pid        INTEGER,
        started_at REAL NOT NULL,
        seen_at    REAL NOT NULL
    );
    ALTER TABLE gates ADD COLUMN claimed_name TEXT;
    ALTER TABLE gates ADD COLUMN claimed_presence TEXT;
    """,
    # 8 -> 9: reaching people and agents (issue 13, items 5 and 7).
    #  - agents.tmux_pane / tmux_socket: the agent's $TMUX_PANE and its tmux server's
    #    socket (the first field of $TMUX), as its hooks saw them; '' outside tmux. The
    #    console's jump key switches the supervisor's tmux client there.
    #  - notifications: one row per event sent outside the console ([notify] command and
    #    urls), keyed by the event (`gate:12`, `question:345`, `ungoverned:7:...`). A
    #    sender claims an event with INSERT OR IGNORE before sending, so of two senders
    #    racing (the pod service and a hook's detached sender) exactly one sends it; the
    #    row then says how it went (`loomtui status` reports the failed ones).
    """
    ALTER TABLE agents ADD COLUMN tmux_pane TEXT NOT NULL DEFAULT '';
    ALTER TABLE agents ADD COLUMN tmux_socket TEXT NOT NULL DEFAULT '';
    CREATE TABLE notifications (
        key        TEXT PRIMARY KEY,
        kind       TEXT NOT NULL,
        agent_id   INTEGER REFERENCES agents(id) ON DELETE SET NULL,
        summary    TEXT NOT NULL DEFAULT '',
        created_at REAL NOT NULL,
        sender     TEXT NOT NULL DEFAULT '',
        status     TEXT NOT NULL DEFAULT 'sending' CHECK (status IN ('sending','sent','failed')),
        sent_at    REAL,
        error      TEXT NOT NULL DEFAULT ''
    ) WITHOUT ROWID;
    CREATE INDEX notifications_status ON notifications(status, created_at);
    """,
    # 9 -> 10: conflict forecast (issue 13, item 6): would two agents' worktrees (or one and its
    # base) merge cleanly? One row per pair, written by the diff service
    # (loomtui/git/conflicts.py); `ours`/`theirs` are the commit ids merged (snapshots of
    # uncommitted work included), the cache key: a pair is merged again only when one moves.
    """
    CREATE TABLE merge_forecasts (
        worktree TEXT NOT NULL,
        other TEXT NOT NULL,  -- the other worktree's path (worktree < other), '' for the base
        repo TEXT NOT NULL,
        base TEXT,
        ours TEXT NOT NULL,
        theirs TEXT NOT NULL,
        state TEXT NOT NULL,  -- conflict | overlap | clean
        files TEXT NOT NULL,  -- NUL-joined: conflicting files, or the files both change
        updated_at REAL NOT NULL,
        PRIMARY KEY (worktree, other)
    ) WITHOUT ROWID;
    CREATE INDEX merge_forecasts_other ON merge_forecasts(other);
    """,
    # 10 -> 11: the console's read of the conflict forecast stops growing with the pairs
    # (20,100 rows at 200 agents, about 90 % of them clean): it reads only the rows it shows
    # (conflicts, overlaps, and each worktree's row against its base, which says a forecast
    # was made), through a partial index; its change mark is the latest write (an index) and
    # a count of deletions kept by a trigger, where it was max() and count() over the table.
    """
    CREATE INDEX merge_forecasts_updated ON merge_forecasts(updated_at);
    CREATE INDEX merge_forecasts_shown ON merge_forecasts(worktree, other)
        WHERE state != 'clean' OR other = '';
    CREATE TRIGGER merge_forecasts_deleted AFTER DELETE ON merge_forecasts BEGIN
        INSERT INTO store_meta (name, value, updated_at) VALUES ('forecasts.deletions', '1', old.updated_at)
        ON CONFLICT (name) DO UPDATE SET value = CAST(value AS INTEGER) + 1;
    END;
    """,
    # 11 -> 12: issue 14, grants (the `grants` helper): a supervisor's "allow calls like this" for one
    # agent (agent_id) or every agent in a repository (repo), one rule and one shape of call
    # (narrowed by `pattern`), until expires_at or revocation (loomtui/store/grants.py). Each
    # row is honoured by the hook only beside its `grant.created` audit entry. The hook looks
    # grants up by the agent or the repository and the rule, one indexed read.
    """
    CREATE TABLE grants (
        id            INTEGER PRIMARY KEY,
        scope         TEXT NOT NULL CHECK (scope IN ('agent','repo')),
        agent_id      INTEGER,
        agent_name    TEXT NOT NULL DEFAULT '',
        repo          TEXT NOT NULL DEFAULT '',
        rule          TEXT NOT NULL,
        tool          TEXT NOT NULL,
        shape         TEXT NOT NULL,
        pattern       TEXT NOT NULL,
        gate_id       INTEGER,
        granted_by    TEXT NOT NULL,
        granted_name  TEXT,
        reason        TEXT NOT NULL,
        created_at    REAL NOT NULL,
        expires_at    REAL NOT NULL,
        status        TEXT NOT NULL DEFAULT 'active' CHECK (status IN ('active','revoked','expired')),
        revoked_by    TEXT,
        revoked_at    REAL,
        revoke_reason TEXT,
        uses          INTEGER NOT NULL DEFAULT 0,
        last_used_at  REAL,
        flagged       TEXT NOT NULL DEFAULT '',
        flagged_at    REAL
    );
    CREATE INDEX grants_rule ON grants(rule, status, expires_at);
    CREATE INDEX grants_agent ON grants(agent_id, rule, status, expires_at);
    CREATE INDEX grants_repo ON grants(repo, rule, status, expires_at);
    """,
    # 12 -> 13: issue 14, the record (helper "record"): per agent and per agent x policy rule, how its
    # gated calls were decided, kept current in the writer's own transaction and never
    # computed by scanning history (loomtui/store/record.py). The gate counts and each
    # rule's streak (approvals since the last rejection, denial or expiry) are kept by the
    # triggers on `gates` below, the calls answered by a grant by a trigger on their
    # `grant.used` audit entry (which names the agent and the rule); policy denials, test
    # runs and reverts are counted by their writer (the hook) through store/recorder.py.
    # Budget overruns are the budget gates created. `recent_tests` / `recent_reverts`: the
    # last few, as JSON (newest first). Filled from the existing gates and grant.used entries
    # (indexed); denials, tests and reverts before this migration are not counted (they
    # would need a scan of every event).
    """
    CREATE TABLE agent_record (
        agent_id        INTEGER PRIMARY KEY,
        gated           INTEGER NOT NULL DEFAULT 0,
        approved        INTEGER NOT NULL DEFAULT 0,
        rejected        INTEGER NOT NULL DEFAULT 0,
        denied          INTEGER NOT NULL DEFAULT 0,
        expired         INTEGER NOT NULL DEFAULT 0,
        granted         INTEGER NOT NULL DEFAULT 0,
        budget_overruns INTEGER NOT NULL DEFAULT 0,
        last_overrun_at REAL,
        tests_passed    INTEGER NOT NULL DEFAULT 0,
        tests_failed    INTEGER NOT NULL DEFAULT 0,
        tests_unknown   INTEGER NOT NULL DEFAULT 0,
        last_test_at    REAL,
        last_test_passed INTEGER,  -- the last run whose outcome is known: 1 passed, 0 failed
        recent_tests    TEXT NOT NULL DEFAULT '[]',
        reverts         INTEGER NOT NULL DEFAULT 0,
        last_revert_at  REAL,
        recent_reverts  TEXT NOT NULL DEFAULT '[]',
        updated_at      REAL NOT NULL DEFAULT 0
    );
    CREATE TABLE agent_rule_record (
        agent_id      INTEGER NOT NULL,
        rule          TEXT NOT NULL,
        gated         INTEGER NOT NULL DEFAULT 0,
        approved      INTEGER NOT NULL DEFAULT 0,
        rejected      INTEGER NOT NULL DEFAULT 0,
        denied        INTEGER NOT NULL DEFAULT 0,
        expired       INTEGER NOT NULL DEFAULT 0,
        granted       INTEGER NOT NULL DEFAULT 0,
        streak        INTEGER NOT NULL DEFAULT 0,
        last_break    TEXT NOT NULL DEFAULT '',   -- rejected | denied | expired: what ended the last streak
        last_break_at REAL,
        last_at       REAL,
        PRIMARY KEY (agent_id, rule)
    ) WITHOUT ROWID;
    CREATE TRIGGER record_gate_created AFTER INSERT ON gates WHEN new.agent_id IS NOT NULL BEGIN
        INSERT INTO agent_record (agent_id, gated, budget_overruns, last_overrun_at, updated_at)
            VALUES (new.agent_id, 1, (new.risk = 'budget' OR new.rule LIKE 'budget:%'),
                    CASE WHEN new.risk = 'budget' OR new.rule LIKE 'budget:%' THEN new.created_at END,
                    new.created_at)
            ON CONFLICT (agent_id) DO UPDATE SET gated = gated + 1,
                budget_overruns = budget_overruns + excluded.budget_overruns,
                last_overrun_at = coalesce(excluded.last_overrun_at, last_overrun_at),
                updated_at = excluded.updated_at;
        INSERT INTO agent_rule_record (agent_id, rule, gated, last_at)
            VALUES (new.agent_id, new.rule, 1, new.created_at)
            ON CONFLICT (agent_id, rule) DO UPDATE SET gated = gated + 1, last_at = excluded.last_at;
    END;
    CREATE TRIGGER record_gate_decided AFTER UPDATE OF status ON gates
        WHEN new.agent_id IS NOT NULL AND old.status = 'pending'
             AND new.status IN ('approved', 'rejected', 'expired') BEGIN
        INSERT INTO agent_record (agent_id, approved, rejected, expired, updated_at)
            VALUES (new.agent_id, new.status = 'approved', new.status = 'rejected',
                    new.status = 'expired', coalesce(new.decided_at, new.created_at))
            ON CONFLICT (agent_id) DO UPDATE SET approved = approved + excluded.approved,
                rejected = rejected + excluded.rejected, expired = expired + excluded.expired,
                updated_at = excluded.updated_at;
        INSERT INTO agent_rule_record (agent_id, rule, approved, rejected, expired, streak,
                                       last_break, last_break_at, last_at)
            VALUES (new.agent_id, new.rule, new.status = 'approved', new.status = 'rejected',
                    new.status = 'expired', new.status = 'approved',
                    CASE WHEN new.status = 'approved' THEN '' ELSE new.status END,
                    CASE WHEN new.status = 'approved' THEN NULL ELSE new.decided_at END,
                    coalesce(new.decided_at, new.created_at))
            ON CONFLICT (agent_id, rule) DO UPDATE SET approved = approved + excluded.approved,
                rejected = rejected + excluded.rejected, expired = expired + excluded.expired,
                streak = CASE WHEN excluded.approved THEN streak + 1 ELSE 0 END,
                last_break = CASE WHEN excluded.approved THEN last_break ELSE excluded.last_break END,
                last_break_at = CASE WHEN excluded.approved THEN last_break_at ELSE excluded.last_break_at END,
                last_at = excluded.last_at;
    END;
    INSERT INTO agent_record (agent_id, gated, approved, rejected, expired, budget_overruns,
                              last_overrun_at, updated_at)
        SELECT agent_id, count(*), sum(status = 'approved'), sum(status = 'rejected'),
               sum(status = 'expired'), sum(risk = 'budget' OR rule LIKE 'budget:%'),
               max(CASE WHEN risk = 'budget' OR rule LIKE 'budget:%' THEN created_at END),
               max(coalesce(decided_at, created_at))
        FROM gates WHERE agent_id IS NOT NULL GROUP BY agent_id;
    WITH breaks AS (
        SELECT agent_id, rule, status, decided_at,
               row_number() OVER (PARTITION BY agent_id, rule ORDER BY decided_at DESC, id DESC) AS n
        FROM gates WHERE agent_id IS NOT NULL AND status IN ('rejected', 'expired'))
    INSERT INTO agent_rule_record (agent_id, rule, gated, approved, rejected, expired, streak,
                                   last_break, last_break_at, last_at)
        SELECT g.agent_id, g.rule, count(*), sum(g.status = 'approved'), sum(g.status = 'rejected'),
               sum(g.status = 'expired'),
               sum(g.status = 'approved' AND coalesce(g.decided_at, 0) > coalesce(b.decided_at, -1)),
               coalesce(b.status, ''), b.decided_at, max(coalesce(g.decided_at, g.created_at))
        FROM gates g LEFT JOIN breaks b ON b.agent_id = g.agent_id AND b.rule = g.rule AND b.n = 1
        WHERE g.agent_id IS NOT NULL GROUP BY g.agent_id, g.rule;
    CREATE TRIGGER record_grant_used AFTER INSERT ON audit
        WHEN new.action = 'grant.used' AND json_valid(new.detail)
             AND typeof(json_extract(new.detail, '$.agent_id')) = 'integer' BEGIN
        INSERT INTO agent_record (agent_id, granted, updated_at)
            VALUES (json_extract(new.detail, '$.agent_id'), 1, new.ts)
            ON CONFLICT (agent_id) DO UPDATE SET granted = granted + 1, updated_at = excluded.updated_at;
        INSERT INTO agent_rule_record (agent_id, rule, granted, last_at)
            VALUES (json_extract(new.detail, '$.agent_id'), coalesce(json_extract(new.detail, '$.rule'), ''),
                    1, new.ts)
            ON CONFLICT (agent_id, rule) DO UPDATE SET granted = granted + 1, last_at = excluded.last_at;
    END;
    INSERT INTO agent_record (agent_id, granted, updated_at)
        SELECT json_extract(detail, '$.agent_id'), count(*), max(ts) FROM audit
        WHERE action = 'grant.used' AND json_valid(detail)
              AND typeof(json_extract(detail, '$.agent_id')) = 'integer' GROUP BY 1
        ON CONFLICT (agent_id) DO UPDATE SET granted = granted + excluded.granted;
    INSERT INTO agent_rule_record (agent_id, rule, granted, last_at)
        SELECT json_extract(detail, '$.agent_id'), coalesce(json_extract(detail, '$.rule'), ''), count(*),
               max(ts) FROM audit
        WHERE action = 'grant.used' AND json_valid(detail)
              AND typeof(json_extract(detail, '$.agent_id')) = 'integer' GROUP BY 1, 2
        ON CONFLICT (agent_id, rule) DO UPDATE SET granted = granted + excluded.granted,
            last_at = max(coalesce(last_at, 0), excluded.last_at);
    """,
    # 13 -> 14: issue 14, item 4 (drift): each agent's configuration fingerprint
    # (loomtui/store/fingerprint.py): a JSON object of its agent kind, CLI version, model,
    # permission mode, sandbox, LoomTUI hooks, short hashes of its settings, instruction and
    # MCP files and its MCP servers, with the paths it read (`files`); fingerprint_hash is
    # a short hash of it (without the paths), '' before the first computation.
    """
    ALTER TABLE agents ADD COLUMN fingerprint TEXT NOT NULL DEFAULT '{}';
    ALTER TABLE agents ADD COLUMN fingerprint_hash TEXT NOT NULL DEFAULT '';
    """,
    # 14 -> 15: issue 14, item 5 (ungov): ungoverned agents, by evidence (loomtui/store/unreported.py).
    #  - events.tool_use_id: the tool-use id of the hook call an event records (Claude
    #    Code's and Codex's `tool_use_id`), indexed where present: "did a hook report this
    #    call?" is one index probe, never a scan of history.
    #  - transcript_calls: the tool calls recent transcript lines show, awaiting that match
    #    (a small table: a call is deleted once matched; one left unmatched past the grace
    #    is kept, marked, until it ages out).
    #  - agents.ungoverned_at (NULL: not marked), ungoverned_why, unreported (calls never
    #    reported, this session), unreported_at (the last one found), heard_at (the last
    #    time a transcript call of it was matched with a hook's report): the status
    #    `ungoverned` is derived from these, so agents.status and its CHECK stay as they are.
    """
    ALTER TABLE events ADD COLUMN tool_use_id TEXT;
    CREATE INDEX events_tool_use ON events(tool_use_id) WHERE tool_use_id IS NOT NULL;
    CREATE TABLE transcript_calls (
        tool_use_id TEXT PRIMARY KEY,
        agent_id    INTEGER NOT NULL REFERENCES agents(id) ON DELETE CASCADE,
        tool        TEXT NOT NULL DEFAULT '',
        ts          REAL NOT NULL,  -- the line's own time
        read_at     REAL NOT NULL,  -- when the ingester read it: the grace runs from here
        unreported  INTEGER NOT NULL DEFAULT 0  -- 1: no hook reported it within the grace
    ) WITHOUT ROWID;
    CREATE INDEX transcript_calls_read ON transcript_calls(unreported, read_at);
    ALTER TABLE agents ADD COLUMN ungoverned_at REAL;
    ALTER TABLE agents ADD COLUMN ungoverned_why TEXT NOT NULL DEFAULT '';
    ALTER TABLE agents ADD COLUMN unreported INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE agents ADD COLUMN unreported_at REAL;
    ALTER TABLE agents ADD COLUMN heard_at REAL;
    """,
    # 15 -> 16: issue 14, suggestions per repository (helper "reposuggest"): the gates of one
    # rule, newest decision first, so record.repo_suggestion reads a repository's recent
    # decisions of a rule (with a LIMIT and a time window), never the whole history.
    """
    CREATE INDEX gates_rule_decided ON gates(rule, decided_at);
    """,
)



SCHEMA_VERSION = len(MIGRATIONS)
