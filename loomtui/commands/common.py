"""What several commands share: opening the pod and its config with clear errors."""

from __future__ import annotations

import sqlite3
import sys
from pathlib import Path

from loomtui.commands.errors import CommandError
from loomtui.config import Config, ConfigError, load_config
from loomtui.store.db import StoreError, connect, db_path, pod_dir


def open_pod(*, create: bool = False) -> tuple[Path, sqlite3.Connection]:
    """The pod directory and a store connection; CommandError on any problem."""
    pod = pod_dir()
    try:
        return pod, connect(db_path(pod), create=create)
    except StoreError as exc:
        raise CommandError(str(exc)) from None


def read_config(pod: Path, *, warn: bool = True) -> Config:
    try:
        config = load_config(pod)
    except ConfigError as exc:
        raise CommandError(str(exc)) from None
    if warn:
        for warning in config.warnings:
            print(f"loomtui: warning: {warning}", file=sys.stderr)
    return config
