"""The demo's token side: the simulated agents write real-format Claude
Code and Codex transcripts into the demo's own directories, the demo's ingester reads
them, and the agent that starts near its budget crosses it and has its calls gated."""

from __future__ import annotations

from pathlib import Path

from loomtui.config import load_config
from loomtui.ingest.claude import ClaudeSession, dedupe
from loomtui.ingest.codex import CodexRollout
from loomtui.ingest.service import IngestService
from loomtui.sim.pod import create_demo_pod
from loomtui.store.db import connect, db_path
from tests.ccusage import run_ccusage
from tests.waiting import wait_for


def parsed(demo) -> dict[str, list[int]]:
    """Per-session totals straight from the files, with the parsers alone."""
    records = []
    for path in sorted((demo.claude_dir / "projects").rglob("*.jsonl")):
        session = ClaudeSession(path.stem)
        records += [r for r in map(session.feed, path.read_bytes().splitlines()) if r]
        assert session.stats.bad_lines == 0
    records = dedupe(records)
    for path in sorted((demo.codex_home / "sessions").rglob("rollout-*.jsonl")):
        rollout = CodexRollout(path.stem)
        records += [r for r in map(rollout.feed, path.read_bytes().splitlines()) if r]
        assert rollout.stats.bad_lines == 0
    out: dict[str, list[int]] = {}
    for r in records:
        t = out.setdefault(r.session_id, [0, 0, 0, 0])
        for i, v in enumerate((r.input_tokens, r.output_tokens, r.cache_write_tokens, r.cache_read_tokens)):
            t[i] += v
    return out


def stored(conn) -> dict[str, list[int]]:
    return {sid: list(rest) for sid, *rest in conn.execute(
        "SELECT session_id, sum(input_tokens), sum(output_tokens), sum(cache_write_tokens), "
        "sum(cache_read_tokens) FROM usage GROUP BY session_id")}


def run_demo(tmp_path: Path, seconds: float = 90):
    demo = create_demo_pod(6, root=tmp_path / "demo")
    demo.start(6, seed=3, speed=4)
    service = IngestService(demo.pod, load_config(demo.pod), role="test", environ=demo.environ())
    service.start()
    conn = connect(db_path(demo.pod))
    try:
        gate = wait_for(lambda: conn.execute(
            "SELECT g.id, a.name, a.model, g.summary FROM gates g JOIN agents a "
            "ON a.id = g.agent_id WHERE g.risk = 'budget'").fetchone(),
            "an agent of the demo to cross its budget (a gate of risk 'budget')", timeout=seconds,
            interval=0.2)
    finally:
        demo.stop()  # waiting hooks cancel their gates
        try:
            # the live ingester catches up with the last lines the agents wrote
            wait_for(lambda: stored(conn) == parsed(demo), "the live ingester to store every line written")
        finally:
            service.stop()
    return demo, conn, gate


def usage_lines(demo) -> int:
    """How many usage records the demo's Claude agents have written so far (complete
    lines only: an agent may be writing one right now)."""
    count = 0
    for agent in demo.sim.agents:
        if agent.kind == "claude" and agent.transcript and Path(agent.transcript).exists():
            data = Path(agent.transcript).read_bytes()
            session = ClaudeSession(agent.session)
            count += sum(1 for line in data[:data.rfind(b"\n") + 1].splitlines() if session.feed(line))
    return count


def test_demo_agents_write_transcripts_the_ingester_counts_and_one_is_gated(tmp_path: Path) -> None:
    demo, conn, gate = run_demo(tmp_path)
    try:
        assert gate is not None, "no agent crossed its budget in the demo"
        _, name, model, summary = gate
        assert model == "claude-opus-4-5" and "session budget: $" in summary, gate
        expected = parsed(demo)
        assert len(expected) >= 6
        IngestService(demo.pod, load_config(demo.pod), environ=demo.environ()).once()
        assert stored(conn) == expected
        kinds = {k for (k,) in conn.execute("SELECT DISTINCT kind FROM usage")}
        assert "claude" in kinds
        # every session's usage belongs to the agent its hooks registered
        assert conn.execute("SELECT count(*) FROM usage WHERE agent_id IS NULL").fetchone()[0] == 0
    finally:
        conn.close()
        demo.remove()


def test_demo_transcripts_count_as_ccusage_counts_them(ccusage, tmp_path: Path) -> None:
    """The simulator's Claude transcripts are real enough for ccusage itself."""
    demo = create_demo_pod(4, root=tmp_path / "demo")
    try:
        demo.start(4, seed=5, speed=4)
        try:
            # Compare more than the history written before the start: live turns too.
            opening = usage_lines(demo)
            wait_for(lambda: usage_lines(demo) > opening, "a Claude agent of the demo to write a live turn")
        finally:
            demo.stop()
        ours = {sid: t for sid, t in parsed(demo).items()
                if any((demo.claude_dir / "projects").rglob(f"{sid}.jsonl"))}
        report = run_ccusage(ccusage, tmp_path, "claude", {"CLAUDE_CONFIG_DIR": str(demo.claude_dir)})
        theirs = {row["sessionId"]: [row["inputTokens"], row["outputTokens"], row["cacheCreationTokens"],
                                     row["cacheReadTokens"]] for row in report["sessions"]}
        assert ours and ours == theirs
    finally:
        demo.remove()
