"""A theme switch recolours every screen at once: what each screen paints in an app
colour ($agent-waiting, $risk-critical, $diff-added, ...) takes the new theme's value
on the next frame, with no new data from the store (the console here is not live, so
nothing but the theme switch can repaint it)."""

from __future__ import annotations

from pathlib import Path

import pytest
from rich.style import Style
from textual.color import Color
from textual.geometry import Region
from textual.widget import Widget
from textual.widgets import DataTable

from loomtui.memory import entries as mem
from loomtui.store.db import connect, db_path
from loomtui.tui.screens.agent import AgentScreen
from loomtui.tui.screens.approvals import ApprovalsScreen, GateScreen
from loomtui.tui.screens.audit import AuditScreen
from loomtui.tui.screens.budgets import BudgetsScreen
from loomtui.tui.screens.fleet import FleetScreen
from loomtui.tui.screens.memory import MemoryScreen
from tests.conftest import build_app
from tests.pods import NOW
from tests.test_approvals import add_gates


def painted(widget: Widget, needle: str, exact: bool = False) -> Style:
    """The style the widget paints `needle` with, read from its rendered lines (what
    the screen shows), first occurrence from the top; `exact`: a segment of just that."""
    lines = widget.render_lines(Region(0, 0, widget.size.width, widget.size.height))
    for strip in lines:
        for segment in strip:
            found = segment.text == needle if exact else needle in segment.text
            if found and segment.style is not None:
                return segment.style
    shown = "\n".join(strip.text for strip in lines)
    raise AssertionError(f"{needle!r} is not on {widget!r}:\n{shown}")


def colour(widget: Widget, needle: str, exact: bool = False) -> str:
    """The foreground colour `needle` is painted in, as #RRGGBB."""
    style = painted(widget, needle, exact)
    assert style.color is not None, f"{needle!r} has no colour of its own"
    return style.color.get_truecolor().hex.upper()


def expected(app, variable: str) -> str:
    return Color.parse(app.theme_variables[variable]).hex.upper()


async def switch_to_light(pilot) -> None:
    """T, the console's own key, from loom-dark to loom-light; then one frame. (A modal
    screen takes no app keys: there the action runs as the palette would run it.)"""
    assert pilot.app.theme == "loom-dark"
    if pilot.app.screen.is_modal:
        pilot.app.action_cycle_theme()
    else:
        await pilot.press("T")
    await pilot.pause()
    assert pilot.app.theme == "loom-light"


async def check(pilot, where: list[tuple]) -> None:
    """Each (widget selector, text, variable[, exact]): painted in the variable's colour
    in loom-dark, and in loom-light's once T switched the theme."""
    app = pilot.app
    dark = {}
    for selector, needle, variable, *exact in where:
        dark[variable] = expected(app, variable)
        assert colour(app.screen.query_one(selector), needle, *exact) == dark[variable], (selector, needle)
    await switch_to_light(pilot)
    for selector, needle, variable, *exact in where:
        light = expected(app, variable)
        assert light != dark[variable]  # else this checks nothing
        assert colour(app.screen.query_one(selector), needle, *exact) == light, (selector, needle)


async def test_fleet_recolours(pod: Path) -> None:
    add_gates(pod)
    app = build_app(pod)
    async with app.run_test(size=(160, 30)) as pilot:
        await pilot.pause()
        assert isinstance(app.screen, FleetScreen)
        await check(pilot, [
            ("#pod-header", "⚑ 4", "agent-waiting"),
            ("#pod-header", "1 critical", "risk-critical"),  # the causes, each in its colour
            ("#fleet", "◆ high", "risk-high"),  # auth-api's gate, not the cursor's row
            ("#fleet", "◆ question", "agent-waiting"),  # api-pages
            ("#fleet", "+112", "diff-added"),  # billing-vat's worktree
        ])


async def test_inbox_and_gate_recolour(pod: Path) -> None:
    add_gates(pod)
    app = build_app(pod)
    async with app.run_test(size=(120, 30)) as pilot:
        await pilot.press("i")
        await pilot.pause()
        assert isinstance(app.screen, ApprovalsScreen)
        await check(pilot, [
            ("#inbox-header", "pending", "agent-waiting"),
            ("#inbox", "medium", "risk-medium"),  # the cursor's row is critical: not that one
        ])
        await pilot.press("T", "T")  # back to loom-dark
        await pilot.press("enter")  # the critical gate, in full
        await pilot.pause()
        assert isinstance(app.screen, GateScreen)
        await app.workers.wait_for_complete()
        await pilot.pause()
        await check(pilot, [("#gate-detail", "critical", "risk-critical")])


async def test_memory_recolours(pod: Path) -> None:
    conn = connect(db_path(pod))
    agent = mem.Author(name="billing-vat", kind="agent")
    sup = mem.supervisor("ana")
    mem.add(conn, kind="fact", title="Staging resets nightly", body="At 02:00.", tags="", scope="pod",
            author=sup, now=NOW - 600, pinned=True)
    mem.add(conn, kind="decision", title="VAT per line", body="Round per line.", tags="", scope="pod",
            author=agent, now=NOW - 300, review_kinds=("decision",))
    mem.add(conn, kind="fact", title="Ports", body="8080.", tags="", scope="pod", author=sup, now=NOW - 100)
    conn.close()
    app = build_app(pod)
    async with app.run_test(size=(120, 30)) as pilot:
        await pilot.press("m")
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert isinstance(app.screen, MemoryScreen)
        await pilot.press("v", "v")  # every entry: the proposal shows beside the others
        await app.workers.wait_for_complete()
        await pilot.pause()
        titles = [e.title for e in app.screen.entries]
        app.screen.query_one(DataTable).move_cursor(row=titles.index("Ports"))  # off the others
        await pilot.pause()
        await check(pilot, [
            ("#memory-head", "1 to review", "agent-waiting"),
            ("#memory-list", "proposed", "agent-waiting"),
            ("#memory-list", "▲", "risk-medium"),  # the pinned entry
        ])


async def test_budgets_recolour(pod: Path) -> None:
    app = build_app(pod)
    async with app.run_test(size=(140, 30)) as pilot:
        await pilot.press("b")
        await pilot.pause()
        assert isinstance(app.screen, BudgetsScreen)
        await pilot.press("end")  # over-budget rows come first: the cursor (its own colours) goes last
        await check(pilot, [("#budgets", "over", "budget-critical")])  # db-orders' session


async def test_agent_summary_recolours(pod: Path) -> None:
    app = build_app(pod)
    async with app.run_test(size=(120, 30)) as pilot:
        await pilot.press("enter")  # the top row: api-pages, waiting
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert isinstance(app.screen, AgentScreen)
        await check(pilot, [("#agent-summary", "waiting", "agent-waiting")])


async def test_audit_header_recolours(pod: Path) -> None:
    app = build_app(pod)
    async with app.run_test(size=(120, 30)) as pilot:
        await pilot.press("L")
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert isinstance(app.screen, AuditScreen)
        await check(pilot, [("#audit-header", "intact", "agent-done")])


async def test_diff_tab_recolours(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.test_diff_tab import make_pod, open_diff

    pod = make_pod(tmp_path, monkeypatch)
    app = build_app(pod)
    async with app.run_test(size=(140, 40)) as pilot:
        await open_diff(pilot, "one-agent")
        await pilot.press("j")  # src/app.py, its patch on the right
        await pilot.pause()
        await check(pilot, [
            ("#diff-head", "+2", "diff-added"),
            ("#diff-head", "−1", "diff-removed"),  # (an overlap line is dim: no colour of its own)
            ("#diff-files", "−0", "diff-removed"),  # src/new.py, not under the cursor
            ("#diff-view", "+", "diff-added", True),  # the sign of the added line
            ("#diff-view", "return", "syntax-keyword", True),  # the code's own colours
            ("#diff-view", "# faster", "syntax-comment", True),
        ])


def test_a_cell_drawn_outside_the_console_keeps_its_other_styles() -> None:
    """With no theme to resolve "$risk-high" against (a cell printed by Rich alone, or in
    an app without LoomTUI's colours), the colour is left out and the rest kept."""
    from loomtui.tui.widgets.cells import Cell

    text = Cell("! auth-api", "bold $risk-high", spans=((0, 1, "reverse on $panel"),)).__rich__()
    assert str(text.style) == "bold"
    assert [str(span.style) for span in text.spans] == ["reverse"]
