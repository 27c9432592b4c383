"""The console's read of the conflict forecast at 200 agents (issue 13's leftover).

    python bench/forecast_read.py                 # 200 worktrees: 20,100 rows
    python bench/forecast_read.py --worktrees 400 --rounds 50

A synthetic `merge_forecasts` table as the diff service leaves it for one repository of
`--worktrees` agent worktrees: every pair and each worktree against its base, 90 % of the
pairs clean, 9 % overlapping, 1 % conflicting (the demo's 200-agent pod has 8 conflicts and
174 overlaps against their bases; pairs are mostly clean). Measured side by side in one run
on one store, median of `--rounds`:

- the console's old read (every row) vs its read now (the rows it shows: conflicts,
  overlaps, and the rows against a base, through the partial index), rows turned into
  `Forecast`s as the console does;
- the old change mark (max(updated_at), count(*) over the table, read on every refresh)
  vs the mark now (an indexed max and a deletion count in store_meta).

Raw numbers only; exits 0 unless the benchmark could not run.
"""

from __future__ import annotations

import argparse
import json
import platform
import random
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from loomtui.store.db import connect, db_path  # noqa: E402
from loomtui.store.forecasts import (  # noqa: E402
    CHANGE_MARK_SQL,
    FORECASTS_SQL,
    SHOWN_SQL,
    Forecast,
    forecast_from_row,
    save_forecasts,
)

OLD_MARK_SQL = "SELECT max(updated_at), count(*) FROM merge_forecasts"


def fill(conn, worktrees: int, seed: int) -> int:
    rng = random.Random(seed)
    paths = [f"/work/repo/.worktrees/agent-{i:03d}" for i in range(worktrees)]
    now = time.time()
    rows = []
    for i, a in enumerate(paths):
        state = rng.choices(["clean", "overlap", "conflict"], [0.1, 0.86, 0.04])[0]
        rows.append(Forecast(a, "", "/work/repo", "main", "a" * 40, "b" * 40, state,
                             ("src/app.py",) if state != "clean" else (), now))
        for b in paths[i + 1:]:
            state = rng.choices(["clean", "overlap", "conflict"], [0.90, 0.09, 0.01])[0]
            rows.append(Forecast(a, b, "/work/repo", None, "a" * 40, "c" * 40, state,
                                 ("src/app.py", "src/db.py") if state != "clean" else (), now))
    save_forecasts(conn, rows)
    return len(rows)


def timed(conn, sql: str, rounds: int, convert: bool) -> tuple[float, int]:
    times, n = [], 0
    for _ in range(rounds):
        start = time.perf_counter()
        rows = conn.execute(sql).fetchall()
        if convert:
            rows = [forecast_from_row(r) for r in rows]
        times.append((time.perf_counter() - start) * 1000)
        n = len(rows)
    return statistics.median(times), n


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--worktrees", type=int, default=200)
    ap.add_argument("--rounds", type=int, default=30)
    ap.add_argument("--seed", type=int, default=13)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        conn = connect(db_path(Path(tmp)), create=True)
        total = fill(conn, args.worktrees, args.seed)
        old_read, old_rows = timed(conn, FORECASTS_SQL, args.rounds, True)
        new_read, new_rows = timed(conn, SHOWN_SQL, args.rounds, True)
        old_mark, _ = timed(conn, OLD_MARK_SQL, args.rounds * 10, False)
        new_mark, _ = timed(conn, CHANGE_MARK_SQL, args.rounds * 10, False)
        conn.close()
    result = {"date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"), "machine": platform.machine(),
              "python": platform.python_version(), "worktrees": args.worktrees, "rows": total,
              "read_all_ms": round(old_read, 2), "read_all_rows": old_rows,
              "read_shown_ms": round(new_read, 2), "read_shown_rows": new_rows,
              "mark_old_ms": round(old_mark, 3), "mark_new_ms": round(new_mark, 3)}
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    print(f"# console forecast read, {result['date']}, {result['machine']}, Python {result['python']}")
    print(f"{args.worktrees} worktrees, {total} rows")
    print(f"read (old: every row)   {old_read:8.2f} ms  {old_rows} rows")
    print(f"read (now: shown rows)  {new_read:8.2f} ms  {new_rows} rows")
    print(f"change mark (old)       {old_mark:8.3f} ms")
    print(f"change mark (now)       {new_mark:8.3f} ms")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
