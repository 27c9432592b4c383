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
        width: auto; max-width: 90%; height: auto; max-height: 90%;
        border: round $primary; background: $surface; padding: 0 1;
    }
    """

    def __init__(self, title: str, keys: Iterable[tuple[str, str, str]]) -> None:
        """`keys`: (key as shown, what it does, binding id)."""
        super().__init__()
        self.title_text = title
        self.keys = list(keys)

    def compose(self) -> ComposeResult:
        text = Text()
        text.append(f"{self.title_text}\n\n", "bold")
        width = max((len(k) for k, _, _ in self.keys), default=4)
        for key, description, binding_id in self.keys:
            text.append(f"{key:>{width}}  ", "bold")
            text.append(description)
            if binding_id:
                text.append(f"  ({binding_id})", "dim")
            text.append("\n")
        text.append("\nRebind any key by its id in [keymap] of config.toml.", "dim italic")
        with VerticalScroll():
            yield Static(text)
