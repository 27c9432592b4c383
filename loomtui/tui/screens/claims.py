"""ClaimConfirm: asks before acting on a gate someone else claims.

"Gate 12 is claimed by alice 3 min ago — decide anyway?" Bindings: y or enter goes
ahead, n or esc does not. Dismissed with True (go ahead) or False.
"""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Label

from loomtui.store.gates import Gate
from loomtui.store.presence import Claim, ago
from loomtui.text import printable


class ClaimConfirm(ModalScreen[bool]):
    """Someone else claims these gates: y/enter go ahead, n/esc cancel."""

    BINDINGS = [
        Binding("y,enter", "answer(True)", "Yes", id="claim_confirm_yes"),
        Binding("n,escape", "answer(False)", "No", id="claim_confirm_no"),
    ]
    DEFAULT_CSS = """
    ClaimConfirm { align: center middle; }
    ClaimConfirm > Vertical {
        width: 72; max-width: 95%; height: auto; border: round $warning;
        background: $surface; padding: 0 1;
    }
    ClaimConfirm Label { width: 100%; }
    ClaimConfirm #claim-confirm-keys { color: $text-muted; }
    """

    def __init__(self, question: str) -> None:
        super().__init__()
        self.question = question

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(self.question, id="claim-confirm-question", markup=False)
            yield Label("y yes · n no", id="claim-confirm-keys")

    def action_answer(self, yes: bool) -> None:
        self.dismiss(yes)


def claimed_question(claimed: list[tuple[Gate, Claim]], now: float, verb: str) -> str:
    """"Gate 12 is claimed by alice 3 min ago — decide anyway?", or for several gates
    "2 of these gates are claimed by others (alice, bob) — decide anyway?"."""
    if len(claimed) == 1:
        gate, claim = claimed[0]
        return (f"Gate {gate.id} is claimed by {printable(claim.who)} {ago(now - claim.since)} "
                f"— {verb} anyway?")
    names = ", ".join(dict.fromkeys(printable(c.who) for _, c in claimed))
    return f"{len(claimed)} of these gates are claimed by others ({names}) — {verb} anyway?"
