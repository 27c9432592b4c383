"""CursorView: a line-API ScrollView with a cursor line; the base of KeyedTable and
DiffView.

A subclass says how many lines it has (`line_count`) and how many header lines stay at the
top unscrolled (`HEADER_LINES`), and draws lines in `render_line`. This base keeps the
cursor in range and on screen, repaints only the lines the cursor leaves and enters (and
the cursor's line when focus comes or goes: subclasses draw it differently then), and has
the moves: `cursor_down`, `cursor_up`, `page_down`, `page_up`, `first`, `last`. Each
subclass binds its own keys to them (binding ids differ, so a keymap can tell them apart).
"""

from __future__ import annotations

from typing import ClassVar

from textual.geometry import Region
from textual.reactive import reactive
from textual.scroll_view import ScrollView


class CursorView(ScrollView, can_focus=True):
    """Lines with a cursor. No bindings of its own: subclasses bind keys to its actions."""

    HEADER_LINES: ClassVar[int] = 0  # lines at the top that do not scroll (a table's header)

    cursor: reactive[int] = reactive(0, always_update=True, init=False)

    @property
    def line_count(self) -> int:
        """How many lines the cursor can be on."""
        raise NotImplementedError

    @property
    def visible_lines(self) -> int:
        """How many cursor lines fit on screen (under the header)."""
        return max(1, self.scrollable_content_region.height - self.HEADER_LINES)

    def validate_cursor(self, line: int) -> int:
        count = self.line_count
        return max(0, min(line, count - 1)) if count else 0

    def watch_cursor(self, old: int, new: int) -> None:
        self.refresh_index(old)
        self.refresh_index(new)
        self.scroll_to_cursor()

    def scroll_to_cursor(self) -> None:
        """Scroll just enough for the cursor's line to be on screen."""
        top, visible = self.scroll_offset.y, self.visible_lines
        if self.cursor < top:
            self.scroll_to(y=self.cursor, animate=False, immediate=True)
        elif self.cursor >= top + visible:
            self.scroll_to(y=self.cursor - visible + 1, animate=False, immediate=True)

    def refresh_index(self, index: int) -> None:
        """Repaint the screen line showing line `index` (nothing if it is off screen)."""
        line = index - self.scroll_offset.y + self.HEADER_LINES
        if self.HEADER_LINES <= line < self.size.height:
            self.refresh(Region(0, line, self.size.width, 1))

    def on_focus(self) -> None:
        self.refresh_index(self.cursor)

    def on_blur(self) -> None:
        self.refresh_index(self.cursor)

    # -- moves ----------------------------------------------------------------------------

    def action_cursor_down(self) -> None:
        self.cursor += 1

    def action_cursor_up(self) -> None:
        self.cursor -= 1

    def action_page_down(self) -> None:
        self.cursor += max(1, self.visible_lines - 1)

    def action_page_up(self) -> None:
        self.cursor -= max(1, self.visible_lines - 1)

    def action_first(self) -> None:
        self.cursor = 0

    def action_last(self) -> None:
        self.cursor = self.line_count - 1
