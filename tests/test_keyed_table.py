"""KeyedTable repaints only the lines on screen whose row changed or moved (a big fleet
publishes four times a second): what it leaves alone must be what a full repaint would
draw anyway. And the fleet's per-reading lookups (statuses, tightest budgets) answer as
the plain definitions do."""

from __future__ import annotations

import random

from rich.segment import Segment
from textual.app import App, ComposeResult

from loomtui.store.agents import Agent
from loomtui.store.budgets import BudgetState
from loomtui.tui.model import PodState
from loomtui.tui.widgets.cells import Cell
from loomtui.tui.widgets.keyed_table import Column, KeyedTable

COLUMNS = (Column("name", "Name", 10), Column("what", "What", 0), Column("n", "N", 4, "right"))
ROWS = 40  # more than fit: the table scrolls


class Table(App):
    def compose(self) -> ComposeResult:
        yield KeyedTable()

    def on_mount(self) -> None:
        self.query_one(KeyedTable).set_columns(COLUMNS, 30)


def screen_lines(app: App) -> list[list[tuple[str, object]]]:
    """The screen as the driver would get it: text and style, contiguous runs merged."""
    return [[(s.text, s.style) for s in Segment.simplify(strip)]
            for strip in app.screen._compositor.render_strips()]


def rows_of(ids: list[int], version: dict[int, int]) -> list[tuple[int, tuple[Cell, ...]]]:
    return [(i, (Cell(f"row-{i}", "bold", row_id=i), Cell(f"doing {version[i]}"),
                 Cell(str(version[i]), justify="right"))) for i in ids]


async def test_partial_repaints_draw_what_a_full_repaint_draws() -> None:
    rng = random.Random(12)
    ids = list(range(ROWS))
    version = dict.fromkeys(range(ROWS * 2), 0)
    app = Table()
    async with app.run_test(size=(60, 16)) as pilot:
        table = app.query_one(KeyedTable)
        table.focus()
        table.show(rows_of(ids, version))
        await pilot.pause()
        for step in range(60):
            kind = rng.choice(["shuffle-top", "bump", "change", "remove", "add", "cursor", "nothing"])
            if kind == "shuffle-top":  # a few rows jump to the top, as busy agents do
                for row_id in rng.sample(ids, 3):
                    ids.remove(row_id)
                    ids.insert(0, row_id)
            elif kind == "bump":
                row_id = rng.choice(ids)
                ids.remove(row_id)
                ids.insert(rng.randrange(len(ids) + 1), row_id)
            elif kind == "change":
                for row_id in rng.sample(ids, 5):
                    version[row_id] += 1
            elif kind == "remove" and len(ids) > 3:
                ids.remove(table.cursor_id if rng.random() < 0.5 else rng.choice(ids))
            elif kind == "add":
                ids.insert(rng.randrange(len(ids) + 1), max(version) if max(version) not in ids
                           else next(i for i in version if i not in ids))
            elif kind == "cursor":
                await pilot.press(rng.choice(["j", "k", "pagedown", "pageup", "home", "end"]))
            table.show(rows_of(ids, version))
            await pilot.pause()
            partial = screen_lines(app)
            table.refresh()  # everything drawn again from the rows
            await pilot.pause()
            assert screen_lines(app) == partial, f"step {step} ({kind}): stale lines on screen"
            assert table.ordered_ids == ids
        # The cursor's row, the last, goes: the cursor moves up onto a row that stayed put.
        await pilot.press("end")
        stays = ids[-2]
        table.show(rows_of(ids[:-1], version))
        await pilot.pause()
        assert table.cursor_id == stays
        partial = screen_lines(app)
        table.refresh()
        await pilot.pause()
        assert screen_lines(app) == partial, "the cursor's new line was not repainted"


def budget(ref: str, period: str, fraction: float, limited: bool = True) -> BudgetState:
    return BudgetState("agent", ref, period, 100, 1.0, 1000 if limited else None, None, fraction,
                       0.0, 0.0, None, None, None, 0.0)


def agent(agent_id: int, status: str, last: float) -> Agent:
    return Agent(agent_id, "sim", f"a{agent_id}", None, None, None, None, None, None, status, "",
                 "", "", 0.0, last, None)


def test_tightest_budget_is_the_most_used_limited_one_the_session_on_a_tie() -> None:
    rng = random.Random(3)
    budgets = []
    for agent_id in range(60):
        for period in rng.sample(["session", "day", "week"], rng.randint(0, 3)):
            budgets.append(budget(str(agent_id), period, rng.choice([0.0, 0.5, 0.9, 1.2]),
                                  limited=rng.random() < 0.7))
    rng.shuffle(budgets)
    state = PodState((), 0.0, 60, budgets=tuple(budgets))
    for agent_id in range(60):
        found = [b for b in (state.budget("agent", str(agent_id), p) for p in ("session", "day"))
                 if b is not None and b.limited]
        expected = max(found, key=lambda b: b.fraction) if found else None  # session first
        assert state.tightest(agent_id) == expected


def test_statuses_are_worked_out_once_per_reading_as_effective_status_says() -> None:
    agents = (agent(1, "working", 95.0), agent(2, "working", 10.0), agent(3, "waiting", 0.0))
    state = PodState(agents, 100.0, 60)
    assert [state.status_of(a) for a in agents] == ["working", "stalled", "waiting"]
    assert state.counts()["stalled"] == 1 and state.counts()["working"] == 1
    assert state.agent(2) is agents[1] and state.agent(9) is None
    assert state.status_of(agent(9, "working", 0.0)) == "stalled"  # not of this reading
