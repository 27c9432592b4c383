"""How the console's parts talk: background services run as workers whose failures reach
the app's one handler (and give their lease up), a screen's failed worker goes there too,
and the Memory and Budgets lists change by keyed updates, never by clearing the table."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from textual.widgets import DataTable, Input

from loomtui.store import leases
from tests.conftest import build_app
from tests.test_console import palette_offers
from tests.test_memory_console import memory_pod, open_memory, settle  # noqa: F401 - a fixture
from tests.waiting import until


def messages(app) -> list[str]:
    return [n.message for n in app._notifications]


@pytest.mark.parametrize("part", ["lease", "watcher"])
async def test_a_failing_diff_service_is_reported_once_and_lets_its_lease_go(
        pod: Path, monkeypatch: pytest.MonkeyPatch, part: str) -> None:
    from loomtui.git.service import DiffService
    from loomtui.git.watch import WorktreeWatcher

    if part == "lease":
        def hold(self, conn, stop):
            raise RuntimeError("boom in discovery")

        monkeypatch.setattr(DiffService, "_hold", hold)
        expected = "Diff watching stopped: boom in discovery"
    else:
        async def run(self):
            raise RuntimeError("boom in the watch")

        monkeypatch.setattr(WorktreeWatcher, "run", run)
        expected = "Diff watching stopped: boom in the watch"
    app = build_app(pod, live=True)
    async with app.run_test(size=(120, 40)) as pilot:
        service = next(s for s in app.services if s.group == "diffs")

        def stopped() -> bool:  # both halves: the lease's thread and the watcher
            return service.done.is_set() and not any(w.group == "diffs" for w in app.workers)

        await until(pilot, lambda: stopped() and any(m.startswith(expected) for m in messages(app)),
                    f"the diff service to stop and say {expected!r}")
        assert stopped()
        assert sum(m.startswith(expected) for m in messages(app)) == 1, messages(app)
        # The lease is free for another console to watch.
        assert leases.holder_of(pod, "diffs", time.time()) is None
        assert any(w.group == "store-watch" and w.is_running for w in app.workers)  # the console goes on


async def test_a_screen_worker_failure_reaches_the_apps_handler(
        pod: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from loomtui.actions import PodActions

    def broken(self, seen=None):
        raise ValueError("cannot read the log")

    monkeypatch.setattr(PodActions, "audit_log", broken)
    app = build_app(pod)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("L")
        await until(pilot, lambda: any("cannot read the log" in m for m in messages(app)),
                    "the worker's failure in a notification")
        assert any("failed: cannot read the log" in m for m in messages(app)), messages(app)


def count_clears(table: DataTable, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    calls: list[int] = []
    original = table.clear

    def clear(*args, **kwargs):
        calls.append(1)
        return original(*args, **kwargs)

    monkeypatch.setattr(table, "clear", clear)
    return calls


def row_keys(table: DataTable) -> list[str]:
    return [row.key.value for row in table.ordered_rows]


def cursor_key(table: DataTable) -> str:
    return table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value


async def test_memory_search_updates_rows_by_key(memory_pod: Path, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: F811
    app = build_app(memory_pod)
    async with app.run_test(size=(140, 34)) as pilot:
        screen = await open_memory(pilot)
        table = screen.query_one("#memory-list", DataTable)
        clears = count_clears(table, monkeypatch)
        everything = row_keys(table)
        await pilot.press("j")  # the second entry
        await settle(pilot)
        chosen = cursor_key(table)
        assert chosen == everything[1]
        await pilot.press("slash", *"database")
        await settle(pilot)
        assert row_keys(table) == [str(e.id) for e in screen.entries] == [chosen]
        screen.query_one("#memory-search", Input).value = ""  # the search cleared at once
        await settle(pilot)
        assert row_keys(table) == everything  # the order comes back with the rows
        assert cursor_key(table) == chosen  # the cursor stayed on its entry throughout
        assert screen._current().title == "Staging database resets nightly"
        assert clears == []


async def test_palette_sorts_and_filters_the_fleet_from_another_screen(pod: Path) -> None:
    """The palette's fleet commands are messages the app hands to the fleet, whichever
    screen the palette was opened on."""
    from loomtui.tui.screens.agent import AgentScreen
    from loomtui.tui.screens.fleet import FleetScreen

    app = build_app(pod)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        fleet = app.screen
        assert isinstance(fleet, FleetScreen) and fleet.sort_mode == "triage"
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, AgentScreen)
        for command in ("Sort fleet by name", "Reverse the fleet's sort", "Show waiting agents"):
            await pilot.press("ctrl+p")
            await pilot.pause()
            await pilot.press(*command)
            await until(pilot, lambda command=command: palette_offers(app, command),
                        f"the palette to offer {command!r}")
            await pilot.press("enter")
            await pilot.pause()
        assert isinstance(app.screen, AgentScreen)
        assert fleet.sort_mode == "name" and fleet.reverse and fleet.query_text == "waiting"


async def test_the_consoles_diff_watcher_follows_an_edit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The watcher runs as an async worker on the console's own loop: an edit in an agent's
    worktree reaches the fleet's state, and the console holds the `diffs` lease meanwhile."""
    from tests.gitrepos import write
    from tests.test_diff_tab import make_pod

    pod = make_pod(tmp_path, monkeypatch)
    app = build_app(pod, live=True)
    async with app.run_test(size=(120, 40)) as pilot:
        agent = next(a for a in app.pod_state.agents if a.name == "two-agent")

        def added() -> int:
            wt = app.pod_state.worktree_of(app.pod_state.agent(agent.id))
            return wt.added if wt is not None else -1

        watcher = app.differ.watcher
        # Discovered and computed once (its watches are in place before that compute):
        # from here on only a file event makes it compute again.
        await until(pilot, lambda: watcher.refreshes[agent.worktree] >= 1 and not watcher.busy(),
                    "the watcher's first compute of the worktree")
        computed, before = watcher.refreshes[agent.worktree], added()
        write(Path(agent.worktree) / "src" / "more.py", "a = 1\nb = 2\nc = 3\n")
        await until(pilot, lambda: added() == before + 3, "the edit's three lines in the fleet's state")
        assert added() == before + 3 and watcher.refreshes[agent.worktree] > computed
        assert leases.holder_of(pod, "diffs", time.time()) == app.differ.holder
    assert leases.holder_of(pod, "diffs", time.time()) is None  # given up at exit
