"""The Agent screen's Diff tab on real repositories: the file list with
stats from the store, the selected file's patch, hunks, collisions named, binary files
shown as such, and the diff viewer on a 50,000-line diff."""

from __future__ import annotations

import re
import shutil
import tempfile
import time
from pathlib import Path

import pytest

from loomtui.git.discovery import discover
from loomtui.git.watch import refresh_all
from loomtui.store.agents import fetch_agents, upsert_agent
from loomtui.store.db import connect, db_path
from loomtui.tui.screens.agent import AgentScreen
from loomtui.tui.screens.diff_tab import FileList
from loomtui.tui.widgets.diff_view import DiffView
from tests.conftest import build_app
from tests.gitrepos import add_worktree, commit_all, isolate, make_repo, write
from tests.pods import NOW
from tests.waiting import until

CODE = "".join(f"def f{i}(x):\n    return x + {i}\n\n" for i in range(40))


@pytest.fixture
def pod(tmp_path: Path, monkeypatch) -> Path:
    return make_pod(tmp_path, monkeypatch)


def make_pod(tmp_path: Path, monkeypatch) -> Path:
    """Two agents in two worktrees of one repository; both change src/app.py. Commit
    dates are fixed, so commit ids are the same on every run."""
    isolate(monkeypatch, tmp_path / "home")
    monkeypatch.setenv("GIT_AUTHOR_DATE", "2026-11-20T09:00:00+00:00")
    monkeypatch.setenv("GIT_COMMITTER_DATE", "2026-11-20T09:00:00+00:00")
    repo = make_repo(tmp_path / "shop", {"src/app.py": CODE, "README.md": "# shop\n",
                                         "logo.png": b"\x89PNG\r\n\x1a\n" + bytes(range(256))})
    one = add_worktree(repo, tmp_path / "wt" / "one", "one")
    two = add_worktree(repo, tmp_path / "wt" / "two", "two")
    write(one / "src" / "app.py", CODE.replace("return x + 3\n", "return x * 3  # faster\n"))
    commit_all(one, "multiply")
    write(one / "src" / "new.py", "print('hello')\n")  # untracked
    write(one / "logo.png", b"\x89PNG\r\n\x1a\n" + bytes(range(255, -1, -1)))
    write(two / "src" / "app.py", CODE + "def g():\n    pass\n")
    pod = tmp_path / "pod"
    conn = connect(db_path(pod))
    now = NOW
    for name, wt in (("one-agent", one), ("two-agent", two)):
        upsert_agent(conn, kind="claude", now=now, session_id=name, name=name, cwd=str(wt),
                     repo=str(repo), worktree=str(wt), branch=wt.name)
    refresh_all(conn, discover(fetch_agents(conn)))
    conn.close()
    return pod


async def open_diff(pilot, name: str) -> AgentScreen:
    app = pilot.app
    agent = next(a for a in app.pod_state.agents if a.name == name)
    app.open_agent(agent.id)
    await pilot.pause()
    await pilot.press("3")
    await pilot.pause()
    await app.workers.wait_for_complete()
    await pilot.pause()
    return app.screen


async def test_files_patch_hunks_and_collisions(pod: Path) -> None:
    app = build_app(pod)
    async with app.run_test(size=(140, 40)) as pilot:
        screen = await open_diff(pilot, "one-agent")
        files = screen.query_one(FileList)
        rows = [files.get_row_at(i) for i in range(files.row_count)]
        assert [(r[0], r[1].plain, r[2].plain) for r in rows] == [
            ("M", "logo.png", "bin"),
            ("M", "≈ src/app.py", "+1 −1"),
            ("A", "src/new.py", "+1 −0"),
        ]
        head = str(screen.query_one("#diff-head").render())
        assert "3 file(s) +2 −1" in head and "against main" in head
        assert "≈ src/app.py is also changed by two-agent" in head  # no forecast made yet
        view = screen.query_one(DiffView)
        assert view.path == "logo.png" and view.lines == [] and "binary" in view._message
        await pilot.press("j")  # src/app.py
        await pilot.pause()
        assert view.path == "src/app.py"
        assert view.lines[0].startswith("diff --git")
        assert "-    return x + 3" in view.lines and "+    return x * 3  # faster" in view.lines
        assert view.hunks and view.cursor == view.hunks[0]
        await pilot.press("enter")  # read the patch
        await pilot.pause()
        assert view.has_focus
        removed = view.lines.index("-    return x + 3")
        while view.cursor < removed + 1:
            await pilot.press("j")
        await pilot.pause()
        # the line after the removal is the new line 11 of src/app.py (def f3 starts at 10)
        assert view.line_in_new_file() == 11
        await pilot.press("h")
        assert files.has_focus


async def test_a_clean_worktree_and_no_worktree(pod: Path, tmp_path: Path) -> None:
    conn = connect(db_path(pod))
    upsert_agent(conn, kind="script", now=time.time(), session_id="s", name="loose", cwd=str(tmp_path))
    conn.close()
    app = build_app(pod)
    async with app.run_test(size=(120, 30)) as pilot:
        screen = await open_diff(pilot, "loose")
        assert "no worktree" in str(screen.query_one("#diff-head").render())
        await pilot.press("k", "up", "j", "e")  # an empty list: nothing to move to, no crash
        await pilot.pause()
        assert app.screen is screen


async def test_a_50000_line_diff_opens_and_scrolls(tmp_path: Path) -> None:
    """The viewer renders what is visible only: jumping to the end of a 50,000-line patch
    renders the last screen, not the whole patch."""
    from textual.app import App

    patch = "diff --git a/big.py b/big.py\n@@ -1,0 +1,50000 @@\n" + "".join(
        f"+value_{i} = {i}\n" for i in range(50_000))

    class Viewer(App):
        def compose(self):
            yield DiffView(id="v")

    app = Viewer()
    async with app.run_test(size=(100, 30)) as pilot:
        view = app.query_one(DiffView)
        view.show_patch("big.py", patch)
        view.focus()
        await pilot.pause()
        assert len(view.lines) == 50_002
        await pilot.press("end")
        await pilot.pause()
        assert view.cursor == 50_001 and view.scroll_y >= 50_002 - 30
        assert len(view._cache) <= 60  # a couple of screens, not the patch
        assert view.line_in_new_file() == 50_000
        await pilot.press("home", "n")
        assert view.cursor == 1


def test_diff_tab_snapshot(snap_compare, monkeypatch) -> None:
    """In a fixed directory, so the paths on screen are the same on every machine."""
    root = Path(tempfile.gettempdir()) / "loomtui-snapshot-diff"
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir()
    pod = make_pod(root, monkeypatch)

    async def open_it(pilot) -> None:
        await open_diff(pilot, "one-agent")
        await pilot.press("j")
        await pilot.pause()

    try:
        assert snap_compare(build_app(pod), terminal_size=(120, 30), run_before=open_it)
    finally:
        shutil.rmtree(root, ignore_errors=True)


async def test_e_opens_the_editor_at_the_hunk_and_t_opens_a_tmux_window(pod: Path, tmp_path: Path,
                                                                          monkeypatch) -> None:
    """The console suspends for $EDITOR (given +LINE FILE), and inside tmux `t` asks tmux for a
    window in the worktree. Both programs here are scripts that record how they were called;
    the headless test driver cannot really suspend, so suspension is a no-op here."""
    import contextlib
    import os
    import stat

    calls = tmp_path / "calls.txt"
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name in ("fake-editor", "tmux"):
        script = bin_dir / name
        script.write_text(f'#!/bin/sh\necho "{name} $*" >> {calls}\n')
        script.chmod(script.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("EDITOR", str(bin_dir / "fake-editor"))
    monkeypatch.delenv("VISUAL", raising=False)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("TMUX", "/tmp/tmux-test,1,0")
    app = build_app(pod)
    monkeypatch.setattr(app, "suspend", contextlib.nullcontext)
    async with app.run_test(size=(140, 40)) as pilot:
        screen = await open_diff(pilot, "one-agent")
        worktree = app.pod_state.agent(screen.agent_id).worktree
        await pilot.press("j", "enter")  # src/app.py, into its patch
        view = screen.query_one(DiffView)
        removed = view.lines.index("-    return x + 3")
        while view.cursor < removed + 1:
            await pilot.press("j")
        await pilot.press("e")
        await pilot.pause()
        await pilot.press("t")
        await pilot.pause()
    assert calls.read_text().splitlines() == [
        f"fake-editor +11 {worktree}/src/app.py",
        f"tmux new-window -c {worktree} -n one-agent",
    ]


async def test_the_tab_keys_leave_the_diff_tab(pod: Path) -> None:
    """1-4 switch tabs from anywhere, the Diff tab's focused file list included (`2` there
    used to do nothing: focus stayed in the Diff tab and took the view back)."""
    from textual.widgets import TabbedContent

    app = build_app(pod)
    async with app.run_test(size=(140, 40)) as pilot:
        screen = await open_diff(pilot, "one-agent")
        tabs = screen.query_one(TabbedContent)
        assert tabs.active == "diff" and isinstance(app.focused, FileList)
        for key, pane in (("2", "usage"), ("3", "diff"), ("4", "agent-memory"), ("3", "diff"), ("1", "activity")):
            await pilot.press(key)
            await pilot.pause()
            assert tabs.active == pane, (key, tabs.active)


LONG = "src/payments/providers/stripe_hooks.py"


@pytest.mark.parametrize("size", [(80, 24), (160, 48)])
async def test_the_file_list_keeps_to_its_side_at_80_and_160_columns(tmp_path: Path, monkeypatch, size) -> None:
    """The file list is sized to its 40 %: the +/- whole, a long path cut at its start so the
    file's name shows, a column of space before the patch. (Columns sized by their content
    made the list wider than its room: at 80 columns the +/- ran into the patch, cut.)"""
    from tests.test_control_chars import screen_text

    pod = make_pod(tmp_path, monkeypatch)
    one = tmp_path / "wt" / "one"
    write(one / LONG, "".join(f"line_{i} = {i}\n" for i in range(123)))
    conn = connect(db_path(pod))
    refresh_all(conn, discover(fetch_agents(conn)))
    conn.close()
    app = build_app(pod)
    async with app.run_test(size=size) as pilot:
        screen = await open_diff(pilot, "one-agent")
        files, view = screen.query_one(FileList), screen.query_one(DiffView)
        await pilot.press("j")  # src/app.py: its patch beside the list
        await until(pilot, lambda: view.lines, "the patch of src/app.py")
        assert files.region.right < view.region.x  # apart, with a gap between them
        assert files.virtual_size.width <= files.scrollable_content_region.width  # nothing cut on the right
        lines = screen_text(app).splitlines()
        left = [line[files.region.x:files.region.right] for line in
                lines[files.region.y:files.region.y + 1 + files.row_count]]
        assert "File" in left[0] and "+/-" in left[0]
        shown = {row.split()[0]: row for row in left[1:]}
        assert set(shown) == {"A", "M"}
        rows = dict(zip((files.get_row_at(i)[1].plain for i in range(files.row_count)), left[1:], strict=True))
        long_row = next(row for label, row in rows.items() if label.endswith("/stripe_hooks.py"))
        assert re.search(r"/stripe_hooks\.py +\+123 −0$", long_row.rstrip()), long_row
        if size[0] >= 160:
            assert LONG in long_row  # room for the whole path
        else:
            assert "…" in long_row and LONG not in long_row
        assert "+1 −1" in rows["≈ src/app.py"] and rows["≈ src/app.py"].rstrip().endswith("+1 −1")
        assert rows["logo.png"].rstrip().endswith("bin")
