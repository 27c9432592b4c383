"""Snapshots of the Fleet and Agent screens at 80x24 and 160x48, with a fixed
clock, time zone, theme, supervisor and data. Look at every SVG before
committing it (`pytest --snapshot-update`, then open the files)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import build_app

SIZES = [(80, 24), (160, 48)]


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_fleet(snap_compare, pod: Path, size) -> None:
    assert snap_compare(build_app(pod), terminal_size=size)


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_agent(snap_compare, pod: Path, size) -> None:
    async def open_agent(pilot) -> None:
        await pilot.press("enter")  # the top row: api-pages, waiting
        await pilot.app.workers.wait_for_complete()
        await pilot.pause()

    assert snap_compare(build_app(pod), terminal_size=size, run_before=open_agent)


def test_fleet_filtered_light(snap_compare, pod: Path) -> None:
    async def filter_shop(pilot) -> None:
        await pilot.press("slash", *"shop work")
        await pilot.pause()

    assert snap_compare(build_app(pod, theme="loom-light"), terminal_size=(120, 30),
                        run_before=filter_shop)


def test_help(snap_compare, pod: Path) -> None:
    assert snap_compare(build_app(pod, theme="loom-contrast"), terminal_size=(100, 34),
                        press=["question_mark"])


def test_agent_usage(snap_compare, pod: Path) -> None:
    """db-orders: over its session budget, six responses in the last half hour."""
    async def open_usage(pilot) -> None:
        await pilot.press("slash", *"db-orders", "enter", "enter")
        await pilot.press("2")
        await pilot.app.workers.wait_for_complete()
        await pilot.pause()

    assert snap_compare(build_app(pod), terminal_size=(120, 34), run_before=open_usage)


def test_budgets(snap_compare, pod: Path) -> None:
    assert snap_compare(build_app(pod), terminal_size=(140, 30), press=["b"])


def test_budgets_narrow(snap_compare, pod: Path) -> None:
    """An 80x24 tmux pane keeps who, what is used, of which limit, and when it runs out."""
    assert snap_compare(build_app(pod), terminal_size=(80, 24), press=["b"])
