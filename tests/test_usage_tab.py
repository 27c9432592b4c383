"""The Agent screen's Usage tab: the context fill, from Claude Code transcript lines as
Claude Code writes them, read by the real ingester into a real store.

The demo once showed "context 248k of 200k (124%)": its simulated sessions never compacted,
and the window was the price table's largest one for every context, so Sonnet 4.5 (listed
at 1M, which is an opt-in beta; 200k is its standard window) read 19% at 190k."""

from __future__ import annotations

from pathlib import Path

import pytest

from loomtui.config import Config
from loomtui.ingest.service import IngestService
from loomtui.sim.transcripts import COMPACT_AT, Transcript
from loomtui.store.db import connect, db_path
from tests.conftest import build_app
from tests.pods import NOW
from tests.test_ingest_parsers import assistant
from tests.waiting import until


def response(n: int, sid: str, model: str, context: int) -> str:
    """An assistant line whose request held `context` tokens: a few new input tokens, what
    the response wrote to the cache, the rest read from it (as a long session looks)."""
    write = 2_000
    usage = {"input_tokens": 8, "cache_creation_input_tokens": write,
             "cache_read_input_tokens": context - write - 8, "output_tokens": 300,
             "cache_creation": {"ephemeral_5m_input_tokens": write, "ephemeral_1h_input_tokens": 0},
             "service_tier": "standard"}
    return assistant(mid=f"msg_{sid}_{n}", rid=f"req_{sid}_{n}", sid=sid, model=model, usage=usage,
                     ts=f"2026-11-20T09:2{n}:00.000Z")


SESSIONS = {  # session -> (model, its contexts in order; the last one is shown)
    "5e55-a": ("claude-sonnet-4-5-20250929", (60_000, 150_000)),
    "5e55-b": ("claude-sonnet-4-5-20250929", (190_000, 248_000)),
    "5e55-c": ("claude-opus-4-5-20251101", (120_000, 150_000)),
    "5e55-d": ("claude-opus-4-5-20251101", (150_000, 248_000)),  # past any window the table knows
}
SHOWN = {"5e55-a": "context 150k of 200k (75%)",  # was "of 1.0M (15%)"
         "5e55-b": "context 248k of 1.0M (25%)",  # past 200k: the session runs with the 1M beta
         "5e55-c": "context 150k of 200k (75%)",
         # the price table is behind: said so, never "of 200k (124%)"
         "5e55-d": "context 248k tokens (more than the 200k window the price table gives "
                   "claude-opus-4-5-20251101)"}


@pytest.fixture
def pod(tmp_path: Path) -> Path:
    claude = tmp_path / "claude"
    for sid, (model, contexts) in SESSIONS.items():
        path = claude / "projects" / "-srv-app-wt-auth" / f"{sid}.jsonl"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("".join(response(n, sid, model, c) + "\n" for n, c in enumerate(contexts)))
    pod = tmp_path / "pod"
    connect(db_path(pod)).close()
    # what `loomtui ingest --once` does: the transcripts, then the budgets the console reads
    service = IngestService(pod, Config(), clock=lambda: NOW,
                            environ={"HOME": str(tmp_path), "CLAUDE_CONFIG_DIR": str(claude),
                                     "CODEX_HOME": str(tmp_path / "codex")})
    done = service.once()
    assert done.records == 8 and done.bad_lines == 0
    return pod


def _context_line(app) -> str:
    """The Usage tab's summary once it has the context line, else ""."""
    text = str(app.screen.query_one("#usage-summary").render())
    return text if "context" in text else ""


@pytest.mark.parametrize("size", [(80, 24), (160, 48)])
async def test_the_context_is_measured_against_the_window_it_sits_in(pod: Path, size) -> None:
    app = build_app(pod)
    async with app.run_test(size=size) as pilot:
        for sid, expected in SHOWN.items():
            agent = next(a for a in app.pod_state.agents if a.session_id == sid)
            app.open_agent(agent.id)
            await pilot.pause()
            await pilot.press("2")
            text = await until(pilot, lambda: _context_line(app), f"the context line of {sid}")
            assert expected in text, (sid, text)
            await pilot.press("escape")
            await pilot.pause()


def test_a_simulated_session_compacts_before_its_window() -> None:
    """The demo's transcripts: a long session's context stays below where the agents compact."""
    import json
    import random
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "t.jsonl"
        t = Transcript("claude", path, session="5e55-long", cwd=Path(tmp), branch="b",
                       model="claude-opus-4-5", rng=random.Random(7))
        for n in range(400):
            t.tool_use(NOW + n, "Bash", {"command": "make"}, f"toolu_{n}", scale=2.0)
        contexts = []
        for line in path.read_text().splitlines():
            u = json.loads(line)["message"]["usage"]
            contexts.append(u["input_tokens"] + u["cache_creation_input_tokens"] + u["cache_read_input_tokens"])
    assert max(contexts) <= COMPACT_AT["claude"] < 200_000
    assert sum(1 for a, b in zip(contexts, contexts[1:], strict=False) if b < a) >= 2  # it did compact, more than once
