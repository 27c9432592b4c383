"""ReasonModal: asks why, for every decision that needs a reason (rejecting a gate,
rejecting or retiring a memory entry).

Bindings: enter confirms (an empty reason is refused), esc cancels. The modal returns
its result through `dismiss`: the reason, or None when cancelled.

A dialog that asks for more than a reason (the grant dialog: a pattern, a scope, a
duration) is a ReasonModal with `fields()` above the reason and its own `answer()`.
"""

from __future__ import annotations

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Label

from loomtui.text import printable


class ReasonModal(ModalScreen):
    """Asks why. enter confirms (a reason is required), esc cancels (None)."""

    BINDINGS = [Binding("escape", "cancel", "Cancel", id="cancel_reason")]
    DEFAULT_CSS = """
    ReasonModal { align: center middle; }
    ReasonModal > Vertical {
        width: 72; max-width: 95%; height: auto; border: round $error;
        background: $surface; padding: 0 1;
    }
    ReasonModal Label { width: 100%; }
    ReasonModal #reason-hint { color: $text-muted; }
    """

    def __init__(self, verb: str, what: str, *, hint: str = "",
                 placeholder: str = "reason (required)") -> None:
        """`verb` ("Reject", "Retire") in bold, then `what` (the agent's text, shown
        escaped); `hint` a line under it, if any."""
        super().__init__()
        self.verb = verb
        self.what = what
        self.hint = hint
        self.placeholder = placeholder

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(Text.assemble((f"{self.verb} ", "bold"), printable(self.what)))
            if self.hint:
                yield Label(self.hint, id="reason-hint")
            yield from self.fields()
            yield Input(placeholder=self.placeholder, id="reason")

    def fields(self) -> ComposeResult:
        """What a subclass asks for above the reason (nothing here)."""
        return iter(())

    def answer(self, reason: str) -> object | None:
        """What the modal gives back with `reason`, or None to stay open (a subclass
        checks its own fields here and says what is wrong)."""
        return reason

    @on(Input.Submitted)
    def _submitted(self, event: Input.Submitted) -> None:
        """enter in any field: a reason is required, then `answer` decides."""
        field = self.query_one("#reason", Input)
        reason = field.value.strip()
        if not reason:
            self.notify("A reason is required.", severity="warning")
            field.focus()
            return
        answer = self.answer(reason)
        if answer is not None:
            self.dismiss(answer)

    def action_cancel(self) -> None:
        self.dismiss(None)
