"""Themes are data: TOML files turned into Textual `Theme`s.

Built-in themes ship in the `loomtui.themes` package (the repository's
`themes/` directory); users add their own in `<pod>/themes/*.toml`, which may
override a built-in of the same name. A bad file is reported once and skipped.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, fields
from importlib import resources
from pathlib import Path

from textual.color import Color, ColorParseError
from textual.theme import Theme

DEFAULT_THEME = "loom-dark"

# The app's own colour variables, with defaults any theme may override.
APP_VARIABLES: dict[str, str] = {
    "agent-working": "#5FA8D3",
    "agent-waiting": "#FF9E3B",
    "agent-idle": "#8A93A6",
    "agent-stalled": "#D9A441",
    "agent-done": "#6FAE6A",
    "agent-error": "#F7768E",
    "agent-ungoverned": "#F7768E",
    "risk-low": "#8A93A6",
    "risk-medium": "#E0AF68",
    "risk-high": "#FF9E3B",
    "risk-critical": "#F7768E",
    "budget-ok": "#6FAE6A",
    "budget-warn": "#E0AF68",
    "budget-critical": "#F7768E",
    "diff-added": "#9ECE6A",
    "diff-removed": "#F7768E",
    # the diff's syntax colours, by token family
    "syntax-keyword": "#C678DD",
    "syntax-function": "#61AFEF",
    "syntax-class": "#E5C07B",
    "syntax-builtin": "#56B6C2",
    "syntax-string": "#98C379",
    "syntax-number": "#D19A66",
    "syntax-comment": "#7F848E",
}

_COLOUR_FIELDS = (
    "primary", "secondary", "warning", "error", "success", "accent",
    "foreground", "background", "surface", "panel", "boost",
)


@dataclass(frozen=True)
class LoadedThemes:
    themes: tuple[Theme, ...]
    problems: tuple[str, ...]

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(t.name for t in self.themes)


def theme_from_toml(text: str, origin: str) -> Theme:
    """Parse one theme file; raises ValueError with a message naming `origin`."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"{origin}: not valid TOML ({exc})") from None
    allowed = {f.name for f in fields(Theme)}
    unknown = sorted(set(data) - allowed)
    if unknown:
        raise ValueError(f"{origin}: unknown keys {', '.join(unknown)}")
    if not isinstance(data.get("name"), str) or not data["name"].strip():
        raise ValueError(f"{origin}: a theme needs a name")
    if not isinstance(data.get("primary"), str):
        raise ValueError(f"{origin}: a theme needs a primary colour")
    variables = data.get("variables", {})
    if not isinstance(variables, dict):
        raise ValueError(f"{origin}: [variables] must be a table")
    for key in _COLOUR_FIELDS:
        if key in data:
            _check_colour(data[key], f"{origin}: {key}")
    for key, value in variables.items():
        if key in APP_VARIABLES:
            _check_colour(value, f"{origin}: variables.{key}")
    try:
        return Theme(**data)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{origin}: {exc}") from None


def _check_colour(value: object, where: str) -> None:
    try:
        Color.parse(value)  # type: ignore[arg-type]
    except (ColorParseError, ValueError, TypeError):
        raise ValueError(f"{where}: {value!r} is not a colour") from None


def builtin_theme_files() -> list:
    """The built-in theme files: package data when installed, else the
    repository's themes/ directory (running from a checkout)."""
    try:
        folder = resources.files("loomtui.themes")
    except ModuleNotFoundError:
        folder = Path(__file__).resolve().parents[2] / "themes"
    return [entry for entry in folder.iterdir() if entry.name.endswith(".toml")]


def load_themes(user_dir: Path | None) -> LoadedThemes:
    """The built-in themes, then the user's (which may replace a built-in)."""
    by_name: dict[str, Theme] = {}
    problems: list[str] = []
    sources: list[tuple[str, str]] = []
    for entry in sorted(builtin_theme_files(), key=lambda e: e.name):
        sources.append((f"built-in theme {entry.name}", entry.read_text(encoding="utf-8")))
    if user_dir is not None and user_dir.is_dir():
        for path in sorted(user_dir.glob("*.toml")):
            try:
                sources.append((str(path), path.read_text(encoding="utf-8")))
            except (OSError, UnicodeDecodeError) as exc:
                problems.append(f"{path}: cannot read ({exc}); skipped")
    for origin, text in sources:
        try:
            theme = theme_from_toml(text, origin)
        except ValueError as exc:
            problems.append(f"{exc}; skipped")
            continue
        by_name[theme.name] = theme
    return LoadedThemes(tuple(by_name.values()), tuple(problems))
