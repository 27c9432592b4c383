"""The Agent screen's Record tab (issue 14): counts per rule with the streaks, test runs
with outcome and age, reverts, budget overruns, and the grant suggestion once earned,
at 80x24 and 160x48."""

from __future__ import annotations

from pathlib import Path

import pytest

from loomtui.store import recorder
from loomtui.store.agents import upsert_agent
from loomtui.store.db import connect, db_path, transaction
from loomtui.store.gates import create_gate, decide
from tests.conftest import build_app
from tests.pods import NOW
from tests.waiting import until


def make(pod: Path, *, approvals: int) -> int:
    conn = connect(db_path(pod))
    agent_id = upsert_agent(conn, kind="claude", now=NOW - 3600, session_id="rec-1", name="auth-1",
                            cwd="/srv/shop/wt/auth", repo="/srv/shop", worktree="/srv/shop/wt/auth")
    t = NOW - 1800

    def gate(rule: str, risk: str = "medium", command: str = "git push origin auth"):
        return create_gate(conn, agent_id=agent_id, tool="Bash", action={"command": command},
                           summary=command, rule=rule, risk=risk, now=t, expires_at=t + 600)

    decide(conn, gate("git-push").id, approve=False, actor="ana", reason="not before review", now=t + 1)
    for _ in range(approvals):
        decide(conn, gate("git-push").id, approve=True, actor="ana", reason="", now=t + 2)
    decide(conn, gate("budget:agent/day", "budget").id, approve=True, actor="ana", reason="", now=t + 3)
    with transaction(conn):
        recorder.note_test(conn, agent_id, command="pytest -q tests/test_login.py", result="failed", now=NOW - 600)
        recorder.note_test(conn, agent_id, command="pytest -q", result="passed", now=NOW - 180)
        recorder.note_revert(conn, agent_id, command="git reset --hard HEAD~1", kind="git reset --hard",
                             now=NOW - 900)
        recorder.note_denied(conn, agent_id, rule="protect-pod", now=NOW - 60)
    conn.close()
    return agent_id


def text_of(app, selector: str) -> str:
    return str(app.screen.query_one(selector).render())


@pytest.mark.parametrize("size", [(80, 24), (160, 48)])
async def test_the_record_tab_shows_counts_streaks_tests_reverts_and_the_suggestion(pod: Path, size) -> None:
    agent_id = make(pod, approvals=5)
    app = build_app(pod)
    async with app.run_test(size=size) as pilot:
        app.open_agent(agent_id)
        await pilot.pause()
        await pilot.press("5")
        head = await until(pilot, lambda: "Gated calls" in text_of(app, "#record-head")
                           and text_of(app, "#record-head"), "the Record tab's head")
        assert "Gated calls 7 · approved 6 · rejected 1 · denied by policy 1" in head.replace("\n", " ")
        assert "Budget overruns 1" in head
        assert "5 approvals in a row, no rejection, tests passing (last run 3m ago)" in " ".join(head.split())
        table = app.screen.query_one("#record-rules")
        rows = {str(table.get_row_at(i)[0]): [str(c) for c in table.get_row_at(i)] for i in range(table.row_count)}
        assert rows["git-push"] == ["git-push", "6", "5", "1", "0", "0", "0", "5"]
        assert rows["protect-pod"][4] == "1" and rows["budget:agent/day"][1] == "1"
        work = text_of(app, "#record-work")
        assert "Test runs 2 · passed 1 · failed 1" in work
        assert "✓ passed    3m ago  pytest -q" in work and "✗ failed   10m ago  pytest -q tests/test_login.py" in work
        assert "Reverts 1" in work and "↺ revert   15m ago  git reset --hard HEAD~1" in work
        assert app.screen.query_one("#record-pane").region.height <= size[1]


async def test_no_suggestion_before_the_streak_and_an_empty_record_says_so(pod: Path) -> None:
    agent_id = make(pod, approvals=4)
    conn = connect(db_path(pod))
    quiet = upsert_agent(conn, kind="codex", now=NOW, session_id="rec-2", name="quiet")
    conn.close()
    app = build_app(pod)
    async with app.run_test(size=(80, 24)) as pilot:
        app.open_agent(agent_id)
        await pilot.pause()
        await pilot.press("5")
        head = await until(pilot, lambda: "Gated calls" in text_of(app, "#record-head")
                           and text_of(app, "#record-head"), "the Record tab's head")
        assert "Suggested" not in head
        await pilot.press("escape")
        await pilot.pause()
        app.open_agent(quiet)
        await pilot.pause()
        await pilot.press("5")
        head = await until(pilot, lambda: "Nothing recorded" in text_of(app, "#record-head")
                           and text_of(app, "#record-head"), "the empty record")
        assert not app.screen.query_one("#record-rules").display
