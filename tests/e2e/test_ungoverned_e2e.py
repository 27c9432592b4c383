"""Ungoverned by evidence with the real Claude Code (issue 14, item 5): the transcript the
real binary writes is read by the ingester and its tool calls matched, by tool-use id,
with what its real hooks reported. With `loomtui init claude`'s hooks every call is
reported; with PreToolUse and PostToolUse taken out of the settings (the call then goes
through Claude's own permission prompt, which the PermissionRequest hook still turns
into a gate a supervisor approves) the call runs unreported and the agent is marked."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from loomtui.ingest.ingester import Ingester
from loomtui.ingest.pricing import PriceTable
from loomtui.ingest.sources import Roots
from loomtui.store import unreported
from loomtui.store.agents import find_agent
from loomtui.store.db import connect, db_path
from tests.e2e.conftest import PUSH, loomtui_init
from tests.e2e.test_claude_e2e import run_claude

pytestmark = pytest.mark.e2e


def read_and_check(loom_home: Path, config_dir: Path, session_id: str):
    """Ingest the real transcript, then check once the grace has passed: (the calls the
    transcript showed, the agent)."""
    conn = connect(db_path(loom_home))
    try:
        Ingester(conn, Roots((config_dir,), ()), PriceTable.load(None)).catch_up()
        calls = [r[0] for r in conn.execute("SELECT tool_use_id FROM transcript_calls")]
        unreported.check(conn, now=time.time() + unreported.GRACE + 1)
        return calls, find_agent(conn, session_id)
    finally:
        conn.close()


def test_calls_the_real_hooks_reported_leave_the_agent_governed(claude_bin, repo: Path, loom_home: Path,
                                                                tmp_path: Path) -> None:
    loomtui_init("claude", repo, loom_home)
    config_dir = tmp_path / "claude-config"
    config_dir.mkdir()
    result, api, supervisor, context = run_claude(claude_bin, repo, loom_home, config_dir, approve=True)
    assert supervisor.decided is not None and supervisor.decided.status == "approved", context
    calls, agent = read_and_check(loom_home, config_dir, result["session_id"])
    assert len(calls) == 1 and calls[0].startswith("toolu_"), f"{calls}\n{context}"
    assert agent.ungoverned_at is None and agent.unreported == 0, f"{agent}\n{context}"


def test_a_call_its_hooks_did_not_report_marks_the_agent(claude_bin, repo: Path, loom_home: Path,
                                                         tmp_path: Path) -> None:
    loomtui_init("claude", repo, loom_home)
    settings_file = repo / ".claude" / "settings.json"
    settings = json.loads(settings_file.read_text())
    for event in ("PreToolUse", "PostToolUse", "PostToolUseFailure"):
        settings["hooks"].pop(event, None)
    settings_file.write_text(json.dumps(settings, indent=2))
    config_dir = tmp_path / "claude-config"
    config_dir.mkdir()
    result, api, supervisor, context = run_claude(claude_bin, repo, loom_home, config_dir, approve=True)
    # The call still reached a supervisor, through Claude's own permission prompt (no id).
    assert supervisor.gate is not None and PUSH in supervisor.gate.summary, context
    calls, agent = read_and_check(loom_home, config_dir, result["session_id"])
    assert len(calls) == 1, f"{calls}\n{context}"
    assert agent.ungoverned_at is not None, f"{agent}\n{context}"
    assert (agent.unreported, agent.ungoverned_why) == (1, unreported.WHY_UNREPORTED), context


def test_codex_calls_its_real_hooks_reported_leave_it_governed(codex_bin, repo: Path, loom_home: Path,
                                                               tmp_path: Path) -> None:
    """Codex's rollout names the call by `call_id`; its PreToolUse and PostToolUse hooks
    send the same id as `tool_use_id`."""
    from tests.e2e.test_codex_e2e import run_codex

    loomtui_init("codex", repo, loom_home)
    done, events, api, supervisor, context = run_codex(codex_bin, repo, loom_home, tmp_path, approve=True)
    assert supervisor.decided is not None and supervisor.decided.status == "approved", context
    conn = connect(db_path(loom_home))
    try:
        Ingester(conn, Roots((), (tmp_path / "codex-home",)), PriceTable.load(None)).catch_up()
        calls = [r[0] for r in conn.execute("SELECT tool_use_id FROM transcript_calls")]
        reported = [r[0] for r in conn.execute("SELECT tool_use_id FROM events WHERE tool_use_id IS NOT NULL")]
        unreported.check(conn, now=time.time() + unreported.GRACE + 1)
        (agent,) = [a for a in conn.execute("SELECT ungoverned_at, unreported FROM agents WHERE kind = 'codex'")]
    finally:
        conn.close()
    assert len(calls) == 1 and calls[0] in reported, f"{calls} {reported}\n{context}"
    assert agent == (None, 0), context
