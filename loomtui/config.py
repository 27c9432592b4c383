"""`config.toml` in the pod directory, read with tomllib into frozen dataclasses.

Unknown keys are collected as warnings (shown once by whoever loads the file)
and otherwise ignored; a file that is not valid TOML is a ConfigError naming it.
`$LOOM_CONFIG` points at another file (tests and one-off runs).
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

CONFIG_NAME = "config.toml"

DEFAULT_CONFIG_TEXT = """\
# LoomTUI pod configuration. Every key is optional; the values shown are the defaults.

[console]
# Theme at start: loom-dark, loom-light, loom-contrast, or a theme of your own
# in this pod's themes/ directory (see the user's guide).
# theme = "loom-dark"

# How often the console checks the store for changes, per second (1 to 4).
# refresh_hz = 4

# Seconds without activity after which a working agent reads as stalled.
# stall_after = 300

[keymap]
# Rebind any key by its binding id (`?` in the console lists them), for example:
# quit = "ctrl+q"
# filter = "slash,f"
"""


class ConfigError(Exception):
    """The configuration file cannot be read; the message names it."""


@dataclass(frozen=True)
class ConsoleConfig:
    theme: str = "loom-dark"
    refresh_hz: float = 4.0
    stall_after: float = 300.0


@dataclass(frozen=True)
class Config:
    console: ConsoleConfig = field(default_factory=ConsoleConfig)
    keymap: Mapping[str, str] = field(default_factory=dict)
    path: Path | None = None
    warnings: tuple[str, ...] = ()


def config_path(pod: Path) -> Path:
    override = os.environ.get("LOOM_CONFIG")
    return Path(override).expanduser() if override else pod / CONFIG_NAME


def load_config(pod: Path) -> Config:
    """Read the pod's config; a missing file gives the defaults."""
    path = config_path(pod)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return Config(path=None)
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror or exc}") from None
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path} is not UTF-8 text (byte {exc.start})") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path} is not valid TOML: {exc}") from None
    return parse_config(data, path)


def parse_config(data: Mapping[str, Any], path: Path | None = None) -> Config:
    where = str(path) if path else "config"
    warnings: list[str] = []
    for key in data:
        if key not in ("console", "keymap"):
            warnings.append(f"{where}: unknown section or key [{key}] ignored")
    console = _section(data.get("console", {}), ConsoleConfig, "console", where, warnings)
    console = ConsoleConfig(
        theme=console.theme,
        refresh_hz=min(4.0, max(1.0, float(console.refresh_hz))),
        stall_after=max(1.0, float(console.stall_after)),
    )
    keymap: dict[str, str] = {}
    raw_keymap = data.get("keymap", {})
    if isinstance(raw_keymap, Mapping):
        for binding_id, keys in raw_keymap.items():
            if isinstance(keys, str) and keys.strip():
                keymap[str(binding_id)] = keys
            else:
                warnings.append(f"{where}: [keymap] {binding_id} must be a non-empty string; ignored")
    else:
        warnings.append(f"{where}: [keymap] must be a table; ignored")
    return Config(console=console, keymap=keymap, path=path, warnings=tuple(warnings))


def _section(raw: Any, cls: type, name: str, where: str, warnings: list[str]) -> Any:
    defaults = cls()
    if not isinstance(raw, Mapping):
        warnings.append(f"{where}: [{name}] must be a table; defaults used")
        return defaults
    known = {f.name: f for f in fields(cls)}
    values: dict[str, Any] = {}
    for key, value in raw.items():
        if key not in known:
            warnings.append(f"{where}: unknown key {name}.{key} ignored")
            continue
        expected = type(getattr(defaults, key))
        if expected is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if not isinstance(value, expected) or isinstance(value, bool) and expected is not bool:
            warnings.append(
                f"{where}: {name}.{key} should be {expected.__name__}, got {value!r}; default used"
            )
            continue
        values[key] = value
    return cls(**values)


def supervisor_name() -> str:
    """Who is at the keyboard: $LOOM_USER, else the login name."""
    name = os.environ.get("LOOM_USER")
    if name:
        return name
    try:
        return os.getlogin()
    except OSError:
        import getpass

        return getpass.getuser()
