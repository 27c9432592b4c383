"""Table cells as small value objects: equal when they would render the same,
so a refresh updates only the cells whose value really changed."""

from __future__ import annotations

from dataclasses import dataclass

from rich.text import Text


@dataclass(frozen=True, slots=True)
class Cell:
    """A table cell: its text, its style and, for the first column, its row's id."""

    text: str
    style: str = ""
    row_id: int | None = None
    justify: str = "left"

    def __rich__(self) -> Text:
        return Text(self.text, style=self.style, no_wrap=True, overflow="ellipsis",
                    justify=self.justify)  # type: ignore[arg-type]
