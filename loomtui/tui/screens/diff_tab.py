"""The Agent screen's Diff tab: the agent's worktree against its base.

Left, the changed files with their status and +/- (from the store, as the diff watcher
wrote them, so they are live); right, the selected file's patch in a `DiffView`, computed
on demand in a thread (`compute_diff(..., patches=True)`) and again whenever the watcher
records a change. Files another worktree of the repository changes too are marked ⚠, and
the line above the list says which agents collide on which files.

Keys: j/k choose a file, enter (or l) reads its patch (then j/k scroll, n/p hunks, h or
tab goes back), e opens the file in $EDITOR at the hunk (the console suspends and
resumes), t opens a tmux window in the worktree when the console runs inside tmux.
"""

from __future__ import annotations

import asyncio
import os
import shlex
import shutil
import subprocess

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.content import Content
from textual.message import Message
from textual.widgets import DataTable, Static

from loomtui.store.agents import Agent
from loomtui.text import printable
from loomtui.tui.model import PodState
from loomtui.tui.widgets.cells import Cell
from loomtui.tui.widgets.diff_view import DiffView

PATCH_LIMIT = 8 << 20  # per file: the viewer renders only what is visible, so read it all
STATUS_MARK = {"added": "A", "modified": "M", "deleted": "D", "renamed": "R"}


def _fit_left(text: str, width: int) -> str:
    """`text` in `width` cells, cut at the start: of a path, the file's name is what tells."""
    return text if len(text) <= width else "…" + text[len(text) - width + 1:]


class FileList(DataTable):
    """The changed files. j/k move, l (or enter) reads the file's patch."""

    BINDINGS = [
        Binding("j", "cursor_down", "Down", show=False, id="files_down"),
        Binding("k", "cursor_up", "Up", show=False, id="files_up"),
        Binding("l", "read", "Read patch", show=False, id="files_read"),
    ]

    class ReadChosen(Message):
        """l was pressed: the patch of the file under the cursor is to be read."""

    class Resized(Message):
        """The list's size changed: its columns are to be fitted again."""

    def on_resize(self) -> None:
        self.post_message(self.Resized())

    def action_read(self) -> None:
        self.post_message(self.ReadChosen())


class DiffTab(Vertical):
    """Files and patches of one agent's worktree."""

    BINDINGS = [
        Binding("e", "edit", "Edit", id="edit_file"),
        Binding("t", "tmux", "tmux", id="tmux_window"),
        Binding("h", "files", "Files", show=False, id="diff_files"),
    ]
    DEFAULT_CSS = """
    DiffTab { height: 1fr; }
    #diff-head { height: auto; max-height: 4; padding: 0 1; }
    #diff-body { height: 1fr; }
    #diff-files { width: 40%; max-width: 60; height: 1fr; overflow-x: hidden; margin-right: 1; }
    DiffView { width: 1fr; height: 1fr; }
    """

    def __init__(self, agent_id: int) -> None:
        super().__init__(id="diff-tab")
        self.agent_id = agent_id
        self._shown_for: object = ()
        self._files: list = []
        self._result = None  # DiffResult with patches
        self._result_for: object = None
        self._selected: str | None = None
        self._clashes: dict[str, tuple[str, ...]] = {}
        self._conflicting: set[str] = set()

    def compose(self) -> ComposeResult:
        yield Static(id="diff-head")
        with Horizontal(id="diff-body"):
            yield FileList(id="diff-files", cursor_type="row", zebra_stripes=True)
            yield DiffView(id="diff-view")

    def on_mount(self) -> None:
        self._fill([], {})

    @on(FileList.Resized)
    def _refit(self, event: FileList.Resized) -> None:
        event.stop()
        if self._files:  # the path column takes what the list's new width leaves
            self._fill(self._files, self._clashes, self._conflicting)

    # -- state from the store -------------------------------------------------------

    def show_state(self, state: PodState) -> None:
        agent = state.agent(self.agent_id)
        if agent is None:
            return
        wt = state.worktree_of(agent)
        key = (wt, tuple(sorted(state.collisions_of(agent).items())),
               tuple(sorted((state.forecast_of(agent) or {}).items())))
        if key == self._shown_for:
            return
        self._shown_for = key
        self.app.run_worker(self._load(agent, state), group=f"diff-{self.agent_id}", exclusive=True,
                            exit_on_error=False)

    async def _load(self, agent: Agent, state: PodState) -> None:
        head = self.query_one("#diff-head", Static)
        wt = state.worktree_of(agent)
        if not agent.worktree:
            head.update(Text("This agent has no worktree the console knows of (no git checkout at its "
                             "cwd).", style="dim"))
            return
        if wt is None:
            head.update(Text(f"{printable(agent.worktree)}: not diffed yet (the diff watcher looks at new "
                             "agents within a few seconds).", style="dim"))
            return
        files = await self.app.store.fetch_worktree_files(agent.worktree)
        self._files = files
        clashes = state.collisions_of(agent)
        conflicts = state.conflicts_of(agent)
        head.update(self._head(agent, wt, clashes, state))
        self._fill(files, clashes, {f for found in conflicts.values() for f in found})
        if wt.state not in ("missing", "bare", "error") and self.is_visible_tab():
            await self._load_patches(agent, wt)

    def is_visible_tab(self) -> bool:
        return self.display and self.parent is not None and self.parent.display

    def _head(self, agent: Agent, wt, clashes: dict[str, tuple[str, ...]], state: PodState) -> Content:
        # Content: its "$..." styles are drawn in the theme's colours.
        if wt.state in ("missing", "bare", "error"):
            return Content.styled(f"{printable(wt.path)}: {wt.state}", "bold $agent-error")
        parts: list[str | tuple[str, str]] = [
            (f"{wt.files} file(s) ", "bold"), (f"+{wt.added}", "$diff-added"),
            (f" −{wt.deleted}", "$diff-removed")]
        base = printable(wt.base or "?")
        parts.append((f"  against {base}", "dim"))
        if wt.merge_base:
            parts.append((f" (merge-base {wt.merge_base[:10]})", "dim"))
        if wt.state != "ok":
            parts.append((f"  [{wt.state}]", "italic"))
        parts.extend(self._forecast_lines(agent, wt, clashes, state))
        return Content.assemble(*parts)

    @staticmethod
    def _forecast_lines(agent: Agent, wt, clashes: dict[str, tuple[str, ...]], state: PodState) -> list:
        """✗ the agents (or the base) its branch would conflict with when merged, and on which
        files (git merge-tree, see `loomtui conflicts`); then ≈ files others change too,
        which merge cleanly (or, before a forecast is made, may not)."""
        def names(worktrees) -> str:
            return ", ".join(a.name for w in worktrees for a in state.agents_in(w)) or \
                ", ".join(os.path.basename(w) for w in worktrees)

        lines: list[tuple[str, str]] = []
        conflicts = state.conflicts_of(agent)
        for other, files in sorted(conflicts.items()):
            who = f"its base {wt.base or '?'}" if other == "" else names([other])
            shown = ", ".join(files[:3]) + (f" and {len(files) - 3} more" if len(files) > 3 else "")
            lines.append((f"\n✗ would conflict with {who}: {shown}", "bold $risk-high"))
        known = state.forecast_of(agent) is not None
        for path, others in sorted(clashes.items()):
            if any(path in conflicts.get(w, ()) for w in others):
                continue
            note = " (merges cleanly)" if known else ""
            lines.append((f"\n≈ {path} is also changed by {names(others)}{note}", "dim"))
        if len(lines) > 3:
            lines = lines[:2] + [(f"\n  and {len(lines) - 2} more", "dim")]
        return [(printable(text, multiline=True), style) for text, style in lines]

    def _fill(self, files, clashes, conflicting: set[str] = frozenset()) -> None:
        """The rows, sized to the list's width: the status and the +/- always whole, the
        path column gets the rest and a long path loses its start (the file's name stays).
        Columns sized by their content used to make the list wider than its 40 %, so at 80
        columns the +/- ran into the patch and was cut."""
        table = self.query_one(FileList)
        self._clashes = clashes
        self._conflicting = conflicting
        keep = self._selected
        stats = []
        for f in files:
            # Cells: their "$..." styles take the theme's colours each time the table draws.
            added, deleted = f"+{f.added}", f"−{f.deleted}"
            stats.append(Cell("bin", "dim", justify="default") if f.binary else Cell(
                f"{added} {deleted}", justify="default",
                spans=((0, len(added), "$diff-added"),
                       (len(added) + 1, len(added) + 1 + len(deleted), "$diff-removed"))))
        stat_width = max((len(c.text) for c in stats), default=3)
        room = table.scrollable_content_region.width
        if len(files) + 1 > table.scrollable_content_region.height:  # a vertical scrollbar comes
            room -= table.styles.scrollbar_size_vertical
        pad = 2 * table.cell_padding
        path_width = max(8, room - (1 + pad) - (stat_width + pad) - pad)
        table.clear(columns=True)
        table.add_column("", key="status", width=1)
        table.add_column("File", key="path", width=path_width)
        table.add_column("+/-", key="stat", width=max(3, stat_width))
        for f, stat in zip(files, stats, strict=True):
            name = printable(f.path if not f.old_path else f"{f.old_path} → {f.path}")
            # ✗ git says it would conflict when merged; ≈ another agent changes it too
            sign = "✗" if f.path in conflicting or f.old_path in conflicting else "≈" if f.path in clashes else ""
            mark = ((0, 2, "bold $risk-high" if sign == "✗" else "dim"),) if sign else ()
            shown = _fit_left(name, path_width - (2 if sign else 0))
            label = Cell((f"{sign} " if sign else "") + shown, spans=mark, justify="default")
            table.add_row(STATUS_MARK.get(f.status, "?"), label, stat, key=f.path)
        if keep is not None and keep in {f.path for f in files}:
            table.move_cursor(row=table.get_row_index(keep), animate=False)
        elif files:
            self._selected = files[0].path
        else:
            self._selected = None
            self.query_one(DiffView).clear("No changes against the base.")

    async def _load_patches(self, agent: Agent, wt) -> None:
        from loomtui.git.diff import compute_diff
        from loomtui.git.discovery import worktree_at

        marker = (wt.updated_at, wt.files, wt.added, wt.deleted)
        if marker != self._result_for:
            bases = dict(self.app.config.git.bases)
            try:
                self._result = await asyncio.to_thread(
                    lambda: compute_diff(worktree_at(agent.worktree, bases), patches=True,
                                         patch_limit=PATCH_LIMIT))
                self._result_for = marker
            except Exception as exc:  # noqa: BLE001 - shown, never raised into the console
                self.query_one(DiffView).clear(f"Could not compute the diff: {exc}")
                return
        self._show_selected()

    def _show_selected(self) -> None:
        view = self.query_one(DiffView)
        if self._result is None or self._selected is None:
            return
        change = next((f for f in self._result.files if f.path == self._selected), None)
        if change is None:
            view.clear(f"{self._selected}: changed again since; the list refreshes in a moment.")
            return
        view.show_patch(change.path, change.patch, binary=change.binary, truncated=change.truncated,
                        note="" if change.patch is not None else f"{change.path}: {change.status}")

    @on(DataTable.RowHighlighted, "#diff-files")
    def _highlighted(self, event: DataTable.RowHighlighted) -> None:
        event.stop()
        if event.row_key is None or event.row_key.value is None:
            return  # an empty list
        self._selected = event.row_key.value
        self._show_selected()

    @on(DataTable.RowSelected, "#diff-files")
    @on(FileList.ReadChosen)
    def _read(self, event: DataTable.RowSelected | FileList.ReadChosen) -> None:
        event.stop()
        self.query_one(DiffView).focus()

    def activated(self) -> None:
        """The tab was opened: patches are computed now (not while hidden)."""
        self._shown_for = ()
        if self.app.pod_state is not None:
            self.show_state(self.app.pod_state)
        self.query_one(FileList).focus()

    # -- actions ----------------------------------------------------------------------

    def action_files(self) -> None:
        self.query_one(FileList).focus()

    def _agent(self) -> Agent | None:
        return self.app.pod_state.agent(self.agent_id) if self.app.pod_state else None

    def action_edit(self) -> None:
        agent = self._agent()
        if agent is None or not agent.worktree or self._selected is None:
            self.notify("No file to open.", severity="warning")
            return
        editor = os.environ.get("VISUAL") or os.environ.get("EDITOR")
        if not editor:
            self.notify("Set $EDITOR (or $VISUAL) to open files from the console.", severity="warning")
            return
        view = self.query_one(DiffView)
        line = view.line_in_new_file() if view.path == self._selected else 1
        path = os.path.join(agent.worktree, self._selected)
        argv = [*shlex.split(editor), f"+{line}", path]
        try:
            with self.app.suspend():
                subprocess.run(argv, check=False)
        except Exception as exc:  # noqa: BLE001 - e.g. cannot suspend (no terminal)
            self.notify(printable(f"Could not run {argv[0]}: {exc}"), severity="error", markup=False)

    def action_tmux(self) -> None:
        agent = self._agent()
        if agent is None or not agent.worktree:
            self.notify("This agent has no worktree.", severity="warning")
            return
        if not os.environ.get("TMUX") or shutil.which("tmux") is None:
            self.notify("Not running inside tmux: open a shell in " + printable(agent.worktree), timeout=6,
                        markup=False)
            return
        done = subprocess.run(["tmux", "new-window", "-c", agent.worktree, "-n", printable(agent.name)[:20]],
                              capture_output=True, text=True, check=False)
        if done.returncode != 0:
            self.notify(printable(f"tmux: {done.stderr.strip() or 'failed'}"), severity="error", markup=False)
