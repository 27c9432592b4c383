"""AuditScreen: the pod's hash-chained audit log, newest first, with the
chain's verification on top (the same check as `loomtui audit verify`).

Bindings: j/k move, esc back. The log reloads when the store changes.
"""

from __future__ import annotations

import json
from datetime import datetime

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import Footer, Static

from loomtui.text import printable
from loomtui.tui.model import PodState
from loomtui.tui.screens.base import LoomScreen
from loomtui.tui.widgets.cells import Cell
from loomtui.tui.widgets.keyed_table import Column, KeyedTable

COLUMNS = (
    Column("time", "Time", 19),
    Column("actor", "Actor", 10),
    Column("action", "Action", 16),
    Column("subject", "Subject", 10),
    Column("detail", "Detail", 0),
)
SHOWN = 2000  # newest entries on screen; the export has them all


FIRST = ("summary", "reason", "risk", "rule", "tool")  # what a person looks for first


def detail_text(detail: object) -> str:
    """An entry's detail on one line: the telling keys first, hashes last."""
    if not isinstance(detail, dict):
        return json.dumps(detail)
    keys = sorted(detail, key=lambda k: (FIRST.index(k) if k in FIRST else len(FIRST),
                                         k.endswith("hash"), k))
    return ", ".join(f"{k}={detail[k]}" for k in keys if detail[k] not in (None, ""))


class AuditScreen(LoomScreen[None]):
    """The audit log. j/k move, esc back."""

    AUTO_FOCUS = "#audit"
    BINDINGS = [Binding("escape", "app.pop_screen", "Back", id="back_from_audit")]
    DEFAULT_CSS = """
    #audit-header { height: auto; padding: 0 1; background: $panel; }
    #audit { height: 1fr; }
    """

    def __init__(self) -> None:
        super().__init__()
        self._head: tuple | None = None  # (entries, head hash) last shown

    def compose(self) -> ComposeResult:
        yield Static("Audit log: reading…", id="audit-header")
        yield KeyedTable(id="audit")
        yield Footer()

    def on_mount(self) -> None:
        width = self.size.width or self.app.size.width
        self.query_one(KeyedTable).set_columns(COLUMNS, KeyedTable.flex_width(width, COLUMNS))
        self.app.pod_changed_signal.subscribe(self, self.show_state)
        self.reload()

    def show_state(self, _state: PodState) -> None:
        if self.is_current:
            self.reload()

    def reload(self) -> None:
        self.run_worker(self._load(), exclusive=True, group="audit", exit_on_error=False)

    async def _load(self) -> None:
        # None when nothing was appended since the last read (or the store failed).
        result = await self.actions.audit_log(self._head)
        if result is None:
            return
        self._head, entries, problems = result
        colours = self.app.theme_variables
        header = Text()
        header.append("Audit log ", "bold")
        header.append(f"{len(entries)} entries  ")
        if problems:
            header.append(f"✗ {len(problems)} problem(s)\n", "bold " + colours.get("risk-critical", ""))
            for problem in problems[:5]:
                header.append(f"  {printable(problem)}\n", colours.get("risk-critical", ""))  # quotes content
        else:
            header.append("✓ intact (chain, witness, triggers, decisions)", colours.get("agent-done", ""))
        self.query_one("#audit-header", Static).update(header)
        rows = []
        for entry in reversed(entries[-SHOWN:]):
            when = datetime.fromtimestamp(entry["ts"], tz=self.app.tz).strftime("%Y-%m-%d %H:%M:%S")
            text = detail_text(entry.get("detail") or {})
            rows.append((entry["id"], (
                Cell(when, "dim", row_id=entry["id"]), Cell(entry["actor"], "bold"),
                Cell(entry["action"]), Cell(entry["subject"]), Cell(text),
            )))
        self.query_one(KeyedTable).show(rows)
