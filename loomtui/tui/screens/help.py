"""HelpScreen: every key of the screen it was opened from, with its binding id
(the name to use in `[keymap]` of config.toml).

Bindings: esc, q or ? close it.
"""

from __future__ import annotations

from collections.abc import Iterable

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static


class HelpScreen(ModalScreen[None]):
    """The keys of the screen below. esc, q or ? close."""

    BINDINGS = [
        Binding("escape,q,question_mark", "dismiss", "Close", id="close_help"),
    ]

    DEFAULT_CSS = """
    HelpScreen { align: center middle; }
    HelpScreen > VerticalScroll {
        width: 72; max-width: 95%; height: auto; max-height: 90%;
        border: round $primary; background: $surface; padding: 0 1;
    }
    """

    def __init__(self, title: str, keys: Iterable[tuple[str, str, str]],
                 movement: Iterable[tuple[str, str, str]] = (), notes: str = "") -> None:
        """`keys` and `movement`: (key as shown, what it does, binding id); `notes`: what
        the screen's marks mean (its HELP_NOTES)."""
        super().__init__()
        self.title_text = title
        self.keys = list(keys)
        self.movement = list(movement)
        self.notes = notes

    def compose(self) -> ComposeResult:
        text = Text()
        text.append(f"{self.title_text}\n", "bold")
        width = max((len(k) for k, _, _ in self.keys + self.movement), default=4)
        for heading, keys in (("", self.keys), ("Marks", self.notes), ("Moving around", self.movement)):
            if not keys:
                continue
            if isinstance(keys, str):  # what the screen's marks mean
                text.append(f"\n{heading}\n", "bold")
                text.append(keys + "\n")
                continue
            if heading:
                text.append(f"\n{heading}\n", "bold")
            else:
                text.append("\n")
            for key, description, binding_id in keys:
                text.append(f"{key:>{width}}  ", "bold")
                text.append(description)
                if binding_id:
                    text.append(f"  ({binding_id})", "dim")
                text.append("\n")
        text.append("\nRebind a key by its id in [keymap] of config.toml.", "dim italic")
        with VerticalScroll():
            yield Static(text)
