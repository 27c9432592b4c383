"""ClaimConfirm: asks before acting on a gate someone else claims.

"Gate 12 is claimed by alice 3 min ago — decide anyway?" Bindings: y or enter goes
ahead, n or esc does not. Dismissed with True (go ahead) or False.
"""

from __future__ import annotations

from loomtui.store.gates import Gate
from loomtui.store.presence import Claim, ago
from loomtui.text import printable
from loomtui.tui.screens.confirm import Confirm


class ClaimConfirm(Confirm):
    """Someone else claims these gates: go ahead anyway?"""


def claimed_question(claimed: list[tuple[Gate, Claim]], now: float, verb: str) -> str:
    """"Gate 12 is claimed by alice 3 min ago — decide anyway?", or for several gates
    "2 of these gates are claimed by others (alice, bob) — decide anyway?"."""
    if len(claimed) == 1:
        gate, claim = claimed[0]
        return (f"Gate {gate.id} is claimed by {printable(claim.who)} {ago(now - claim.since)} "
                f"— {verb} anyway?")
    names = ", ".join(dict.fromkeys(printable(c.who) for _, c in claimed))
    return f"{len(claimed)} of these gates are claimed by others ({names}) — {verb} anyway?"
