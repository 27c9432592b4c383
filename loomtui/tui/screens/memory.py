"""MemoryScreen: the pod's shared memory, for people.

Search as you type (FTS5, the same ranking agents get), a list with kind, title, scope,
author, age and status, the selected entry rendered as Markdown with its history, and the
review queue (entries agents proposed). Every change names the version it was made
against (compare-and-swap): if an agent or another supervisor changed the entry since it
was shown, the change is refused and the screen shows the current version.

Keys: / search, v cycles the view (active, to review, all), a adds, e edits, p pins or
unpins, x retires, A accepts a proposal, r rejects one (a reason is required), esc back.
"""

from __future__ import annotations

from collections.abc import Awaitable
from datetime import datetime

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import DataTable, Footer, Input, Label, Markdown, Select, Static, TextArea

from loomtui.actions import MemoryOutcome
from loomtui.memory import entries as mem
from loomtui.text import printable
from loomtui.tui import model
from loomtui.tui.screens.base import LoomScreen
from loomtui.tui.screens.reason import ReasonModal
from loomtui.tui.widgets.cells import Cell
from loomtui.tui.widgets.table_rows import sync_rows

VIEWS = (("active", ("active",)), ("review", ("proposed",)), ("all", None))
REASON_PLACEHOLDER = "reason (required; the author sees it in the history)"
VIEW_LABELS = {"active": "active entries", "review": "proposed by agents, waiting for review",
               "all": "every entry, retired and superseded included"}


class EntryModal(ModalScreen[dict | None]):
    """Add or edit an entry. ctrl+s saves, esc cancels."""

    BINDINGS = [Binding("escape", "cancel", "Cancel", id="cancel_entry"),
                Binding("ctrl+s", "save", "Save", id="save_entry")]
    DEFAULT_CSS = """
    EntryModal { align: center middle; }
    EntryModal > Vertical {
        width: 90; max-width: 95%; height: auto; max-height: 95%; border: round $primary;
        background: $surface; padding: 0 1;
    }
    EntryModal Label { width: 100%; }
    EntryModal .hint { color: $text-muted; }
    EntryModal TextArea { height: 10; }
    EntryModal Horizontal { height: auto; }
    EntryModal Select { width: 1fr; }
    """

    def __init__(self, entry: mem.Entry | None = None, values: dict | None = None) -> None:
        """Edit `entry` (None: a new one). `values` (the form's own result) fill the form
        instead of the entry's fields: the supervisor's text, kept across a conflict and
        now to be saved against the entry's current version."""
        super().__init__()
        self.entry = entry
        self.values = values

    def compose(self) -> ComposeResult:
        e = self.entry
        # An agent's control characters are shown escaped here too, so saving an edit
        # stores them escaped: the supervisor sees what gets saved.
        v = self.values or ({"kind": e.kind, "scope": e.scope, "title": printable(e.title),
                             "tags": printable(", ".join(e.tags)), "scope_ref": printable(e.scope_ref or ""),
                             "body": printable(e.body, multiline=True)} if e else {})
        with Vertical():
            head = f"Edit entry {e.id} (version {e.version})" if e else "New entry"
            yield Label(Text(head, style="bold"))
            if self.values is not None and e is not None:
                yield Label(f"Your text, to save over version {e.version} (someone else's): "
                            "merge what they changed, then ctrl+s.", classes="hint")
            yield Label("ctrl+s saves, esc cancels. The body is Markdown.", classes="hint")
            with Horizontal():
                yield Select([(k, k) for k in mem.KINDS], value=v.get("kind", "fact"), allow_blank=False,
                             id="entry-kind")
                yield Select([(s, s) for s in mem.SCOPES], value=v.get("scope", "pod"), allow_blank=False,
                             id="entry-scope")
            yield Input(value=v.get("title", ""), placeholder="title", id="entry-title")
            yield Input(value=v.get("tags", ""), placeholder="tags, comma-separated", id="entry-tags")
            yield Input(value=v.get("scope_ref") or "", placeholder="scope ref: repository "
                        "path or agent name (for repo / agent scope)", id="entry-ref")
            yield TextArea(v.get("body", ""), id="entry-body")

    def action_save(self) -> None:
        title = self.query_one("#entry-title", Input).value.strip()
        if not title:
            self.notify("An entry needs a title.", severity="warning")
            return
        self.dismiss({
            "kind": self.query_one("#entry-kind", Select).value,
            "scope": self.query_one("#entry-scope", Select).value,
            "title": title,
            "tags": self.query_one("#entry-tags", Input).value,
            "scope_ref": self.query_one("#entry-ref", Input).value.strip() or None,
            "body": self.query_one("#entry-body", TextArea).text,
        })

    def action_cancel(self) -> None:
        self.dismiss(None)


class EditConflictModal(ModalScreen[str | None]):
    """Someone else saved the entry while this supervisor edited it: theirs and yours side
    by side, yours kept. e edits yours again over theirs (to merge), o saves yours over
    theirs as it is, esc keeps theirs and drops yours. When the entry can no longer be
    edited (retired, superseded, rejected meanwhile): n adds yours as a new entry instead.
    Returns "edit", "overwrite", "new" or None."""

    BINDINGS = [Binding("e", "choose('edit')", "Edit yours again", id="conflict_edit"),
                Binding("o", "choose('overwrite')", "Save yours over theirs", id="conflict_overwrite"),
                Binding("n", "choose('new')", "Add yours as new", id="conflict_new"),
                Binding("escape", "choose('')", "Keep theirs", id="conflict_keep")]
    DEFAULT_CSS = """
    EditConflictModal { align: center middle; }
    EditConflictModal > Vertical {
        width: 110; max-width: 98%; height: auto; max-height: 95%; border: round $warning;
        background: $surface; padding: 0 1;
    }
    EditConflictModal Label { width: 100%; }
    EditConflictModal .hint { color: $text-muted; }
    EditConflictModal Horizontal { height: auto; max-height: 24; }
    EditConflictModal .side { width: 1fr; height: auto; max-height: 24; padding: 0 1; }
    EditConflictModal #conflict-yours { border-left: vkey $panel-lighten-1; }
    """

    def __init__(self, opened: mem.Entry, theirs: mem.Entry, change: mem.Change | None, yours: dict,
                 when: str = "") -> None:
        super().__init__()
        self.opened, self.theirs, self.change, self.yours = opened, theirs, change, yours
        self.when = when
        self.editable = theirs.status in ("active", "proposed")

    def compose(self) -> ComposeResult:
        t, who = self.theirs, printable(self.change.actor if self.change else "someone")
        did = self.change.change if self.change else "changed"
        with Vertical():
            yield Label(Text(f"{who} {did} entry #{t.id} while you were editing it", style="bold"))
            yield Label(f"You opened version {self.opened.version}; it is now at version {t.version}"
                        f"{' (' + t.status + ')' if not self.editable else ''}{self.when}. "
                        "Your text is kept: nothing is lost.", id="conflict-what")
            with Horizontal():
                yield Static(self._side(f"Theirs (version {t.version})", t.title, ", ".join(t.tags), t.body),
                             id="conflict-theirs", classes="side")
                yield Static(self._side("Yours", self.yours["title"], self.yours["tags"], self.yours["body"]),
                             id="conflict-yours", classes="side")
            hint = ("e edit yours again, to take in what they changed · o save yours over theirs · "
                    "esc keep theirs, drop yours") if self.editable else (
                "It can no longer be edited. n add yours as a new entry · esc drop yours")
            yield Label(hint, id="conflict-hint", classes="hint")

    @staticmethod
    def _side(head: str, title: str, tags: str, body: str) -> Text:
        text = Text()
        text.append(head + "\n", "bold underline")
        text.append(printable(title) + "\n", "bold")
        if tags.strip():
            text.append(printable(f"tags {tags}") + "\n", "dim")
        text.append(printable(body, multiline=True))
        return text

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "choose" and parameters and parameters[0]:
            return (parameters[0] == "new") != self.editable  # what applies to the entry's state
        return True

    def action_choose(self, choice: str) -> None:
        self.dismiss(choice or None)


class MemoryScreen(LoomScreen[None]):
    """Shared memory. / search, v view, a add, e edit, p pin, x retire, A accept, r reject."""

    BINDINGS = [
        Binding("escape", "back", "Back", id="back_memory"),
        Binding("slash", "search", "Search", id="search_memory"),
        Binding("v", "cycle_view", "View", id="memory_view"),
        Binding("a", "add", "Add", id="memory_add"),
        Binding("e", "edit", "Edit", id="memory_edit"),
        Binding("p", "pin", "Pin", show=False, id="memory_pin"),
        Binding("x", "retire", "Retire", show=False, id="memory_retire"),
        Binding("A", "accept", "Accept", id="memory_accept"),
        Binding("r", "reject", "Reject", id="memory_reject"),
        Binding("j", "cursor(1)", "Down", show=False, id="memory_down"),
        Binding("k", "cursor(-1)", "Up", show=False, id="memory_up"),
    ]
    DEFAULT_CSS = """
    MemoryScreen { layout: vertical; }
    #memory-head { height: 1; padding: 0 1; background: $panel; }
    #memory-search { border: none; height: 1; padding: 0 1; background: $surface; }
    #memory-body { height: 1fr; }
    #memory-list { width: 65%; height: 1fr; }
    #memory-detail { width: 1fr; height: 1fr; padding: 0 1; border-left: vkey $panel-lighten-1; }
    #memory-meta { height: auto; color: $text-muted; }
    #memory-history { height: auto; margin: 1 0 0 0; }
    MemoryScreen.-narrow #memory-body { layout: vertical; }
    MemoryScreen.-narrow #memory-list { width: 100%; height: 45%; }
    MemoryScreen.-narrow #memory-detail { width: 100%; border-left: none; border-top: hkey $panel-lighten-1; }
    """

    def __init__(self, view: str = "active", agent_id: int | None = None) -> None:
        super().__init__()
        self.view = view
        self.agent_id = agent_id  # only what this agent wrote (from the Agent screen)
        self.query_text = ""
        self.entries: list[mem.Entry] = []
        self._counts: dict[str, int] = {}
        self._shown: int | None = None

    def compose(self) -> ComposeResult:
        yield Static(id="memory-head")
        yield Input(placeholder="search memory (words; ranked as agents get them)", id="memory-search")
        with Horizontal(id="memory-body"):
            yield DataTable(id="memory-list", cursor_type="row", zebra_stripes=True)
            with VerticalScroll(id="memory-detail"):
                yield Static(id="memory-meta")
                yield Markdown(id="memory-markdown")
                yield Static(id="memory-history")
        yield Footer()

    def on_mount(self) -> None:
        self._fit_columns()
        self.query_one("#memory-list", DataTable).focus()
        self.reload()

    # Beside the list the entry takes 35 %: only from this width does that leave the title
    # 40 columns or more (at 120 it left 21: titles cut to ~20 characters). Below it the
    # entry goes under the list, which takes the whole width.
    NARROW = 150
    # (key, label, width); the title's width (None) is what the others leave. Scope and
    # author are in the entry's details too: on a list narrower than WIDE_LIST they go first.
    COLUMNS = (("kind", "Kind", 10), ("title", "Title", None), ("scope", "Scope", 8),
               ("author", "Author", 12), ("age", "Age", 4), ("status", "Status", 10))
    OPTIONAL = ("scope", "author")
    WIDE_LIST = 100

    def _list_width(self) -> int:
        width = self.size.width or self.app.size.width
        return int(width * 0.65) if width >= self.NARROW else width

    def _columns(self) -> list[tuple[str, str, int]]:
        """The list's columns at the screen's width, the title's width worked out: the list's
        width less the other columns, 2 cells of padding each, and the scrollbar."""
        width = self._list_width()
        shown = [c for c in self.COLUMNS if width >= self.WIDE_LIST or c[0] not in self.OPTIONAL]
        rest = sum(w for _k, _l, w in shown if w is not None) + 2 * len(shown) + 2
        return [(k, label, w if w is not None else max(12, width - rest)) for k, label, w in shown]

    def _fit_columns(self) -> None:
        """Columns for the current width: the title's width updated in place; when the set of
        columns changes, the table is rebuilt and filled again."""
        from textual.widgets.data_table import ColumnKey

        self.set_class((self.size.width or self.app.size.width) < self.NARROW, "-narrow")
        table = self.query_one("#memory-list", DataTable)
        columns = self._columns()
        if [k for k, _l, _w in columns] != [c.value for c in table.columns]:
            table.clear(columns=True)
            for key, label, width in columns:
                table.add_column(label, key=key, width=width)
            if self.entries:
                self._fill(self._shown)
            return
        title = table.columns[ColumnKey("title")]
        width = dict((k, w) for k, _l, w in columns)["title"]
        if title.width != width:
            title.width = width
            table.refresh()

    def on_resize(self) -> None:
        self._fit_columns()

    # -- loading ----------------------------------------------------------------------

    def _statuses(self):
        return dict(VIEWS)[self.view]

    @work(exclusive=True, group="memory-load", exit_on_error=False)
    async def reload(self, select: int | None = None) -> None:
        result = await self.actions.memory_entries(self.query_text.strip(), self._statuses(), self.agent_id)
        if result is None:
            return
        self.entries, self._counts = result
        self._fill(select)

    def _fill(self, select: int | None) -> None:
        """The list, by keyed updates: a keystroke in the search changes only the rows
        that differ, and the cursor stays on its entry."""
        table = self.query_one("#memory-list", DataTable)
        keep = select if select is not None else self._shown
        now = self.app.clock()
        rows = []
        for e in self.entries:
            # Cells, whose "$..." styles take the theme's colours each time the table draws.
            pin = ((0, 2, "$risk-medium"),) if e.pinned else ()
            title = Cell(("▲ " if pin else "") + printable(e.title), spans=pin, justify="default")
            status_style = {"proposed": "$agent-waiting", "retired": "dim",
                            "superseded": "dim"}.get(e.status, "")
            # A str cell is markup to DataTable: what agents wrote goes in as plain, escaped Text.
            scope = e.scope if e.scope == "pod" else f"{e.scope}:{_short(e.scope_ref)}"
            cells = {"kind": Cell(e.kind, row_id=e.id), "title": title, "scope": Text(printable(scope)),
                     "author": Text(printable(e.author)), "age": model.age(now - e.updated_at),
                     "status": Cell(e.status, status_style, justify="default")}
            rows.append((str(e.id), tuple(cells[c.value] for c in table.columns)))
        sync_rows(table, rows, "kind", cursor=str(keep) if keep is not None else None)
        self._header()
        self.show_entry(self._current())

    def _header(self) -> None:
        c = self._counts
        review = c.get("proposed", 0)
        parts: list[str | tuple[str, str]] = [  # Content: "$agent-waiting" is drawn in the theme's colour
            ("Memory  ", "bold"), f"{self.view}: {VIEW_LABELS[self.view]}  ",
            (f"{c.get('active', 0)} active · {c.get('pinned', 0)} pinned · ", "dim"),
            (f"{review} to review", "bold $agent-waiting" if review else "dim")]
        if self.agent_id is not None and self.app.pod_state is not None:
            agent = self.app.pod_state.agent(self.agent_id)
            parts.append((f"  · written by {printable(agent.name) if agent else self.agent_id}", "italic"))
        if self.query_text:
            parts.append((f"  · {len(self.entries)} match “{self.query_text}”", "italic"))
        self.query_one("#memory-head", Static).update(Content.assemble(*parts))

    def _current(self) -> mem.Entry | None:
        """The entry under the cursor (by its row's key)."""
        table = self.query_one("#memory-list", DataTable)
        if not table.row_count or not self.entries:
            return None
        key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
        return next((e for e in self.entries if str(e.id) == key), None)

    @on(DataTable.RowHighlighted, "#memory-list")
    def _highlighted(self, event: DataTable.RowHighlighted) -> None:
        event.stop()
        self.show_entry(self._current())

    # -- the entry ----------------------------------------------------------------------

    def show_entry(self, entry: mem.Entry | None) -> None:
        meta = self.query_one("#memory-meta", Static)
        body = self.query_one("#memory-markdown", Markdown)
        hist = self.query_one("#memory-history", Static)
        self._shown = entry.id if entry else None
        if entry is None:
            meta.update("Nothing here yet. `a` adds an entry." if not self.query_text else "No match.")
            body.update("")
            hist.update("")
            return
        when = datetime.fromtimestamp(entry.updated_at, tz=self.app.tz).strftime("%Y-%m-%d %H:%M")
        who = entry.author + (f" (agent, session {entry.session_id[:8]})"
                              if entry.author_kind == "agent" and entry.session_id else "")
        text = Text()
        text.append(f"#{entry.id} {entry.kind}", "bold")
        text.append(f" · {entry.status}" + (" · pinned" if entry.pinned else ""))
        text.append(f" · v{entry.version} · {when}\n")
        scope = f"{entry.scope} {entry.scope_ref}" if entry.scope_ref else entry.scope
        text.append(printable(f"by {who} · scope {scope}"))
        if entry.tags:
            text.append(" · tags " + printable(", ".join(entry.tags)))
        if entry.supersedes:
            text.append(f" · supersedes #{entry.supersedes}")
        meta.update(text)
        body.update(f"# {printable(entry.title)}\n\n{printable(entry.body, multiline=True)}")
        self._load_history(entry.id)

    @work(exclusive=True, group="memory-history", exit_on_error=False)
    async def _load_history(self, entry_id: int) -> None:
        changes = await self.actions.memory_history(entry_id)
        if changes is None or self._shown != entry_id:
            return
        text = Text()
        text.append("History\n", "bold")
        for c in reversed(changes):
            when = datetime.fromtimestamp(c.changed_at, tz=self.app.tz).strftime("%m-%d %H:%M")
            text.append(printable(f"v{c.version} {when} {c.change} by {c.actor}"))
            detail = c.snapshot.get("change_detail") if isinstance(c.snapshot, dict) else None
            if isinstance(detail, dict) and detail.get("reason"):
                text.append(printable(f": {detail['reason']}"), "italic")
            text.append("\n")
        self.query_one("#memory-history", Static).update(text)

    # -- keys -----------------------------------------------------------------------------

    def action_back(self) -> None:
        field = self.query_one("#memory-search", Input)
        if field.has_focus:
            self.query_one("#memory-list", DataTable).focus()
            return
        self.app.pop_screen()

    def action_cursor(self, step: int) -> None:
        table = self.query_one("#memory-list", DataTable)
        (table.action_cursor_down if step > 0 else table.action_cursor_up)()

    def action_search(self) -> None:
        self.query_one("#memory-search", Input).focus()

    @on(Input.Changed, "#memory-search")
    def _search_changed(self, event: Input.Changed) -> None:
        self.query_text = event.value
        self.reload()

    @on(Input.Submitted, "#memory-search")
    def _search_submitted(self) -> None:
        self.query_one("#memory-list", DataTable).focus()

    def action_cycle_view(self) -> None:
        names = [v for v, _ in VIEWS]
        self.view = names[(names.index(self.view) + 1) % len(names)]
        self.reload()

    def _change(self, what: str, change: Awaitable[MemoryOutcome | None],
                entry: mem.Entry | None = None) -> None:
        """Await one memory change of the pod's actions; report conflicts and refusals,
        then reload."""

        async def run() -> None:
            result = await change
            if result is None:
                return
            done, problem = result
            if isinstance(problem, mem.VersionConflict):
                self.notify(f"Entry #{problem.entry_id} was changed by someone else meanwhile (now version "
                            f"{problem.current_version}, {problem.current_status}): nothing was done. "
                            "The screen shows it as it is now.", severity="error", timeout=8, markup=False)
            elif problem is not None:
                self.notify(printable(str(problem)), severity="error", timeout=8, markup=False)
            else:  # notifications are markup unless told: a title is the agent's plain text
                self.notify(printable(f"{what}: #{done.id} {done.title}"), timeout=3, markup=False)
            self.reload(select=done.id if done is not None else (entry.id if entry else None))

        self.run_worker(run(), exit_on_error=False)

    def action_add(self) -> None:
        def done(values: dict | None) -> None:
            if values:
                self._change("Added", self.actions.add_memory(values))

        self.app.push_screen(EntryModal(), done)

    def action_edit(self) -> None:
        entry = self._current()
        if entry is not None:
            self._edit(entry)

    def _edit(self, entry: mem.Entry, values: dict | None = None) -> None:
        """The form on `entry` (filled with `values`, the supervisor's own text, when given);
        saved against the version the form shows."""
        def done(values: dict | None) -> None:
            if values:
                self._save_edit(entry, values)

        self.app.push_screen(EntryModal(entry, values), done)

    def _save_edit(self, entry: mem.Entry, values: dict) -> None:
        """Save an edit made against `entry`'s version. If someone saved the entry meanwhile,
        the typed text is kept and shown beside theirs (EditConflictModal), and the
        supervisor chooses: merge it again, save it over theirs, or keep theirs."""
        async def run() -> None:
            result = await self.actions.edit_memory(entry, values)
            if result is None:
                return
            done, problem = result
            if not isinstance(problem, mem.VersionConflict):
                if problem is not None:
                    self.notify(printable(str(problem)), severity="error", timeout=8, markup=False)
                else:
                    self.notify(printable(f"Saved: #{done.id} {done.title}"), timeout=3, markup=False)
                self.reload(select=entry.id)
                return
            found = await self.actions.memory_entry(entry.id)
            theirs, change = found if found is not None else (None, None)
            self.reload(select=entry.id)  # the list shows theirs meanwhile
            if theirs is None:
                self.notify(f"Entry #{entry.id} is gone; your text could not be saved there.",
                            severity="error", timeout=8)
                return
            when = ""
            if change is not None:
                when = datetime.fromtimestamp(change.changed_at, tz=self.app.tz).strftime(", saved at %H:%M")

            def chosen(choice: str | None) -> None:
                if choice == "edit":
                    self._edit(theirs, values)
                elif choice == "overwrite":
                    self._save_edit(theirs, values)
                elif choice == "new":
                    self._change("Added", self.actions.add_memory(values))
                else:
                    self.notify(f"Kept their version of #{theirs.id}; your edit was dropped.", timeout=4)

            self.app.push_screen(EditConflictModal(entry, theirs, change, values, when), chosen)

        self.run_worker(run(), exit_on_error=False)

    def action_pin(self) -> None:
        entry = self._current()
        if entry is not None:
            self._change("Unpinned" if entry.pinned else "Pinned", self.actions.pin_memory(entry), entry)

    def action_accept(self) -> None:
        entry = self._current()
        if entry is None:
            return
        if entry.status != "proposed":
            self.notify("Only a proposed entry can be accepted (v shows the review queue).",
                        severity="warning")
            return
        self._change("Accepted", self.actions.accept_memory(entry), entry)

    def action_reject(self) -> None:
        entry = self._current()
        if entry is None:
            return
        if entry.status != "proposed":
            self.notify("Only a proposed entry can be rejected; x retires an active one.",
                        severity="warning")
            return

        def done(reason: str | None) -> None:
            if reason:
                self._change("Rejected", self.actions.reject_memory(entry, reason), entry)

        self.app.push_screen(ReasonModal("Reject", f"#{entry.id}: {entry.title}",
                                         placeholder=REASON_PLACEHOLDER), done)

    def action_retire(self) -> None:
        entry = self._current()
        if entry is None:
            return

        def done(reason: str | None) -> None:
            if reason:
                self._change("Retired", self.actions.retire_memory(entry, reason), entry)

        self.app.push_screen(ReasonModal("Retire", f"#{entry.id}: {entry.title}",
                                         placeholder=REASON_PLACEHOLDER), done)


def _short(ref: str) -> str:
    return ref.rstrip("/").rsplit("/", 1)[-1] if ref else ""
