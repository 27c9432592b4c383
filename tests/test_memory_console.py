"""The Memory screen from the keyboard: search as you type, the review
queue (accept, reject with a reason), add and edit in a modal protected by
compare-and-swap, pin, retire; and the Agent screen's list of what an agent wrote."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from textual.widgets import DataTable, Input, TextArea

from loomtui.memory import entries as mem
from loomtui.store import audit
from loomtui.store.db import connect, db_path
from loomtui.supervisors import account_name
from loomtui.tui.screens.memory import EditConflictModal, EntryModal, MemoryScreen
from loomtui.tui.screens.reason import ReasonModal
from tests.conftest import build_app
from tests.pods import NOW


@pytest.fixture
def memory_pod(pod: Path) -> Path:
    conn = connect(db_path(pod))
    sup = mem.supervisor("ana")
    billing = conn.execute("SELECT id, session_id FROM agents WHERE name = 'billing-vat'").fetchone()
    agent = mem.Author(name="billing-vat", kind="agent", agent_id=billing[0], session_id=billing[1])
    mem.add(conn, kind="convention", title="Run the tests before pushing", body="Always `pytest -q`.",
            tags="ci,tests", scope="pod", author=sup, now=NOW - 600, pinned=True)
    mem.add(conn, kind="fact", title="Staging database resets nightly", body="At 02:00 UTC.",
            tags="db", scope="pod", author=sup, now=NOW - 500)
    mem.add(conn, kind="decision", title="VAT is computed per invoice line",
            body="Round per line, then sum.", tags="billing,vat", scope="pod", author=agent, now=NOW - 400)
    mem.add(conn, kind="decision", title="Keep the v1 cart endpoint for one release",
            body="Mobile still calls it.", tags="cart", scope="pod", author=agent, now=NOW - 300)
    conn.close()
    return pod


async def open_memory(pilot) -> MemoryScreen:
    await pilot.press("m")
    await pilot.pause()
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()
    return pilot.app.screen


def titles(screen: MemoryScreen) -> list[str]:
    return [e.title for e in screen.entries]


async def settle(pilot) -> None:
    await pilot.pause()
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()


def stored(pod: Path, title: str) -> mem.Entry:
    conn = connect(db_path(pod))
    try:
        return next(e for e in mem.list_entries(conn, statuses=None) if e.title == title)
    finally:
        conn.close()


async def test_list_search_and_review_queue(memory_pod: Path) -> None:
    app = build_app(memory_pod)
    async with app.run_test(size=(140, 34)) as pilot:
        screen = await open_memory(pilot)
        assert isinstance(screen, MemoryScreen)
        assert titles(screen) == ["Run the tests before pushing", "Staging database resets nightly"]
        assert "2 to review" in str(screen.query_one("#memory-head").render())
        await pilot.press("slash", *"database")
        await settle(pilot)
        assert titles(screen) == ["Staging database resets nightly"]
        await pilot.press("escape")  # leaves the search field, keeps the results
        await pilot.press("v")  # to review
        await settle(pilot)
        assert sorted(titles(screen)) == []  # "database" matches no proposal
        screen.query_one("#memory-search", Input).value = ""
        await settle(pilot)
        assert sorted(titles(screen)) == ["Keep the v1 cart endpoint for one release",
                                          "VAT is computed per invoice line"]
        table = screen.query_one("#memory-list", DataTable)
        table.focus()
        table.move_cursor(row=titles(screen).index("VAT is computed per invoice line"))
        await pilot.press("A")
        await settle(pilot)
        assert stored(memory_pod, "VAT is computed per invoice line").status == "active"
        assert titles(screen) == ["Keep the v1 cart endpoint for one release"]
        await pilot.press("r")
        await pilot.pause()
        assert isinstance(app.screen, ReasonModal)
        await pilot.press(*"mobile moved to v2 last week", "enter")
        await settle(pilot)
        rejected = stored(memory_pod, "Keep the v1 cart endpoint for one release")
        assert rejected.status == "retired"
        assert titles(screen) == []
    conn = connect(db_path(memory_pod))
    try:
        actions = [e["action"] for e in audit.export(conn)]
        assert "memory.accepted" in actions and "memory.rejected" in actions
        history = mem.history(conn, rejected.id)
        # A review is a decision: recorded as the console's OS account, not its display name.
        assert history[-1].change == "rejected" and history[-1].actor == account_name(os.geteuid())
        assert history[-1].snapshot["change_detail"]["reason"] == "mobile moved to v2 last week"
    finally:
        conn.close()


async def test_add_edit_pin_retire_and_a_stale_edit_is_refused(memory_pod: Path) -> None:
    app = build_app(memory_pod)
    async with app.run_test(size=(140, 34)) as pilot:
        screen = await open_memory(pilot)
        await pilot.press("a")
        await pilot.pause()
        modal = app.screen
        assert isinstance(modal, EntryModal)
        modal.query_one("#entry-title", Input).value = "Use UTC in every log line"
        modal.query_one("#entry-tags", Input).value = "logging"
        modal.query_one("#entry-body", TextArea).text = "Timestamps in **UTC**, ISO 8601."
        await pilot.press("ctrl+s")
        await settle(pilot)
        added = stored(memory_pod, "Use UTC in every log line")
        assert (added.status, added.author, added.version, added.tags) == ("active", "ana", 1, ("logging",))
        assert screen._shown == added.id

        # someone changes it behind the screen: the edit made against version 1 is refused
        conn = connect(db_path(memory_pod))
        mem.edit(conn, added.id, author=mem.supervisor("sam"), expected_version=1,
                 body="Timestamps in UTC.", now=NOW)
        conn.close()
        await pilot.press("e")
        await pilot.pause()
        app.screen.query_one("#entry-title", Input).value = "Log in UTC"
        await pilot.press("ctrl+s")
        await settle(pilot)
        current = stored(memory_pod, "Use UTC in every log line")
        assert current.version == 2 and current.body == "Timestamps in UTC."
        assert isinstance(app.screen, EditConflictModal)  # theirs and yours (tested below)
        await pilot.press("e")  # yours again, over their version 2
        await pilot.pause()
        assert app.screen.query_one("#entry-title", Input).value == "Log in UTC"
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert stored(memory_pod, "Log in UTC").version == 3
        await pilot.press("p")
        await settle(pilot)
        assert stored(memory_pod, "Log in UTC").pinned
        await pilot.press("x")
        await pilot.pause()
        await pilot.press(*"superseded by the logging guide", "enter")
        await settle(pilot)
        assert stored(memory_pod, "Log in UTC").status == "retired"
        assert "Log in UTC" not in titles(screen)


async def test_the_agent_screen_lists_what_the_agent_wrote(memory_pod: Path) -> None:
    app = build_app(memory_pod)
    async with app.run_test(size=(140, 34)) as pilot:
        agent = next(a for a in app.pod_state.agents if a.name == "billing-vat")
        app.open_agent(agent.id)
        await pilot.pause()
        await pilot.press("4")
        await settle(pilot)
        table = app.screen.query_one("#agent-memory-list", DataTable)
        rows = [table.get_row_at(i) for i in range(table.row_count)]
        assert sorted(str(r[1]) for r in rows) == ["Keep the v1 cart endpoint for one release",
                                              "VAT is computed per invoice line"]
        assert {r[2] for r in rows} == {"proposed"}
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, MemoryScreen) and app.screen.agent_id == agent.id
        assert len(app.screen.entries) == 2


def test_memory_snapshot(snap_compare, memory_pod: Path) -> None:
    async def open_it(pilot) -> None:
        await open_memory(pilot)

    assert snap_compare(build_app(memory_pod), terminal_size=(130, 30), run_before=open_it)


def test_memory_snapshot_narrow(snap_compare, memory_pod: Path) -> None:
    """At 80 columns the entry goes under the list."""
    async def open_it(pilot) -> None:
        await open_memory(pilot)

    assert snap_compare(build_app(memory_pod), terminal_size=(80, 24), run_before=open_it)


LONG_TITLE = "Never run migrations on the shared staging database by hand"  # 59 characters


@pytest.mark.parametrize(("size", "whole"), [((120, 40), True), ((80, 24), False), ((160, 48), False)])
async def test_titles_get_the_room_the_other_columns_leave(memory_pod: Path, size, whole) -> None:
    """At 120 columns titles were cut to ~20 characters (the entry beside the list took 35 %).
    Now the entry goes under the list below 150 columns, and on a narrow list scope and author
    (in the entry's details too) give their room to the title; nothing scrolls sideways."""
    from tests.test_control_chars import screen_text

    conn = connect(db_path(memory_pod))
    mem.add(conn, kind="warning", title=LONG_TITLE, body="Ask in #db first.", tags="db", scope="pod",
            author=mem.supervisor("ana"), now=NOW - 60)
    conn.close()
    app = build_app(memory_pod)
    async with app.run_test(size=size) as pilot:
        screen = await open_memory(pilot)
        table = screen.query_one("#memory-list", DataTable)
        assert table.virtual_size.width <= table.scrollable_content_region.width
        line = next(line for line in screen_text(app).splitlines() if "Never run migrations" in line)
        shown = line[table.region.x:table.region.right]
        if whole:
            assert LONG_TITLE in shown
        else:
            assert LONG_TITLE[:44] in shown and "…" in shown  # 45 of 59 characters, then cut
        assert "warning" in shown and "active" in shown  # kind and status stay
        if size[0] < 100:
            assert [c.value for c in table.columns] == ["kind", "title", "age", "status"]
        else:
            assert "ana" in shown  # the author too


# -- two writers on one entry ------------------------------------------------------------


async def edit_in(pilot, title: str, body: str | None = None) -> EntryModal:
    """Open the Memory screen's form on the entry titled `title`; type `body` if given."""
    screen = pilot.app.screen if isinstance(pilot.app.screen, MemoryScreen) else await open_memory(pilot)
    table = screen.query_one("#memory-list", DataTable)
    index = next(i for i, e in enumerate(screen.entries) if e.title == title)
    table.move_cursor(row=table.get_row_index(str(screen.entries[index].id)), animate=False)
    await pilot.pause()
    await pilot.press("e")
    await pilot.pause()
    modal = pilot.app.screen
    assert isinstance(modal, EntryModal)
    if body is not None:
        modal.query_one("#entry-body", TextArea).text = body
    return modal


def second_console(pod: Path):
    """Another supervisor's console on the same pod (sam)."""
    from datetime import UTC

    from loomtui.config import Config, ConsoleConfig
    from loomtui.tui.app import make_app

    return make_app(pod, Config(console=ConsoleConfig(stall_after=600)), clock=lambda: NOW, tz=UTC,
                    live=False, theme="loom-dark", supervisor="sam")


async def test_a_conflicting_edit_keeps_the_typed_text_and_says_so(memory_pod: Path) -> None:
    """ana and sam edit one entry in two consoles; sam saves first. ana's save does not throw
    her text away or speak API: it says in plain words that sam changed the entry, shows
    theirs beside hers, and lets her merge (e), overwrite (o) or keep theirs (esc)."""
    from tests.test_control_chars import screen_text

    title = "Staging database resets nightly"
    ana, sam = build_app(memory_pod), second_console(memory_pod)
    async with ana.run_test(size=(120, 40)) as pa, sam.run_test(size=(120, 40)) as ps:
        mine = await edit_in(pa, title, "At 02:00 UTC, except on Sundays.")
        theirs = await edit_in(ps, title, "At 03:00 UTC since December.")
        assert isinstance(theirs, EntryModal)
        await ps.press("ctrl+s")
        await settle(ps)
        assert stored(memory_pod, title).version == 2
        await pa.press("ctrl+s")  # ana saves against version 1
        await settle(pa)
        modal = ana.screen
        assert isinstance(modal, EditConflictModal) and modal is not mine
        text = screen_text(ana)
        assert "sam edited entry" in text and "while you were editing it" in text
        assert "You opened version 1; it is now at version 2" in text and "Your text is kept" in text
        assert "At 03:00 UTC since December." in text and "At 02:00 UTC, except on Sundays." in text
        assert "expected_version" not in text and "stale write" not in text
        assert stored(memory_pod, title).body == "At 03:00 UTC since December."  # nothing saved yet

        await pa.press("e")  # her text again, now over version 2: she merges
        await pa.pause()
        form = ana.screen
        assert isinstance(form, EntryModal) and form.entry.version == 2
        body = form.query_one("#entry-body", TextArea)
        assert body.text == "At 02:00 UTC, except on Sundays."
        body.text = "At 03:00 UTC since December, except on Sundays."
        await pa.press("ctrl+s")
        await settle(pa)
        merged = stored(memory_pod, title)
        assert (merged.version, merged.body) == (3, "At 03:00 UTC since December, except on Sundays.")

        # again: sam saves first (his screen still shows version 2), ana saves hers over his
        await edit_in(pa, title, "Resets at 03:00 UTC; Sundays excepted.")
        sam.screen.reload()  # sam's list, to version 3 (a live console reads it by itself)
        await settle(ps)
        await edit_in(ps, title, "Resets at 04:00 UTC.")
        await ps.press("ctrl+s")
        await settle(ps)
        await pa.press("ctrl+s")
        await settle(pa)
        assert isinstance(ana.screen, EditConflictModal)
        await pa.press("o")
        await settle(pa)
        assert stored(memory_pod, title).body == "Resets at 03:00 UTC; Sundays excepted."
        assert stored(memory_pod, title).version == 5

        # and once more, where ana keeps sam's version: her text is dropped because she said so
        await edit_in(pa, title, "Mine, to be dropped.")
        conn = connect(db_path(memory_pod))
        mem.edit(conn, stored(memory_pod, title).id, author=mem.supervisor("sam"), expected_version=5,
                 body="Theirs stays.", now=NOW)
        conn.close()
        await pa.press("ctrl+s")
        await settle(pa)
        await pa.press("escape")
        await settle(pa)
        assert isinstance(ana.screen, MemoryScreen)
        assert stored(memory_pod, title).body == "Theirs stays."
        assert any("Kept their version" in n.message for n in ana._notifications)


async def test_an_edit_of_an_entry_retired_meanwhile_can_become_a_new_entry(memory_pod: Path) -> None:
    title = "Staging database resets nightly"
    app = build_app(memory_pod)
    async with app.run_test(size=(80, 24)) as pilot:
        await edit_in(pilot, title, "Resets at 03:00 UTC now.")
        conn = connect(db_path(memory_pod))
        mem.retire(conn, stored(memory_pod, title).id, author=mem.supervisor("sam"), reason="moved to the wiki",
                   now=NOW)
        conn.close()
        await pilot.press("ctrl+s")
        await settle(pilot)
        modal = app.screen
        assert isinstance(modal, EditConflictModal) and not modal.editable
        await pilot.press("o")  # does not apply to a retired entry
        await pilot.pause()
        assert app.screen is modal and stored(memory_pod, title).status == "retired"
        await pilot.press("n")
        await settle(pilot)
        added = stored(memory_pod, title)  # the newest of that title
        conn = connect(db_path(memory_pod))
        both = [e for e in mem.list_entries(conn, statuses=None) if e.title == title]
        conn.close()
        assert sorted(e.status for e in both) == ["active", "retired"]
        assert next(e for e in both if e.status == "active").body == "Resets at 03:00 UTC now."
        assert added is not None
