"""Who else is online, and who claims a gate, as the console's headers and cells say it.

Plain functions over loomtui.store.presence rows (no widgets), so the fleet's and the
inbox's headers say it the same way and a test can read the rules on their own.
"""

from __future__ import annotations

from collections.abc import Sequence

from textual.content import Content

from loomtui.store.presence import Claim, Presence
from loomtui.text import printable
from loomtui.tui import model


def online(others: Sequence[Presence], room: int) -> str:
    """The other supervisors online in at most `room` cells, richest first: "online:
    alice (inbox), bob (gate 12)", then "online: alice, bob", then "+2 online", else ""."""
    if not others:
        return ""
    seen: dict[str, list[str]] = {}
    for p in others:  # one person at two consoles is named once, with both places
        places = seen.setdefault(printable(p.display or p.account), [])
        if p.looking_at and p.looking_at not in places:
            places.append(printable(p.looking_at))
    detailed = ", ".join(f"{who} ({', '.join(places)})" if places else who for who, places in seen.items())
    for text in (f"online: {detailed}", f"online: {', '.join(seen)}", f"+{len(seen)} online"):
        if len(text) <= room:
            return text
    return ""


def names_room(others: Sequence[Presence]) -> int:
    """The cells the other supervisors' names take in a header ("  online: alice, bob"),
    at most 40: a header makes that room before it gives any to less urgent figures."""
    if not others:
        return 0
    names = dict.fromkeys(printable(p.display or p.account) for p in others)
    return min(40, len(f"  online: {', '.join(names)}"))


def claim_label(claim: Claim | None, now: float, *, mine: bool) -> str:
    """A claim for a cell: "alice 3m", "you 40s"; "" when nobody holds one."""
    if claim is None:
        return ""
    who = "you" if mine else printable(claim.who)
    return f"{who} {model.age(now - claim.since)}"


def with_online(header: Content, others: Sequence[Presence], width: int) -> Content:
    """`header` with who else is online after it, in the room it leaves of `width` cells."""
    label = online(others, width - header.cell_length - 2)
    return Content.assemble(header, ("  " + label, "italic $text-muted")) if label else header
