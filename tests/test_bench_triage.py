"""bench/triage.py still runs: its modes, each in a process of its own, at a size that
takes seconds, and one JSON document that says what the scripted supervisor did. The
figures themselves are not checked (they are the bench's output), only that they add up,
and that no critical call is ever allowed without a person."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "bench" / "triage.py"


def test_the_triage_bench_runs_every_mode(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, str(BENCH), "--agents", "20", "--seconds", "40", "--think", "4",
                           "--dir", str(tmp_path), "--json"],
                          capture_output=True, text=True, timeout=240, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    results = {r["mode"]: r for r in json.loads(done.stdout)["results"]}
    assert set(results) == {"baseline", "triage", "grants"}
    for r in results.values():
        assert r["gates"] > 0 and r["decided"] > 0  # the supervisor decided something
        assert r["decided"] + r["expired"] + r["pending_end"] <= r["gates"]
        assert r["keys_per_decision"] >= 3  # i, a, esc at the least
        assert r["critical_without_person"] == 0
        assert r["decisions_per_hour"] == r["decided"] * 3600 / 40
    assert not list(tmp_path.glob("loomtui-triage-*"))  # the pods are removed


def test_the_grants_mode_grants_and_never_allows_a_critical_call(tmp_path: Path) -> None:
    """With a suggestion after one approval and agents that push after each commit, the
    supervisor grants, the grants answer calls, and still no critical call (a force push)
    is allowed without a person."""
    done = subprocess.run([sys.executable, str(BENCH), "--agents", "10", "--seconds", "200", "--think", "2",
                           "--modes", "grants", "--workload", "pushes", "--suggest-after", "1",
                           "--dir", str(tmp_path), "--json"],
                          capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    (r,) = json.loads(done.stdout)["results"]
    assert r["mode"] == "grants" and r["workload"] == "pushes"
    assert r["grants"] > 0 and r["granted_calls"] > 0
    assert r["critical_without_person"] == 0
    assert r["decided"] >= r["grants"]  # each grant is one of the supervisor's decisions


def test_bad_arguments_are_refused_without_a_traceback() -> None:
    done = subprocess.run([sys.executable, str(BENCH), "--modes", "lifo"], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 2 and "--modes takes baseline, triage and/or grants" in done.stderr
    assert "Traceback" not in done.stderr
