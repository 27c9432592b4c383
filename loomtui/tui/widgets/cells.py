"""Table cells as small value objects: equal when they would render the same,
so a refresh updates only the cells whose value really changed.

A cell's styles are Textual styles and may name the theme's colours
("bold $risk-high", "$agent-waiting"): they are resolved when the cell is drawn, against
the theme in force then, so a theme switch recolours every table without rebuilding
its rows."""

from __future__ import annotations

import re
from dataclasses import dataclass

from rich.style import Style as RichStyle
from rich.text import Text
from textual.css.errors import UnresolvedVariableError
from textual.style import Style as TextualStyle

from loomtui.text import printable

_VARIABLE = re.compile(r"(?:\bon\s+)?\$[\w-]+")  # a theme colour, foreground or background


def rich_style(style: str) -> str | RichStyle:
    """`style` for Rich, with the theme variables in it resolved against the running
    app's current theme (Textual's own style parser, cached per theme). Styles without a
    variable stay strings, for Rich to parse."""
    if "$" not in style:
        return style
    try:
        return TextualStyle.parse(style).rich_style
    except UnresolvedVariableError:  # no such colour (drawn outside LoomApp): the rest only
        return _VARIABLE.sub("", style).strip()


@dataclass(frozen=True, slots=True)
class Cell:
    """A table cell: its text, its style and, for the first column, its row's id.
    Styles may name theme variables (see the module's docstring)."""

    text: str
    style: str = ""
    row_id: int | None = None
    # For a DataTable (KeyedTable aligns by its Column): "left" and "right" fill the column
    # with the cell's style; "default" leaves the room to the table (the text is drawn at
    # its own width, as Rich Text is).
    justify: str = "left"
    spans: tuple[tuple[int, int, str], ...] = ()  # (start, end, style) over parts of the text
    # KeyedTable only: the text may run on over this many following columns, whose cells
    # are then not drawn (the fleet's reason why an agent waits takes its usage's room).
    spill: int = 0

    def __post_init__(self) -> None:
        # Cells show agents' names, commands and summaries: control characters are
        # escaped here, whichever screen built the cell. (Cheap: plain text is returned
        # as it is.) Spans built over raw text would no longer line up: they are dropped.
        shown = printable(self.text)
        if shown != self.text:
            object.__setattr__(self, "text", shown)
            object.__setattr__(self, "spans", ())

    @property
    def plain(self) -> str:
        """The text without its styles (as Rich's Text and Textual's Content say it)."""
        return self.text

    def __rich__(self) -> Text:
        """The cell as Rich Text, in the current theme's colours (a DataTable draws it
        this way, each time it renders the row)."""
        text = Text(self.text, style=rich_style(self.style), no_wrap=True, overflow="ellipsis",
                    justify=self.justify)  # type: ignore[arg-type]
        for start, end, style in self.spans:
            text.stylize(rich_style(style), start, end)
        return text

    @classmethod
    def of(cls, text: Text, justify: str = "left") -> Cell:
        """A cell from a rich Text with styled parts (style strings only)."""
        return cls(text.plain, str(text.style or ""), justify=justify,
                   spans=tuple((s.start, s.end, str(s.style)) for s in text.spans))
