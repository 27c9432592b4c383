"""Confirm: a yes/no question before an action that cannot be taken back (a batch
decision, deciding or taking over a gate someone else claims). enter or y answers yes,
esc or n no; dismissed with True or False."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Label

from loomtui.text import printable


class Confirm(ModalScreen[bool]):
    """Asks `question` (it quotes agents' text: shown as plain text, never markup)."""

    BINDINGS = [
        Binding("enter,y", "answer(True)", "Yes", id="confirm_yes"),
        Binding("escape,n", "answer(False)", "No", id="confirm_no"),
    ]
    DEFAULT_CSS = """
    Confirm { align: center middle; }
    Confirm > Vertical {
        width: 72; max-width: 95%; height: auto; border: round $warning;
        background: $surface; padding: 0 1;
    }
    Confirm Label { width: 100%; }
    Confirm #confirm-keys { color: $text-muted; }
    """

    def __init__(self, question: str) -> None:
        super().__init__()
        self.question = question

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(printable(self.question), id="confirm-question", markup=False)
            yield Label("enter or y: yes · esc or n: no", id="confirm-keys")

    def action_answer(self, yes: bool) -> None:
        self.dismiss(yes)
