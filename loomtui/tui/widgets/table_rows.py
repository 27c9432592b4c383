"""Keyed updates for a DataTable: show a new set of rows by removing the rows that went,
adding the new ones and updating only the cells whose value changed, never by clearing
the table, so the cursor stays on its row (by key) and nothing flickers."""

from __future__ import annotations

from collections.abc import Sequence

from rich.text import Text
from textual.widgets import DataTable

from loomtui.tui.widgets.cells import Cell


def same_cell(a: object, b: object) -> bool:
    """Would `a` and `b` render the same? (rich's Text equality ignores the base style.)"""
    if isinstance(a, Text) and isinstance(b, Text):
        return (a.plain, a.style, a.spans, a.justify, a.overflow, a.no_wrap) == \
            (b.plain, b.style, b.spans, b.justify, b.overflow, b.no_wrap)
    return type(a) is type(b) and a == b


def sync_rows(table: DataTable, rows: Sequence[tuple[str, Sequence[object]]], order_column: str,
              cursor: str | None = None) -> None:
    """Show `rows` ((row key, cells in column order), in display order) in `table`.

    The cell in `order_column` is a `Cell` whose row_id is unique to its row: rows are
    put in order by sorting on it. The cursor goes to the row `cursor` names when given,
    else stays on the row it was on; the top row when that row is no longer shown."""
    if cursor is None and table.row_count:
        cursor = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
    wanted = dict(rows)
    columns = list(table.columns)
    with table.app.batch_update():
        for row in list(table.rows):
            if row.value not in wanted:
                table.remove_row(row)
        for key, cells in rows:
            if key not in table.rows:
                table.add_row(*cells, key=key)
                continue
            for column, old, new in zip(columns, table.get_row(key), cells, strict=False):
                if not same_cell(old, new):
                    table.update_cell(key, column, new)
        order = [key for key, _cells in rows]
        if [row.key.value for row in table.ordered_rows] != order:
            position = {_row_id(cells, columns, order_column): index for index, (_k, cells) in enumerate(rows)}
            table.sort(order_column, key=lambda cell: position[cell.row_id])
        if cursor in wanted:
            table.move_cursor(row=table.get_row_index(cursor), animate=False)
        elif rows:
            table.move_cursor(row=0, animate=False)  # its row went: back to the top


def _row_id(cells: Sequence[object], columns: list, order_column: str) -> int | None:
    cell = cells[[c.value for c in columns].index(order_column)]
    assert isinstance(cell, Cell) and cell.row_id is not None, f"{order_column} needs a Cell with a row_id"
    return cell.row_id
