"""FleetScreen: every agent of the pod, live, on one keyed table.

Bindings: j/k or arrows move, enter opens the agent, / filters (name, repo,
branch, status, what the agent does or waits for), esc clears the filter, s cycles
the sort, r (or S) reverses it. The default sort is triage: the agents that need a human
first, grouped by cause (a gate by risk, a question, over budget, an error, a stall,
governance off, a configuration drifted from the pod's), the longest wait first in each
group (the app's `n` jumps to the next). Marks before a name: `!` governance off, `≠N`
N fields of its configuration differ from the pod's baseline.
"""

from __future__ import annotations

from datetime import datetime
from functools import lru_cache

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.content import Content
from textual.widgets import Footer, Input, Static

from loomtui.store.agents import STATUS_SYMBOLS, Agent
from loomtui.text import printable
from loomtui.tui import model
from loomtui.tui.messages import AgentSelected
from loomtui.tui.model import PodState
from loomtui.tui.online import names_room, with_online
from loomtui.tui.screens.base import LoomScreen
from loomtui.tui.widgets.cells import Cell
from loomtui.tui.widgets.fleet_table import Column, FleetTable

# Columns by terminal width: an 80x24 tmux pane keeps what a supervisor needs
# first (who, state, what now, how long, approvals); wider panes add the rest.
NARROW = (
    Column("name", "Agent", 14),
    Column("status", "Status", 10),
    Column("last", "Last", 4, "right"),
    Column("doing", "Doing", 0),
    Column("budget", "Budget", 6, "right"),
    Column("clash", "⚠", 2, "right"),
    Column("gates", "Gates", 5, "right"),
)
MEDIUM = (
    Column("name", "Agent", 16),
    Column("place", "Repo · branch", 18),
    Column("status", "Status", 10),
    Column("last", "Last", 4, "right"),
    Column("doing", "Doing", 0),
    Column("tokens", "Tokens", 6, "right"),
    Column("cost", "Cost", 7, "right"),
    Column("budget", "Budget", 6, "right"),
    Column("diff", "Diff", 10, "right"),
    Column("clash", "⚠", 2, "right"),
    Column("gates", "Gates", 5, "right"),
)
WIDE = (
    Column("name", "Agent", 16),
    Column("place", "Repo · branch", 20),
    Column("status", "Status", 10),
    Column("last", "Last", 4, "right"),
    Column("doing", "Doing", 0),
    Column("tokens", "Tokens", 6, "right"),
    Column("cost", "Cost", 7, "right"),
    Column("burn", "Burn", 7, "right"),
    Column("budget", "Budget", 10, "right"),
    Column("diff", "Diff", 12, "right"),
    Column("clash", "⚠", 2, "right"),
    Column("gates", "Gates", 5, "right"),
)
XWIDE = (
    Column("name", "Agent", 18),
    Column("kind", "Kind", 6),
    Column("place", "Repo · branch", 26),
    Column("status", "Status", 10),
    Column("last", "Last", 4, "right"),
    Column("doing", "Doing", 0),
    Column("tokens", "Tokens", 7, "right"),
    Column("cost", "Cost", 8, "right"),
    Column("burn", "Burn", 7, "right"),
    Column("budget", "Budget", 11, "right"),
    Column("diff", "Diff", 14, "right"),
    Column("clash", "⚠", 2, "right"),
    Column("gates", "Gates", 5, "right"),
)
_BLANK = Cell("", justify="right")
NO_USAGE = {"tokens": _BLANK, "cost": _BLANK, "burn": _BLANK, "budget": _BLANK}
NO_DIFF = {"diff": _BLANK, "clash": _BLANK}
LAYOUTS = ((200, XWIDE), (160, WIDE), (110, MEDIUM), (0, NARROW))  # (from terminal width, columns)
# When an agent waits, the reason runs on over these columns right after Doing (its usage
# says little while it waits; its budget gauge and diff stay).
YIELDING = frozenset({"tokens", "cost", "burn"})


@lru_cache(maxsize=1024)
def _age_cell(age: str) -> Cell:
    """The Last column's cell; a few hundred distinct ages cover every row of any fleet."""
    return Cell(age, justify="right")


class PodHeader(Static):
    """One line: the pod, counts per status, pending approvals, sort, supervisor."""

    def show(self, text: Content) -> None:
        # One fixed line: no layout pass, and nothing at all when unchanged (text and styles).
        shown = getattr(self, "_shown", None)
        if shown is None or not text.is_same(shown):
            self._shown = text
            self.update(text, layout=False)


class FleetScreen(LoomScreen[None]):
    """The fleet. j/k move, enter opens, / filters, esc clears, s sorts, r (or S) reverses."""

    AUTO_FOCUS = "#fleet"
    # What the marks mean (the help screen shows it under the keys).
    HELP_NOTES = ("   ! name  governance off: no or weak sandbox, a bypass mode, hooks missing\n"
                  " ≠N name  N fields of its configuration differ from the pod's baseline\n"
                  "          (model, mode, settings, CLAUDE.md...: the Agent screen says which)\n"
                  "  ✗N ≈N   in ⚠: would conflict with N others / N change the same files")
    BINDINGS = [
        Binding("slash", "filter", "Filter", id="filter"),
        Binding("s", "cycle_sort", "Sort", id="sort"),
        Binding("r,S", "reverse_sort", "Reverse sort", show=False, id="reverse_sort"),
        Binding("escape", "clear_filter", "Clear filter", show=False, id="clear_filter"),
    ]

    DEFAULT_CSS = """
    FleetScreen { layout: vertical; }
    PodHeader { height: 1; padding: 0 1; background: $panel; color: $foreground; }
    #filter-bar { height: auto; display: none; }
    #filter-bar.-active { display: block; }
    #filter-bar Input { border: none; height: 1; padding: 0 1; background: $surface; }
    FleetTable { height: 1fr; }
    #fleet-empty { height: 1fr; content-align: center middle; color: $text-muted; display: none; }
    FleetScreen.-empty #fleet-empty { display: block; }
    FleetScreen.-empty FleetTable { display: none; }
    """

    def __init__(self) -> None:
        super().__init__()
        self.sort_mode = "triage"
        self.reverse = False
        self.query_text = ""
        self._state: PodState | None = None
        self._stale = False
        # agent id -> (what its cells show, its cells, its age, its row): see _row
        self._rows: dict[int, tuple[tuple, tuple[Cell, ...], str, tuple[Cell, ...]]] = {}

    def compose(self) -> ComposeResult:
        yield PodHeader(id="pod-header")
        with Horizontal(id="filter-bar"):
            yield Input(placeholder="filter: name, repo, branch, status, what it does or waits for",
                        id="filter")
        yield FleetTable(id="fleet")
        yield Static("No agents in this pod yet. Run `loomtui init claude` in a repository, "
                     "or `loomtui demo` to see a simulated pod.", id="fleet-empty")
        yield Footer()

    def on_mount(self) -> None:
        self.app.pod_changed_signal.subscribe(self, self.show_state)
        self._layout_columns()
        if self.app.pod_state is not None:
            self.show_state(self.app.pod_state)

    def on_resize(self) -> None:
        self._layout_columns()
        self.redraw()

    def on_screen_resume(self) -> None:
        if self._stale:
            self.redraw()

    # -- rendering ---------------------------------------------------------

    def _layout_columns(self) -> None:
        width = self.size.width or self.app.size.width
        columns = next(cols for least, cols in LAYOUTS if width >= least)
        flex = FleetTable.flex_width(width, columns)
        self.query_one(FleetTable).set_columns(columns, flex)

    def redraw(self) -> None:
        if self._state is not None:
            self.show_state(self._state)

    def show_state(self, state: PodState) -> None:
        self._state = state
        if not self.is_current:
            self._stale = True  # skip rendering what is hidden
            return
        self._stale = False
        table = self.query_one(FleetTable)
        columns = table.column_layout
        agents = model.ordered(state, self.sort_mode, self.query_text, self.reverse)
        table.show([(a.id, self._row(a, state, columns)) for a in agents])
        self.set_class(not state.agents, "-empty")
        self.query_one(PodHeader).show(self._header(state, len(agents)))

    def _row(self, agent: Agent, state: PodState, columns) -> tuple[Cell, ...]:
        """The row's cells. A busy pod publishes four times a second and most of a big
        fleet has not changed since the last time: the cells (all but the age) are kept
        per agent and built again only when something they show changed, and the row
        itself is kept while its age reads the same (the table then sees the same tuple)."""
        status = state.status_of(agent)
        key = (agent, status, state.gates_of(agent.id), state.usage_of(agent.id), state.tightest(agent.id),
               state.worktree_of(agent), len(state.conflicts_of(agent)), state.overlaps_of(agent),
               state.need_of(agent), state.drift_of(agent), columns)
        age = model.age(state.now - agent.last_activity_at)
        cached = self._rows.get(agent.id)
        if cached is not None and cached[0] == key:
            if cached[2] == age:
                return cached[3]
            cells = cached[1]
        else:
            cells = self._cells(agent, status, state, columns)
        at = next((i for i, c in enumerate(columns) if c.key == "last"), None)
        row = cells if at is None else cells[:at] + (_age_cell(age),) + cells[at + 1:]
        self._rows[agent.id] = (key, cells, age, row)
        return row

    def _cells(self, agent: Agent, status: str, state: PodState, columns) -> tuple[Cell, ...]:
        """The row's cells, the age left blank (`_row` puts it in)."""
        pending = state.gates_of(agent.id)
        colour = f"$agent-{status}"
        values = {
            "name": self._name_cell(agent, len(state.drift_of(agent))),
            "kind": Cell(agent.kind),
            "place": Cell(model.place(agent)),
            "status": Cell(f"{STATUS_SYMBOLS[status]} {status}", colour),
            "doing": Cell(model.doing(agent), colour if status in ("waiting", "error") else ""),
            "last": _BLANK,
            **self._usage_cells(agent.id, state, columns),
            **self._diff_cells(agent, state, columns),
            "gates": Cell(f"⚑ {pending}" if pending else "", "$agent-waiting", justify="right"),
        }
        need = state.need_of(agent)
        if need is not None and (pending or status in ("waiting", "error", "ungoverned")):
            # What it waits for is what matters now: the cause in the Status column (a
            # gate's risk, question, budget), the subject in Doing, which takes the room
            # of the usage columns after it (a force push reads as one at 120 columns).
            style = model.CAUSE_STYLES[need.cause]
            if (pending or status == "waiting") and status != "ungoverned":
                values["status"] = Cell(f"{STATUS_SYMBOLS['waiting']} {need.cause}", "bold " + style)
            keys = [c.key for c in columns]
            at = keys.index("doing") if "doing" in keys else len(keys)
            spill = 0
            while at + 1 + spill < len(keys) and keys[at + 1 + spill] in YIELDING:
                spill += 1
            values["doing"] = Cell(need.subject, style, spill=spill)
        return tuple(values[c.key] for c in columns)

    @staticmethod
    def _name_cell(agent: Agent, drift: int = 0) -> Cell:
        """The name, after a `!` mark when the agent's governance is off (no sandbox or a
        weak one, a bypass mode, LoomTUI's hooks not all in place), and a `≠N` mark when N
        fields of its configuration differ from the pod's baseline (model, permission mode,
        settings...): the Agent screen says which."""
        ungoverned = model.ungoverned(agent)
        if not ungoverned and not drift:
            return Cell(agent.name, "bold", row_id=agent.id)
        marks, spans = "", []
        if ungoverned:
            marks, spans = "! ", [(0, 1, "bold reverse $risk-high")]
        if drift:
            mark = f"≠{drift}" if drift < 10 else "≠+"
            spans.append((len(marks), len(marks) + len(mark), "bold $risk-medium"))
            marks += mark + " "
        name = printable(agent.name)  # escaped here, so the marks' spans line up
        return Cell(marks + name, "bold", row_id=agent.id, spans=tuple(spans))

    def _diff_cells(self, agent: Agent, state: PodState, columns) -> dict[str, Cell]:
        """Files and +/- against the worktree's base; ✗ with the number of agents (or its
        base) its branch would conflict with when merged (git merge-tree), else a dim ≈ with
        the number that change the same files but merge cleanly."""
        wt = state.worktree_of(agent)
        conflicts, overlaps = len(state.conflicts_of(agent)), state.overlaps_of(agent)
        if wt is None and not conflicts and not overlaps:
            return NO_DIFF  # most rows of a pod without worktrees: no work at all
        if conflicts:
            clash = Cell(f"✗{conflicts}" if conflicts < 10 else "✗+", "bold $risk-high", justify="right")
        elif overlaps:
            clash = Cell(f"≈{overlaps}" if overlaps < 10 else "≈+", "dim", justify="right")
        else:
            clash = Cell("")
        if wt is None:
            return {"diff": Cell("", justify="right"), "clash": clash}
        if wt.state in ("missing", "bare", "error"):
            return {"diff": Cell(wt.state, "dim italic", justify="right"), "clash": clash}
        if not wt.files:
            return {"diff": Cell("clean", "dim", justify="right"), "clash": clash}
        width = next((c.width for c in columns if c.key == "diff"), 10)
        text = Text(justify="right", no_wrap=True, overflow="ellipsis")
        if len(f"{wt.files}f +{wt.added} −{wt.deleted}") <= width:
            text.append(f"{wt.files}f ", "dim")
        text.append(f"+{wt.added}", "$diff-added")
        text.append(f" −{wt.deleted}", "$diff-removed")
        return {"diff": Cell.of(text, justify="right"), "clash": clash}

    def _usage_cells(self, agent_id: int, state: PodState, columns) -> dict[str, Cell]:
        used = state.usage_of(agent_id)
        if used is None:
            return NO_USAGE
        tight = state.tightest(agent_id)
        gauge = Cell("", justify="right")
        if tight is not None:
            width = next((c.width for c in columns if c.key == "budget"), 6)
            style = "$" + model.budget_level(tight.fraction)
            gauge = Cell(model.gauge(tight.fraction, width), ("bold " + style) if tight.over else style,
                         justify="right")
        burn = used.burn_tokens_min
        return {
            "tokens": Cell(model.tokens(used.used_tokens), justify="right"),
            "cost": Cell(model.money(used.used_usd), justify="right"),
            "burn": Cell(f"{model.tokens(int(burn))}/m" if burn >= 1 else "", "dim", justify="right"),
            "budget": gauge,
        }

    def _window(self, state: PodState, words: bool) -> tuple[str, str]:
        """The pod's billing block: used (of its limit) and when it resets, with a colour."""
        block = state.budget("pod", "", "block")
        if block is None or block.starts_at is None or block.resets_at is None:
            return "", ""
        resets = datetime.fromtimestamp(block.resets_at, tz=self.app.tz).strftime("%H:%M")
        if block.max_usd is not None:
            used = f"{model.money(block.used_usd)}/{model.money(block.max_usd)}"
        elif block.max_tokens is not None:
            used = f"{model.tokens(block.used_tokens)}/{model.tokens(block.max_tokens)}"
        else:
            used = f"{model.money(block.used_usd)} · {model.tokens(block.used_tokens)}"
        pct = f" {block.fraction * 100:.0f}%" if block.limited else ""
        style = "$" + model.budget_level(block.fraction) if block.limited else ""
        if words:
            return f"block {used}{pct} · resets {resets}  ", style
        if block.max_usd is not None:
            used = f"${block.used_usd:.0f}/${block.max_usd:.0f}"
        return f"5h {used}{pct} ·{resets}  ", style

    @staticmethod
    def _causes(state: PodState, words: bool) -> list[tuple[str, str]]:
        """`needs you: 2 critical 1 high 3 question 1 over budget ...`, each in its
        cause's colour (`⚑2c ⚑1h ?3 $1 ...` when the pane is narrow)."""
        counts = state.cause_counts()
        if not counts:
            return []
        parts: list[tuple[str, str]] = [("needs you: ", "bold")] if words else []
        for cause, count in counts.items():
            if words:
                text = f"{count} {model.CAUSE_WORDS.get(cause, cause)} "
            elif model.CAUSE_SYMBOLS[cause] == "⚑":
                text = f"⚑{count}{cause[0]} "
            else:
                text = f"{model.CAUSE_SYMBOLS[cause]}{count} "
            parts.append((text, model.CAUSE_STYLES[cause]))
        parts.append((" ", ""))
        return parts

    def _header(self, state: PodState, shown: int) -> Content:
        """The header line; status words are dropped first when the pane is narrow, then
        the causes' words."""
        others = self.app.others_online()
        room = self.size.width - 2 - names_room(others)  # who else is online comes before the block
        for words, cause_words, window in ((True, True, "long"), (True, True, "short"),
                                           (False, True, "long"), (False, True, "short"),
                                           (False, False, "short"), (False, False, "")):
            text = self._header_text(state, shown, words, window, cause_words)
            if text.cell_length <= room:
                break
        return with_online(text, others, self.size.width - 2)

    def _header_text(self, state: PodState, shown: int, words: bool, window: str,
                     cause_words: bool | None = None) -> Content:
        # Content, not Rich Text: its "$agent-..." styles take the theme's colours when drawn.
        parts: list[str | tuple[str, str]] = []
        if window != "short":  # a tight header keeps the figures, not the brand
            parts.append(("LoomTUI ", "bold"))
        parts.append((f"{self.app.pod_name}  ", "dim"))
        for status, symbol, count in model.status_line(state.counts(), STATUS_SYMBOLS):
            if status in model.COUNTED_AS_CAUSES:
                continue  # every such agent is counted by its cause, further on
            label = f"{symbol} {count} {status}" if words else f"{symbol}{count}"
            parts.append((f"{label}  ", f"$agent-{status}"))
        if state.pending_gates:
            label = "to approve" if words else ""
            parts.append((f"⚑ {state.pending_gates} {label}  ", "bold $agent-waiting"))
        parts.extend(self._causes(state, words if cause_words is None else cause_words))
        if window:
            parts.append(self._window(state, window == "long"))
        if self.query_text:
            parts.append((f"{shown}/{len(state.agents)} match “{self.query_text}”  ", "italic"))
        mode = self.sort_mode + (" ↑" if self.reverse else "")
        parts.append((f"sort: {mode}  " if window != "short" else f"↕{mode}  ", "dim"))
        parts.append((f"· {self.app.supervisor}", "bold"))
        return Content.assemble(*parts)

    # -- actions -----------------------------------------------------------

    def agent_in_view(self) -> int | None:
        """The agent under the cursor (the app's `o` reaches its tmux pane)."""
        return self.query_one(FleetTable).cursor_agent_id

    @on(FleetTable.RowChosen, "#fleet")
    def _agent_chosen(self, event: FleetTable.RowChosen) -> None:
        event.stop()
        self.post_message(AgentSelected(event.row_id))

    def action_filter(self) -> None:
        self.query_one("#filter-bar").add_class("-active")
        self.query_one("#filter", Input).focus()

    def action_clear_filter(self) -> None:
        bar = self.query_one("#filter-bar")
        field = self.query_one("#filter", Input)
        if field.value:
            field.value = ""  # the Changed handler redraws
        bar.remove_class("-active")
        self.query_one(FleetTable).focus()

    @on(Input.Changed, "#filter")
    def _filter_changed(self, event: Input.Changed) -> None:
        self.query_text = event.value
        self.redraw()

    @on(Input.Submitted, "#filter")
    def _filter_submitted(self, event: Input.Submitted) -> None:
        if not event.value:
            self.query_one("#filter-bar").remove_class("-active")
        self.query_one(FleetTable).focus()

    def action_cycle_sort(self) -> None:
        self.set_sort(model.next_sort(self.sort_mode))

    def action_reverse_sort(self) -> None:
        self.reverse = not self.reverse
        self.redraw()
        self.notify(f"Sorted by {model.SORT_LABELS[self.sort_mode]}"
                    + (", reversed" if self.reverse else ""), timeout=2)

    def set_sort(self, mode: str) -> None:
        self.sort_mode = mode
        self.reverse = False
        self.redraw()
        self.notify(f"Sorted by {model.SORT_LABELS[mode]}", timeout=2)

    def select_agent(self, agent_id: int) -> bool:
        """Put the cursor on the agent's row (clearing a filter that hides it); whether
        it is shown."""
        self.redraw()  # it may have skipped readings while hidden
        table = self.query_one(FleetTable)
        if agent_id not in table.ordered_ids and self.query_text:
            self.set_filter("")
            self.query_text = ""
            self.redraw()
        if agent_id not in table.ordered_ids:
            return False
        table.cursor = table.ordered_ids.index(agent_id)
        table.focus()
        return True

    def set_filter(self, query: str) -> None:
        self.query_one("#filter-bar").set_class(bool(query), "-active")
        self.query_one("#filter", Input).value = query
