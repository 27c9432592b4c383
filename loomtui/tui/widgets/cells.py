"""Table cells as small value objects: equal when they would render the same,
so a refresh updates only the cells whose value really changed."""

from __future__ import annotations

from dataclasses import dataclass

from rich.text import Text

from loomtui.text import printable


@dataclass(frozen=True, slots=True)
class Cell:
    """A table cell: its text, its style and, for the first column, its row's id."""

    text: str
    style: str = ""
    row_id: int | None = None
    justify: str = "left"
    spans: tuple[tuple[int, int, str], ...] = ()  # (start, end, style) over parts of the text

    def __post_init__(self) -> None:
        # Cells show agents' names, commands and summaries: control characters are
        # escaped here, whichever screen built the cell. (Cheap: plain text is returned
        # as it is.) Spans built over raw text would no longer line up: they are dropped.
        shown = printable(self.text)
        if shown != self.text:
            object.__setattr__(self, "text", shown)
            object.__setattr__(self, "spans", ())

    def __rich__(self) -> Text:
        text = Text(self.text, style=self.style, no_wrap=True, overflow="ellipsis",
                    justify=self.justify)  # type: ignore[arg-type]
        for start, end, style in self.spans:
            text.stylize(style, start, end)
        return text

    @classmethod
    def of(cls, text: Text, justify: str = "left") -> "Cell":
        """A cell from a rich Text with styled parts (plain styles only)."""
        return cls(text.plain, str(text.style or ""), justify=justify,
                   spans=tuple((s.start, s.end, str(s.style)) for s in text.spans))
