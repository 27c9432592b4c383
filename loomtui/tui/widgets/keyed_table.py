"""KeyedTable: a table of rows keyed by an integer id, on Textual's line API.
The Fleet (agents) and the Approvals inbox (gates) are both KeyedTables.

Bindings: j / k and the arrows move, pgup / pgdn / home / end jump, enter
chooses the row (posts `KeyedTable.RowChosen`); a click moves the cursor, a
click on the cursor's row chooses it, a click on a column's header posts
`KeyedTable.HeaderClicked`.

Why not DataTable: every `update_cell` there bumps a table-wide counter that
is part of each row's render-cache key, so one changed age re-renders every
visible row (about 1 ms a row at 200 columns; benchmarks/fleet showed 55-80 ms
frames four times a second on a busy pod). Here each row's rendered strip is
cached under its own cells, widths and look (cursor, zebra, theme), and
`show()` refreshes only the lines whose row changed or moved. Rows are keyed
by id; the cursor follows its row through re-sorts, additions and removals.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual import events
from textual.binding import Binding
from textual.geometry import Size
from textual.message import Message
from textual.strip import Strip

from loomtui.tui.widgets.cells import Cell, rich_style
from loomtui.tui.widgets.cursor_view import CursorView

PADDING = 1  # cells of padding on each side of a column


@dataclass(frozen=True)
class Column:
    """A column: its key (what screens fill), header label, width and alignment. Figures
    (ages, tokens, money) are right-aligned, header and cells alike."""

    key: str
    label: str
    width: int  # 0 = takes the room that is left
    justify: Literal["left", "right"] = "left"


class KeyedTable(CursorView):
    """Rows keyed by id, with a header line. j/k move, enter chooses. The cursor (from
    CursorView) is the index of its row in display order."""

    HEADER_LINES = 1

    BINDINGS = [
        Binding("j,down", "cursor_down", "Down", show=False, id="down"),
        Binding("k,up", "cursor_up", "Up", show=False, id="up"),
        Binding("pagedown", "page_down", "Page down", show=False, id="page_down"),
        Binding("pageup", "page_up", "Page up", show=False, id="page_up"),
        # Not g / G: the inbox's g approves and grants, and G opens the Grants view anywhere.
        Binding("home", "first", "First", show=False, id="first"),
        Binding("end", "last", "Last", show=False, id="last"),
        Binding("enter", "select", "Open", id="open"),
    ]

    COMPONENT_CLASSES = {
        "keyed-table--header",
        "keyed-table--cursor",
        "keyed-table--even-row",
    }

    DEFAULT_CSS = """
    KeyedTable {
        background: $surface;
        color: $foreground;
        & > .keyed-table--header { text-style: bold; background: $panel; color: $foreground; }
        & > .keyed-table--even-row { background: $surface-lighten-1 50%; }
        & > .keyed-table--cursor {
            background: $block-cursor-blurred-background;
            color: $block-cursor-blurred-foreground;
            text-style: $block-cursor-blurred-text-style;
        }
        &:focus > .keyed-table--cursor {
            background: $block-cursor-background;
            color: $block-cursor-foreground;
            text-style: $block-cursor-text-style;
        }
        &:dark > .keyed-table--even-row { background: $surface-darken-1 40%; }
    }
    """

    class RowChosen(Message):
        """The supervisor chose a row (enter, or a click on the cursor's row)."""

        def __init__(self, table: KeyedTable, row_id: int) -> None:
            super().__init__()
            self.table = table
            self.row_id = row_id

        @property
        def control(self) -> KeyedTable:
            return self.table

    class HeaderClicked(Message):
        """A click on a column's header (`column_key`): screens sort by it."""

        def __init__(self, table: KeyedTable, column_key: str) -> None:
            super().__init__()
            self.table = table
            self.column_key = column_key

        @property
        def control(self) -> KeyedTable:
            return self.table

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self._columns: tuple[Column, ...] = ()
        self._widths: tuple[int, ...] = ()
        self._ids: list[int] = []  # row ids in display order
        self._cells: dict[int, tuple[Cell, ...]] = {}
        # (row id, look) -> (cache key, strip): a row that moves up or down a line (zebra
        # stripes) or under the cursor and away again is not drawn anew each time
        self._strips: dict[tuple[int, str], tuple[tuple, Strip]] = {}

    # -- what the rest of the console reads ---------------------------------

    @property
    def column_layout(self) -> tuple[Column, ...]:
        return self._columns

    @property
    def row_count(self) -> int:
        return len(self._ids)

    @property
    def line_count(self) -> int:
        return len(self._ids)

    @property
    def ordered_ids(self) -> list[int]:
        return list(self._ids)

    def row_cells(self, row_id: int) -> tuple[Cell, ...]:
        return self._cells[row_id]

    def cell(self, row_id: int, column_key: str) -> Cell:
        index = [c.key for c in self._columns].index(column_key)
        return self._cells[row_id][index]

    @property
    def cursor_id(self) -> int | None:
        if not self._ids:
            return None
        return self._ids[min(self.cursor, len(self._ids) - 1)]

    # -- filling the table ---------------------------------------------------

    @staticmethod
    def flex_width(total: int, columns: Sequence[Column]) -> int:
        """What is left for the flexible column (width 0) in a pane `total` wide:
        each column has padding on both sides, and the scrollbar keeps its room."""
        fixed = sum(c.width for c in columns if c.width)
        return max(12, total - fixed - 2 * PADDING * len(columns) - 2)

    def set_columns(self, columns: Sequence[Column], flex_width: int) -> None:
        """Lay the columns out (on mount and resize); rows are kept."""
        columns = tuple(columns)
        widths = tuple(c.width or flex_width for c in columns)
        if (columns, widths) == (self._columns, self._widths):
            return
        self._columns, self._widths = columns, widths
        self._strips.clear()
        self._update_virtual_size()
        self.refresh()

    def show(self, rows: Sequence[tuple[int, tuple[Cell, ...]]]) -> None:
        """Make the table show exactly `rows` (row id, cells), in that order,
        repainting only the lines that changed."""
        cursor, cursor_index = self.cursor_id, self.cursor
        old_ids, old_cells = self._ids, self._cells
        new_ids = [row_id for row_id, _ in rows]
        self._cells = dict(rows)
        if self._cells.keys() != old_cells.keys():
            for gone in [key for key in self._strips if key[0] not in self._cells]:
                del self._strips[gone]
        self._ids = new_ids
        if len(new_ids) != len(old_ids):
            self._update_virtual_size()
        top = self.scroll_offset.y
        if cursor in self._cells:
            index = new_ids.index(cursor)
            if index != self.cursor:
                self.set_reactive(KeyedTable.cursor, index)
                self.scroll_to_cursor()
        elif new_ids:
            self.set_reactive(KeyedTable.cursor, min(self.cursor, len(new_ids) - 1))
        if self.scroll_offset.y != top:
            return  # scrolled: the whole view is drawn again
        if (self.cursor, self.cursor_id) != (cursor_index, cursor):
            self.refresh_index(cursor_index)
            self.refresh_index(self.cursor)
        # Repaint the lines on screen whose row changed or moved; a big fleet's other rows
        # may change and move as they like (a busy pod publishes four times a second).
        for index in range(top, min(top + self.size.height, max(len(new_ids), len(old_ids)))):
            row_id = new_ids[index] if index < len(new_ids) else None
            if row_id != (old_ids[index] if index < len(old_ids) else None) or \
                    (row_id is not None and old_cells.get(row_id) is not self._cells[row_id]
                     and old_cells.get(row_id) != self._cells[row_id]):
                self.refresh_index(index)

    def _update_virtual_size(self) -> None:
        width = sum(self._widths) + 2 * PADDING * len(self._widths)
        self.virtual_size = Size(width, len(self._ids) + 1)  # + the header line

    # -- rendering -----------------------------------------------------------

    def render_line(self, y: int) -> Strip:
        # Strips are cached at the widget's width, cut to it: returned as they are.
        if y == 0:
            return self._header_strip()
        index = self.scroll_offset.y + y - 1
        if index >= len(self._ids):
            return Strip.blank(self.size.width, self.rich_style)
        return self._row_strip(index)

    def _header_strip(self) -> Strip:
        # Not cached: its style may change under the same theme (drawn before the CSS is
        # applied), and it is drawn again only when the whole view is.
        style = self.get_component_rich_style("keyed-table--header")
        cells = [Cell(c.label) for c in self._columns]
        return self._strip(cells, style, self.size.width)

    def _row_strip(self, index: int) -> Strip:
        row_id = self._ids[index]
        cells = self._cells[row_id]
        if index == self.cursor:
            look = "cursor-focus" if self.has_focus else "cursor"
        else:
            look = "even" if index % 2 else "odd"
        key = (cells, self._widths, self.app.theme, self.size.width)
        cached = self._strips.get((row_id, look))
        if cached is not None and cached[0] == key:
            return cached[1]
        if look.startswith("cursor"):
            style = self.get_component_rich_style("keyed-table--cursor")
        elif look == "even":
            style = self.rich_style + self.get_component_rich_style("keyed-table--even-row")
        else:
            style = self.rich_style
        strip = self._strip(cells, style, self.size.width, over=look.startswith("cursor"))
        self._strips[row_id, look] = (key, strip)
        return strip

    def _strip(self, cells: Sequence[Cell], style: Style, width: int, *, over: bool = False) -> Strip:
        """One line: each cell cut or padded to its column, with padding.
        `over` puts the style on top of the cells' own (the cursor row)."""
        line = Text(no_wrap=True, end="")
        pad = " " * PADDING
        skip = 0
        for index, (cell, column, column_width) in enumerate(zip(cells, self._columns, self._widths,
                                                                  strict=False)):
            if skip:  # taken by the cell before, which runs on over it
                skip -= 1
                continue
            if cell.spill:
                skip = min(cell.spill, len(self._widths) - index - 1)
                column_width += sum(self._widths[index + 1:index + 1 + skip]) + 2 * PADDING * skip
            # Cells may name theme colours ("$agent-waiting"): resolved here, as the row is drawn
            # (rows are cached per theme, so a theme switch draws them again).
            text = Text(cell.text, style=rich_style(cell.style), no_wrap=True, overflow="ellipsis", end="")
            for start, end, span_style in cell.spans:
                text.stylize(rich_style(span_style), start, end)
            text.truncate(column_width, overflow="ellipsis")
            gap = " " * (column_width - text.cell_len)
            line.append(pad)
            if column.justify == "right":
                line.append(gap)
                line.append_text(text)
            else:
                line.append_text(text)
                line.append(gap)
            line.append(pad)
        segments = list(line.render(self.app.console))
        if over:
            segments = list(Segment.apply_style(segments, post_style=style))
        else:
            segments = list(Segment.apply_style(segments, style=style))
        return Strip(segments).crop_extend(0, width, style)

    # -- choosing ------------------------------------------------------------

    def action_select(self) -> None:
        if (row_id := self.cursor_id) is not None:
            self.post_message(self.RowChosen(self, row_id))

    def column_at(self, x: int) -> str | None:
        """The key of the column drawn at cell `x` of a line (padding included)."""
        left = 0
        for column, width in zip(self._columns, self._widths, strict=False):
            left += width + 2 * PADDING
            if x < left:
                return column.key
        return None

    def on_click(self, event: events.Click) -> None:
        if event.y < 1:
            # KeyedTable's own message, by name: a subclass may have a HeaderClicked of its own
            # (textual calls each class's on_click along the MRO).
            if (key := self.column_at(event.x)) is not None:
                self.post_message(KeyedTable.HeaderClicked(self, key))
            return
        index = self.scroll_offset.y + event.y - 1
        if index >= len(self._ids):
            return
        if index == self.cursor:
            self.action_select()
        else:
            self.cursor = index

    def on_resize(self) -> None:
        self._strips.clear()
