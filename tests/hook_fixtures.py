"""Fixtures for tests that call hooks and commands on a bare pod: an empty store, and a
git repository on branch `auth` (import them into a test module to use them there)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from loomtui.store.db import connect, db_path


@pytest.fixture
def pod(tmp_path: Path) -> Path:
    """A pod directory holding an empty, current store (and nothing else)."""
    pod = tmp_path / "pod"
    connect(db_path(pod)).close()
    return pod


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A repository with no commits, on branch `auth`."""
    repo = tmp_path / "shop"
    repo.mkdir()
    subprocess.run(["git", "init", "-q", "-b", "auth", str(repo)], check=True)
    return repo
