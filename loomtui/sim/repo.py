"""A real git repository with one real worktree per simulated agent."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

FILES = {
    "README.md": "# shop\n\nA small web shop the demo agents work on.\n",
    "src/auth/login.py": "def login(user, password):\n    return user == 'admin' and password\n",
    "src/auth/session.py": "SESSIONS = {}\n",
    "src/billing/invoice.py": "def total(lines):\n    return sum(l.price for l in lines)\n",
    "src/billing/tax.py": "RATE = 0.2\n",
    "src/search/index.py": "def index(docs):\n    return {d.id: d for d in docs}\n",
    "src/api/routes.py": "ROUTES = []\n",
    "migrations/0001_init.sql": "CREATE TABLE users (id INTEGER PRIMARY KEY);\n",
    "tests/test_login.py": "def test_login():\n    assert True\n",
    "tests/test_invoice.py": "def test_total():\n    assert True\n",
}

GIT_ENV = {
    "GIT_AUTHOR_NAME": "LoomTUI demo",
    "GIT_AUTHOR_EMAIL": "demo@loomtui.invalid",
    "GIT_COMMITTER_NAME": "LoomTUI demo",
    "GIT_COMMITTER_EMAIL": "demo@loomtui.invalid",
    "GIT_CONFIG_NOSYSTEM": "1",
}


def git(cwd: Path, *args: str) -> str:
    env = {**os.environ, **GIT_ENV, "HOME": str(cwd)}
    done = subprocess.run(["git", *args], cwd=cwd, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"git {' '.join(args)} failed in {cwd}: {done.stderr.strip()}")
    return done.stdout


def create_repo(path: Path) -> Path:
    """A repository on `main` with a few files and two commits."""
    path.mkdir(parents=True)
    git(path, "init", "-q", "-b", "main")
    for name, text in FILES.items():
        target = path / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
    git(path, "add", "-A")
    git(path, "commit", "-q", "-m", "Initial shop")
    (path / "src/api/routes.py").write_text("ROUTES = ['/login', '/invoice']\n")
    git(path, "commit", "-q", "-am", "Add routes")
    return path


def add_worktree(repo: Path, root: Path, name: str) -> tuple[Path, str]:
    """A worktree for one agent on its own branch; returns (path, branch)."""
    branch = f"agent/{name}"
    path = root / name
    git(repo, "worktree", "add", "-q", "-b", branch, str(path), "main")
    return path, branch
