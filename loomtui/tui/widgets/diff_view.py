"""DiffView: one file's patch, on Textual's line API.

Only the lines on screen are rendered (and kept in a small cache), so opening and
scrolling a 50,000-line diff costs what a screenful costs. Added and removed lines get
the theme's `diff-added` / `diff-removed` colours and hunk headers its `primary` (read
from the theme as lines are drawn, and drawn again after a theme switch), and the code
itself is highlighted with the file's own syntax in the theme's `syntax-*` colours
(Pygments, a block at a time: cheap, and good enough for reading a diff).

Bindings: j/k move the cursor line, pgup/pgdn and home/end jump, n/p go to the next or
previous hunk. `line_in_new_file()` gives the cursor's line in the new file (what `e`
opens the editor at).
"""

from __future__ import annotations

import re
from collections import OrderedDict
from collections.abc import Mapping
from functools import lru_cache

from rich.style import Style
from rich.text import Text
from textual.binding import Binding
from textual.geometry import Size
from textual.strip import Strip

from loomtui.text import printable
from loomtui.tui.themes import APP_VARIABLES
from loomtui.tui.widgets.cursor_view import CursorView

HUNK = re.compile(r"^@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@")
CACHE_LINES = 400  # rendered strips kept (a few screens)
HIGHLIGHT_BLOCK = 96  # lines lexed together (one lexer call costs far less than 96)


@lru_cache(maxsize=64)
def _lexer(path: str):
    from pygments.lexers import get_lexer_for_filename
    from pygments.util import ClassNotFound

    try:
        return get_lexer_for_filename(path, stripnl=False, ensurenl=False)
    except ClassNotFound:
        return None


class DiffView(CursorView):
    """A patch, rendered a line at a time. j/k move, n/p hunks. The cursor (from
    CursorView) is a line of the patch."""

    BINDINGS = [
        Binding("j,down", "cursor_down", "Down", show=False, id="diff_down"),
        Binding("k,up", "cursor_up", "Up", show=False, id="diff_up"),
        Binding("pagedown,space", "page_down", "Page down", show=False, id="diff_page_down"),
        Binding("pageup", "page_up", "Page up", show=False, id="diff_page_up"),
        Binding("home", "first", "Top", show=False, id="diff_top"),
        Binding("end", "last", "Bottom", show=False, id="diff_bottom"),
        Binding("n", "hunk(1)", "Next hunk", id="next_hunk"),
        Binding("p", "hunk(-1)", "Previous hunk", id="previous_hunk"),
    ]
    DEFAULT_CSS = """
    DiffView { background: $surface; }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.path = ""
        self.lines: list[str] = []
        self.hunks: list[int] = []  # indexes of the hunk headers
        self._cache: OrderedDict[tuple[int, int, bool], Strip] = OrderedDict()
        self._code: dict[int, Text] = {}  # row -> its highlighted code (without the +/- sign)
        self._message = ""

    # -- content ---------------------------------------------------------------------

    def show_patch(self, path: str, patch: str | None, *, binary: bool = False,
                   truncated: bool = False, note: str = "") -> None:
        """Show a file's patch; a binary file, or one with no patch text, says so instead.
        The patch and the path are the agent's: control characters show escaped, tabs stay."""
        self.path = path
        path, note = printable(path), printable(note)
        self._cache.clear()
        self._code.clear()
        if binary:
            self.lines, self._message = [], f"{path}: binary file, not shown"
        elif patch is None:
            self.lines, self._message = [], note or f"{path}: no patch text"
        else:
            body = printable(patch, multiline=True).splitlines()
            if truncated:
                body.append("… (diff truncated: too large to show in full; `git diff` has it all)")
            self.lines, self._message = body, ""
        self.hunks = [i for i, line in enumerate(self.lines) if line.startswith("@@")]
        self.virtual_size = Size(max((len(x) for x in self.lines[:2000]), default=0) + 8,
                                 len(self.lines) or 1)
        self.cursor = self.hunks[0] if self.hunks else 0
        self.scroll_to(0, 0, animate=False)
        self.refresh()

    def clear(self, message: str = "") -> None:
        self.path, self.lines, self.hunks, self._message = "", [], [], printable(message)
        self._cache.clear()
        self.virtual_size = Size(0, 1)
        self.refresh()

    # -- where the cursor is ----------------------------------------------------------

    @property
    def line_count(self) -> int:
        return len(self.lines)

    def line_in_new_file(self) -> int:
        """The new file's line number at the cursor (1 when before any hunk)."""
        start = next((h for h in reversed(self.hunks) if h <= self.cursor), None)
        if start is None:
            return 1
        match = HUNK.match(self.lines[start])
        line = int(match.group(3)) if match else 1
        for text in self.lines[start + 1:self.cursor]:
            if not text.startswith("-"):
                line += 1
        return max(1, line)

    def action_hunk(self, step: int) -> None:
        if not self.hunks:
            return
        if step > 0:
            target = next((h for h in self.hunks if h > self.cursor), self.hunks[-1])
        else:
            target = next((h for h in reversed(self.hunks) if h < self.cursor), self.hunks[0])
        self.cursor = target
        self.scroll_to(y=max(0, target - 2), animate=False)

    # -- rendering ----------------------------------------------------------------------

    def render_line(self, y: int) -> Strip:
        width = self.scrollable_content_region.width
        row = int(self.scroll_y) + y
        base = self.rich_style
        if not self.lines:
            if y == 0 and self._message:
                text = Text(" " + self._message, style="italic")
                return Strip(list(text.render(self.app.console)), text.cell_len).adjust_cell_length(
                    width, base).apply_style(base)
            return Strip.blank(width, base)
        if row >= len(self.lines):
            return Strip.blank(width, base)
        focused = self.has_focus
        key = (row, width, focused and row == self.cursor)
        strip = self._cache.get(key)
        if strip is None:
            strip = self._render_row(row, width, base)
            self._cache[key] = strip
            if len(self._cache) > CACHE_LINES:
                self._cache.popitem(last=False)
        scroll_x = int(self.scroll_x)
        return strip.crop(scroll_x, scroll_x + width) if scroll_x else strip

    def _render_row(self, row: int, width: int, base: Style) -> Strip:
        line = self.lines[row].replace("\t", "    ")
        # The theme's colours, read as the line is drawn: an app without LoomTUI's colour
        # variables (a test's, a benchmark's) draws the signs dim instead.
        colours = self.app.theme_variables
        text = Text(no_wrap=True)
        if line.startswith("@@"):
            text.append(line, Style(color=colours.get("primary"), bold=True))
        elif line.startswith(("diff --git", "index ", "--- ", "+++ ", "new file", "deleted file",
                              "rename ", "similarity", "old mode", "new mode", "Binary files")):
            text.append(line, Style(dim=True, bold=True))
        elif line.startswith(("+", "-", " ")):
            sign, code = line[0], line[1:]
            background = {"+": colours.get("diff-added"), "-": colours.get("diff-removed")}.get(sign)
            mark = Style(color=background, bold=True) if background else Style(dim=True)
            text.append(sign, mark)
            text.append_text(self._highlighted(row, code))
            if background:
                dark = self.app.current_theme.dark if self.app.current_theme else True
                text.stylize(Style(bgcolor=_tint(background, dark)), 0, len(text))
        else:
            text.append(line, Style(italic=True, dim=True))
        if row == self.cursor and self.has_focus:
            text.stylize(Style(reverse=True), 0, max(1, len(text)))
        segments = list(text.render(self.app.console))
        length = max(width, text.cell_len)
        return Strip(segments, text.cell_len).adjust_cell_length(length, base).apply_style(base)

    def notify_style_update(self) -> None:
        """The theme changed (or the CSS): rendered lines and highlighted code are drawn
        again, in the new colours."""
        super().notify_style_update()
        self._cache.clear()
        self._code.clear()

    def _highlighted(self, row: int, code: str) -> Text:
        """The row's code in its file's syntax. Rows are lexed a block at a time (the
        block that starts here), so a page costs one lexer call, not one per line."""
        found = self._code.get(row)
        if found is None:
            self._highlight_block(row)
            found = self._code.get(row)
        return found.copy() if found is not None else Text(code)

    def _highlight_block(self, start: int) -> None:
        lexer = _lexer(self.path) if self.path else None
        rows = [r for r in range(start, min(len(self.lines), start + HIGHLIGHT_BLOCK))
                if self.lines[r][:1] in ("+", "-", " ") and not self.lines[r].startswith(("+++ ", "--- "))
                and r not in self._code]
        if len(self._code) > 20_000:
            self._code.clear()
        codes = [self.lines[r][1:].replace("\t", "    ") for r in rows]
        if lexer is None or not rows or any(len(c) > 2000 for c in codes):
            for r, c in zip(rows, codes, strict=False):
                self._code[r] = Text(c)
            return
        palette = syntax_palette(self.app.theme_variables)
        texts = [Text()]
        for token, value in lexer.get_tokens("\n".join(codes)):
            style = _token_style(str(token), palette)
            parts = value.split("\n")
            for i, part in enumerate(parts):
                if i:
                    texts.append(Text())
                if part:
                    texts[-1].append(part, style)
        for r, text in zip(rows, texts, strict=False):
            self._code[r] = text


# Token families and the theme variable that colours each (defaults in tui/themes.py;
# a theme file may set its own, as loom-light does).
SYNTAX = (
    ("Token.Keyword", "syntax-keyword"),
    ("Token.Name.Function", "syntax-function"),
    ("Token.Name.Class", "syntax-class"),
    ("Token.Name.Builtin", "syntax-builtin"),
    ("Token.Literal.String", "syntax-string"),
    ("Token.Literal.Number", "syntax-number"),
    ("Token.Comment", "syntax-comment"),
    ("Token.Operator.Word", "syntax-keyword"),
)


def syntax_palette(variables: Mapping[str, str]) -> tuple[tuple[str, str], ...]:
    """(token prefix, colour) from the theme's variables; an app without LoomTUI's
    variables (a test's, a benchmark's) gets the defaults."""
    return tuple((prefix, variables.get(name) or APP_VARIABLES[name]) for prefix, name in SYNTAX)


@lru_cache(maxsize=512)
def _token_style(token: str, palette: tuple[tuple[str, str], ...]) -> Style:
    for prefix, colour in palette:
        if token.startswith(prefix):
            return Style(color=colour, italic=token.startswith("Token.Comment"))
    return Style()


@lru_cache(maxsize=16)
def _tint(colour: str | None, dark: bool) -> str | None:
    """A faint wash of a colour (dark on dark themes, light on light ones), as the
    background of an added or removed line."""
    if not colour or not colour.startswith("#") or len(colour) != 7:
        return None
    r, g, b = (int(colour[i:i + 2], 16) for i in (1, 3, 5))
    if dark:
        return f"#{r // 5:02x}{g // 5:02x}{b // 5:02x}"
    return f"#{r + (255 - r) * 4 // 5:02x}{g + (255 - g) * 4 // 5:02x}{b + (255 - b) * 4 // 5:02x}"
