"""The console driven through Pilot, as a supervisor would use it."""

from __future__ import annotations

from pathlib import Path

from textual.command import CommandList

from loomtui.config import parse_config
from loomtui.store.agents import record_event, upsert_agent
from loomtui.store.db import connect, db_path
from loomtui.tui.model import ordered
from loomtui.tui.screens.agent import AgentScreen, Timeline
from loomtui.tui.screens.fleet import FleetScreen
from loomtui.tui.screens.help import HelpScreen
from loomtui.tui.widgets.fleet_table import FleetTable
from tests.conftest import build_app
from tests.pods import FLEET, NOW
from tests.waiting import until


def names(app) -> list[str]:
    table = app.screen.query_one(FleetTable)
    return [table.row_cells(agent_id)[0].text for agent_id in table.ordered_ids]


def cursor_name(app) -> str:
    table = app.screen.query_one(FleetTable)
    return table.row_cells(table.cursor_agent_id)[0].text


def agent_id(app, name: str) -> int:
    return next(a.id for a in app.pod_state.agents if a.name == name)


def cell(app, name: str, column: str) -> str:
    return app.screen.query_one(FleetTable).cell(agent_id(app, name), column).text


async def test_fleet_lists_every_agent_needing_attention_first(pod: Path) -> None:
    """Default sort (triage): those who need a human by cause, the longest wait first
    (the two questions, the error, the stall), then working, idle, done."""
    app = build_app(pod)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        assert isinstance(app.screen, FleetScreen)
        shown = names(app)
        assert sorted(shown) == sorted(f[0] for f in FLEET)
        assert shown[:2] == ["auth-api", "api-pages"]  # waiting, the longest wait first
        assert shown[2] == "db-orders"  # error
        assert shown[3] == "infra-tf"  # working, but silent for 15 min > stall_after: stalled
        assert cell(app, "infra-tf", "status") == "◌ stalled"
        assert shown[-1] == "perf-cache"  # done
        header = str(app.screen.query_one("#pod-header").render())
        assert "3 working" in header and "1 done" in header and "ana" in header
        # waiting, error and stalled agents are counted by cause
        assert "needs you: 2 question 1 error 1 stalled" in header and "waiting" not in header


async def test_doing_column_shows_why_an_agent_waits(pod: Path) -> None:
    app = build_app(pod)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        assert cell(app, "auth-api", "doing") == "approval: git push origin auth"
        assert cell(app, "billing-vat", "doing") == "Edit: src/billing/tax.py"
        assert cell(app, "billing-vat", "last") == "3s"


async def test_filter_narrows_and_esc_clears(pod: Path) -> None:
    app = build_app(pod)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        await pilot.press("slash", *"infra")
        await pilot.pause()
        assert sorted(names(app)) == ["deps-bump", "infra-tf"]  # repo match
        await pilot.press("enter")  # back to the table, filter kept
        assert app.focused is app.screen.query_one(FleetTable)
        assert sorted(names(app)) == ["deps-bump", "infra-tf"]
        await pilot.press("escape")
        await pilot.pause()
        assert len(names(app)) == len(FLEET)
        await pilot.press("slash", *"waiting")  # by status
        await pilot.pause()
        assert sorted(names(app)) == ["api-pages", "auth-api"]


async def test_sort_cycles_and_keeps_the_cursor_on_its_agent(pod: Path) -> None:
    app = build_app(pod)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        await pilot.press("j", "j", "j")
        chosen = cursor_name(app)
        state = app.pod_state  # with the budgets the cost, tokens and budget sorts read
        for mode in ("recent", "name", "repo", "cost", "tokens", "budget", "status", "triage"):
            await pilot.press("s")
            await pilot.pause()
            assert app.screen.sort_mode == mode
            assert names(app) == [a.name for a in ordered(state, mode)]
            assert cursor_name(app) == chosen


async def test_enter_opens_the_agent_timeline_newest_first_and_esc_returns(pod: Path) -> None:
    app = build_app(pod)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        target = cursor_name(app)
        await pilot.press("enter")
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert isinstance(app.screen, AgentScreen)
        timeline = app.screen.query_one(Timeline)
        ids = [int(row.key.value) for row in timeline.ordered_rows]
        assert len(ids) == 5 and ids == sorted(ids, reverse=True)
        summary = str(app.screen.query_one("#agent-summary").render())
        assert target in summary
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, FleetScreen)
        assert cursor_name(app) == target


async def test_live_change_updates_the_cell_without_moving_the_cursor(pod: Path) -> None:
    """Another process writes to the store; the watcher (PRAGMA data_version)
    notices, and the changed row updates while the cursor stays on its agent."""
    clock = [NOW]
    app = build_app(pod, live=True, clock=lambda: clock[0])
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        await pilot.press("j", "j", "j", "j")
        chosen = cursor_name(app)
        writer = connect(db_path(pod))
        agent_id = writer.execute("SELECT id FROM agents WHERE name = 'docs-setup'").fetchone()[0]
        # docs-setup wakes up and asks a question: it joins the questions (waiting).
        record_event(writer, agent_id, kind="waiting", now=NOW, summary="question: which docs tool?",
                     status="waiting", status_reason="question: which docs tool?")
        writer.close()
        # the watcher checks 4 times a second
        await until(pilot, lambda: cell(app, "docs-setup", "status") == "◆ question", "docs-setup shown waiting")
        assert cell(app, "docs-setup", "doing") == "question: which docs tool?"
        assert names(app)[:3] == ["auth-api", "api-pages", "docs-setup"]  # the newest question last
        assert cursor_name(app) == chosen


async def test_new_agent_appears_live(pod: Path) -> None:
    app = build_app(pod, live=True)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        writer = connect(db_path(pod))
        agent_id = upsert_agent(writer, kind="claude", now=NOW, session_id="new-1", name="newcomer")
        record_event(writer, agent_id, kind="tool", now=NOW, tool="Read", summary="README.md")
        writer.close()
        await until(pilot, lambda: "newcomer" in names(app), "the new agent in the fleet")
        assert "newcomer" in names(app)
        assert len(names(app)) == len(FLEET) + 1


async def test_help_lists_the_keys_of_the_current_screen(pod: Path) -> None:
    app = build_app(pod)
    async with app.run_test(size=(100, 40)) as pilot:
        await pilot.pause()
        await pilot.press("question_mark")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)
        listed = {binding_id for _, _, binding_id in app.screen.keys}
        assert {"filter", "sort", "open", "quit", "help", "cycle_theme", "down", "up"} <= listed
        await pilot.press("escape")
        await pilot.pause()
        await pilot.press("enter")
        await pilot.pause()
        await pilot.press("question_mark")
        await pilot.pause()
        listed = {binding_id for _, _, binding_id in app.screen.keys}
        assert "back" in listed and "filter" not in listed


async def test_theme_key_cycles_through_loom_themes(pod: Path) -> None:
    """T cycles the built-in themes, and the status cells take the theme's colours."""
    app = build_app(pod)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        assert app.theme == "loom-dark"
        table = app.screen.query_one(FleetTable)

        def waiting_style() -> str:
            """The colour api-pages' status is drawn in (its row as the table renders it;
            cells name theme colours, resolved as they are drawn; not the cursor's row)."""
            line = table.ordered_ids.index(agent_id(app, "api-pages")) + 1  # under the header
            status = next(s for s in table.render_line(line) if "question" in s.text)
            return status.style.color.get_truecolor().hex.upper()

        assert waiting_style() == "#FF9E3B"  # loom-dark's agent-waiting
        seen = []
        for _ in range(3):
            await pilot.press("T")
            await pilot.pause()
            seen.append(app.theme)
            if app.theme == "loom-light":
                assert waiting_style() == "#C25700"
        assert seen == ["loom-light", "loom-contrast", "loom-dark"]
        assert waiting_style() == "#FF9E3B"


async def test_bad_user_theme_is_reported_once_and_skipped(pod: Path) -> None:
    (pod / "themes").mkdir()
    (pod / "themes" / "broken.toml").write_text('name = "broken"\nprimary = "not-a-colour"\n')
    (pod / "themes" / "mine.toml").write_text('name = "mine"\nprimary = "#123456"\n')
    app = build_app(pod, theme="mine")
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        assert app.theme == "mine"
        assert "broken" not in app.available_themes
        messages = [n.message for n in app._notifications]
        assert sum("broken.toml" in m for m in messages) == 1


async def test_unknown_theme_falls_back_to_default(pod: Path) -> None:
    app = build_app(pod, theme="no-such-theme")
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        assert app.theme == "loom-dark"
        assert any("no-such-theme" in n.message for n in app._notifications)


async def test_keymap_from_config_rebinds_a_key(pod: Path) -> None:
    config = parse_config({"console": {"stall_after": 600}, "keymap": {"sort": "o"}})
    app = build_app(pod, config=config)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        await pilot.press("o")
        assert app.screen.sort_mode == "recent"
        await pilot.press("s")  # no longer bound
        assert app.screen.sort_mode == "recent"


def palette_offers(app, command: str) -> bool:
    """Is the open command palette's highlighted option `command` (what enter runs)?"""
    options = app.screen.query_one(CommandList)
    return options.highlighted is not None and \
        str(options.get_option_at_index(options.highlighted).prompt).startswith(command)


async def test_command_palette_opens_an_agent(pod: Path) -> None:
    app = build_app(pod)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        await pilot.press("ctrl+p")
        await pilot.pause()
        await pilot.press(*"Open agent db-orders")
        await until(pilot, lambda: palette_offers(app, "Open agent db-orders"),
                    "the palette to offer 'Open agent db-orders'")
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, AgentScreen)
        assert app.pod_state.agent(app.screen.agent_id).name == "db-orders"


async def test_narrow_and_wide_layouts(pod: Path) -> None:
    """80 columns keep who / state / doing / age / budget / collisions / gates; 200 add the rest."""
    app = build_app(pod)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        keys = [c.key for c in app.screen.query_one(FleetTable).column_layout]
        assert keys == ["name", "status", "last", "doing", "budget", "clash", "gates"]
        await pilot.resize_terminal(200, 60)
        await pilot.pause()
        keys = [c.key for c in app.screen.query_one(FleetTable).column_layout]
        assert keys == ["name", "kind", "place", "status", "last", "doing", "tokens", "cost", "burn",
                        "budget", "diff", "clash", "gates"]
        assert len(names(app)) == len(FLEET)


async def test_empty_pod_says_how_to_start(tmp_path: Path) -> None:
    pod = tmp_path / "pod"
    connect(db_path(pod)).close()
    app = build_app(pod)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        assert app.screen.has_class("-empty")
        assert "loomtui demo" in str(app.screen.query_one("#fleet-empty").render())


async def test_no_color_keeps_the_fleet_readable(pod: Path, monkeypatch) -> None:
    """NO_COLOR turns colour off; the status symbols still tell the states apart."""
    monkeypatch.setenv("NO_COLOR", "1")
    app = build_app(pod)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        assert app.no_color
        svg = app.export_screenshot()
        for status in ("◆ question", "✗ error", "◌ stalled", "● working", "○ idle", "✓ done"):
            assert status.replace(" ", "&#160;") in svg or status in svg
        # Without colour, the waiting rows carry no orange.
        assert "#ff9e3b" not in svg.lower()
