"""FleetTable: the keyed agent table of the Fleet screen.

Bindings: j / k (and the arrows) move; enter opens the agent.

Rows are keyed by agent id. `show()` diffs the wanted rows against what is on
screen: new rows are added, gone rows removed, changed cells updated one by one,
and the order applied with one sort, all inside one batch; the cursor stays on
the same agent. The table is never cleared on refresh, only when its columns
change (a resize that adds or drops columns).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from textual.binding import Binding
from textual.widgets import DataTable

from loomtui.tui.widgets.cells import Cell


@dataclass(frozen=True)
class Column:
    key: str
    label: str
    width: int  # 0 = takes the room that is left


class FleetTable(DataTable[Cell]):
    """The agents, one row each. j/k move, enter drills into the agent."""

    BINDINGS = [
        Binding("j", "cursor_down", "Down", show=False, id="down"),
        Binding("k", "cursor_up", "Up", show=False, id="up"),
        Binding("enter", "select_cursor", "Open", id="open"),
    ]

    def __init__(self, **kwargs) -> None:
        super().__init__(cursor_type="row", zebra_stripes=True, **kwargs)
        self._shown: dict[int, tuple[Cell, ...]] = {}
        self._columns: tuple[Column, ...] = ()

    @property
    def column_layout(self) -> tuple[Column, ...]:
        return self._columns

    def set_columns(self, columns: Sequence[Column], flex_width: int) -> None:
        """Lay the columns out again (on resize); rows are re-added by the next show()."""
        columns = tuple(columns)
        widths = tuple(c.width or flex_width for c in columns)
        current = tuple(col.width for col in self.columns.values())
        if columns == self._columns and widths == current:
            return
        cursor = self.cursor_agent_id
        self.clear(columns=True)
        self._shown.clear()
        self._columns = columns
        for column, width in zip(columns, widths):
            self.add_column(column.label, key=column.key, width=width)
        self._restore_cursor(cursor)

    @property
    def cursor_agent_id(self) -> int | None:
        if not self.row_count:
            return None
        try:
            key = self.coordinate_to_cell_key(self.cursor_coordinate).row_key
        except Exception:  # the cursor can point past the rows while they change
            return None
        return int(key.value) if key.value is not None else None

    def show(self, rows: Sequence[tuple[int, tuple[Cell, ...]]]) -> None:
        """Make the table show exactly `rows` (agent id, cells), in that order."""
        cursor = self.cursor_agent_id
        wanted = dict(rows)
        column_keys = [c.key for c in self._columns]
        with self.app.batch_update():
            for agent_id in [i for i in self._shown if i not in wanted]:
                self.remove_row(str(agent_id))
                del self._shown[agent_id]
            for agent_id, cells in rows:
                old = self._shown.get(agent_id)
                if old is None:
                    self.add_row(*cells, key=str(agent_id))
                else:
                    for column_key, before, after in zip(column_keys, old, cells):
                        if before != after:
                            self.update_cell(str(agent_id), column_key, after)
                self._shown[agent_id] = cells
            order = [agent_id for agent_id, _ in rows]
            if [int(r.key.value) for r in self.ordered_rows] != order:
                position = {agent_id: i for i, agent_id in enumerate(order)}
                # The first cell of every row carries its agent id.
                self.sort(column_keys[0], key=lambda cell: position[cell.row_id])
            self._restore_cursor(cursor)

    def _restore_cursor(self, agent_id: int | None) -> None:
        if agent_id is None or str(agent_id) not in self.rows:
            return
        index = self.get_row_index(str(agent_id))
        if index != self.cursor_row:
            self.move_cursor(row=index, animate=False)
