"""A real git repository with one real worktree per simulated agent, and the
one git command the simulated agents run for real: `git commit`."""

from __future__ import annotations

import logging
import os
import subprocess
from collections.abc import Sequence
from pathlib import Path

log = logging.getLogger(__name__)

# Every path the simulated agents' areas name (sim.scenario.AREAS) is here, with a few
# lines of code, so that their edits show as modifications with real +/- lines.
FILES = {
    "README.md": (
        "# shop\n\n"
        "A small web shop the demo agents work on.\n\n"
        "## Development\n\n"
        "Run the tests with `pytest -q`.\n"
    ),
    "src/auth/login.py": (
        "from src.auth.session import SESSIONS, new_session\n\n"
        "MAX_ATTEMPTS = 5\n\n\n"
        "def login(user, password):\n"
        "    if not user or not password:\n"
        "        return None\n"
        "    if user != 'admin':\n"
        "        return None\n"
        "    return new_session(user)\n\n\n"
        "def logout(token):\n"
        "    SESSIONS.pop(token, None)\n"
    ),
    "src/auth/session.py": (
        "import secrets\n"
        "import time\n\n"
        "SESSIONS = {}\n"
        "TTL = 3600\n\n\n"
        "def new_session(user):\n"
        "    token = secrets.token_hex(16)\n"
        "    SESSIONS[token] = (user, time.time() + TTL)\n"
        "    return token\n\n\n"
        "def current_user(token):\n"
        "    user, expires = SESSIONS.get(token, (None, 0))\n"
        "    return user if expires > time.time() else None\n"
    ),
    "src/billing/invoice.py": (
        "from src.billing.tax import tax_for\n\n\n"
        "def subtotal(lines):\n"
        "    return sum(line.price * line.quantity for line in lines)\n\n\n"
        "def total(lines, country='GB'):\n"
        "    amount = subtotal(lines)\n"
        "    return amount + tax_for(amount, country)\n"
    ),
    "src/billing/tax.py": (
        "RATE = 0.2\n"
        "RATES = {'GB': 0.2, 'DE': 0.19, 'FR': 0.2}\n\n\n"
        "def tax_for(amount, country):\n"
        "    rate = RATES.get(country, RATE)\n"
        "    return round(amount * rate, 2)\n"
    ),
    "src/search/index.py": (
        "def tokens(text):\n"
        "    return text.lower().split()\n\n\n"
        "def index(docs):\n"
        "    found = {}\n"
        "    for doc in docs:\n"
        "        for token in tokens(doc.text):\n"
        "            found.setdefault(token, set()).add(doc.id)\n"
        "    return found\n\n\n"
        "def search(found, query):\n"
        "    hits = [found.get(token, set()) for token in tokens(query)]\n"
        "    return set.intersection(*hits) if hits else set()\n"
    ),
    "src/api/routes.py": (
        "from src.auth.login import login\n"
        "from src.billing.invoice import total\n\n"
        "ROUTES = []\n"
        "PAGE_SIZE = 20\n\n\n"
        "def route(path):\n"
        "    def register(handler):\n"
        "        ROUTES.append((path, handler))\n"
        "        return handler\n"
        "    return register\n"
    ),
    "migrations/0001_init.sql": (
        "CREATE TABLE users (id INTEGER PRIMARY KEY, email TEXT NOT NULL UNIQUE);\n"
        "CREATE TABLE invoices (id INTEGER PRIMARY KEY, user_id INTEGER REFERENCES users (id));\n"
    ),
    "tests/test_login.py": (
        "from src.auth.login import login\n\n\n"
        "def test_login_needs_a_password():\n"
        "    assert login('admin', '') is None\n\n\n"
        "def test_unknown_user():\n"
        "    assert login('mallory', 'secret') is None\n"
    ),
    "tests/test_invoice.py": (
        "from collections import namedtuple\n\n"
        "from src.billing.invoice import subtotal\n\n"
        "Line = namedtuple('Line', 'price quantity')\n\n\n"
        "def test_subtotal():\n"
        "    assert subtotal([Line(2.0, 3), Line(1.5, 2)]) == 9.0\n"
    ),
}

# Room for many agents in one file: small sections (helpers, notes) that the agents'
# edits can land between. Two agents that change one file in different sections merge
# cleanly (an overlap); only the same spot conflicts (see sim/edits.py).
SECTIONS = 30


def _sections(path: str, count: int = SECTIONS) -> str:
    """The sections appended to one of FILES."""
    stem = path.rsplit("/", 1)[-1].split(".")[0]
    if path.endswith(".py"):
        return "".join(f"\n\ndef {stem}_step_{i}(value):\n    return value + {i}\n"
                       for i in range(1, count + 1))
    if path.endswith(".md"):
        return "".join(f"\n## Part {i}\n\nStep {i} of the setup.\n" for i in range(1, count + 1))
    if path.endswith(".sql"):
        return "".join(f"-- step {i}\n" for i in range(1, count + 1))
    return ""


GIT_ENV = {
    "GIT_AUTHOR_NAME": "LoomTUI demo",
    "GIT_AUTHOR_EMAIL": "demo@loomtui.invalid",
    "GIT_COMMITTER_NAME": "LoomTUI demo",
    "GIT_COMMITTER_EMAIL": "demo@loomtui.invalid",
    "GIT_CONFIG_NOSYSTEM": "1",
}
# Variables that would point git at another repository or index than the worktree named.
_STRIP = ("GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE", "GIT_COMMON_DIR", "GIT_OBJECT_DIRECTORY",
          "GIT_NAMESPACE", "GIT_PREFIX")
COMMIT_TIMEOUT = 10.0


def git(cwd: Path, *args: str) -> str:
    env = {**os.environ, **GIT_ENV, "HOME": str(cwd)}
    done = subprocess.run(["git", *args], cwd=cwd, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"git {' '.join(args)} failed in {cwd}: {done.stderr.strip()}")
    return done.stdout


def create_repo(path: Path, extra: dict[str, str] | None = None, *, sections: int = SECTIONS) -> Path:
    """A repository on `main` with a few files (and `extra` ones) and two commits.
    `sections`: per file, at least one per agent, so each has its own."""
    path.mkdir(parents=True)
    git(path, "init", "-q", "-b", "main")
    files = {name: text + _sections(name, sections) for name, text in FILES.items()}
    for name, text in {**files, **(extra or {})}.items():
        target = path / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
    git(path, "add", "-A")
    git(path, "commit", "-q", "-m", "Initial shop")
    routes = path / "src/api/routes.py"
    routes.write_text(routes.read_text().replace("ROUTES = []\n", "ROUTES = ['/login', '/invoice']\n"))
    git(path, "commit", "-q", "-am", "Add routes")
    return path


def add_worktree(repo: Path, root: Path, name: str) -> tuple[Path, str]:
    """A worktree for one agent on its own branch; returns (path, branch)."""
    branch = f"agent/{name}"
    path = root / name
    git(repo, "worktree", "add", "-q", "-b", branch, str(path), "main")
    return path, branch


def agent_git(worktree: Path, args: Sequence[str], *, name: str, when: float | None = None) -> bool:
    """Run one git command of a simulated agent (`commit -am ...`) in its worktree,
    as that agent, with no user or system config; whether it succeeded. Never
    raises: a failure (nothing to commit, a lock held by a concurrent git) is logged."""
    email = f"{name or 'agent'}@agents.loomtui.invalid"
    env = {k: v for k, v in os.environ.items() if k not in _STRIP}
    env.update(GIT_CONFIG_NOSYSTEM="1", GIT_CONFIG_GLOBAL=os.devnull, GIT_OPTIONAL_LOCKS="0",
               GIT_TERMINAL_PROMPT="0", GIT_AUTHOR_NAME=name, GIT_AUTHOR_EMAIL=email,
               GIT_COMMITTER_NAME=name, GIT_COMMITTER_EMAIL=email)
    if when is not None:  # the simulation's clock, so a fake clock makes fake dates
        env["GIT_AUTHOR_DATE"] = env["GIT_COMMITTER_DATE"] = f"@{int(when)} +0000"
    command = ["git", "-c", f"user.name={name}", "-c", f"user.email={email}", "-c", "commit.gpgsign=false",
               "-c", "core.hooksPath=" + os.devnull, *args]
    try:
        done = subprocess.run(command, check=False, cwd=worktree, env=env, stdin=subprocess.DEVNULL,
                              capture_output=True, text=True, timeout=COMMIT_TIMEOUT)
    except (OSError, subprocess.SubprocessError) as exc:
        log.debug("simulated git %s in %s: %s", " ".join(args), worktree, exc)
        return False
    if done.returncode != 0:
        log.debug("simulated git %s in %s: %s", " ".join(args), worktree,
                  (done.stderr or done.stdout).strip())
    return done.returncode == 0
