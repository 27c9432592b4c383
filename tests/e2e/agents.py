"""Installing the real agents for the end-to-end tests.

`npm install --prefix <cache>/<agent> <package>` when npm is there, into a cache
directory that outlives the test run (so a rerun does not install ~400 MB
again): `$LOOMTUI_E2E_CACHE`, else `~/.cache/loomtui-e2e`. A binary may also be
given outright with `$LOOMTUI_E2E_CLAUDE` / `$LOOMTUI_E2E_CODEX`.

`ensure(agent)` returns an `Installed` (the binary, its version, how long the
install took) or a reason to skip, never raises.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

PACKAGES = {"claude": "@anthropic-ai/claude-code", "codex": "@openai/codex"}
INSTALL_TIMEOUT = 900.0  # seconds; each package is ~400 MB


@dataclass(frozen=True)
class Installed:
    agent: str
    binary: Path
    version: str
    install_seconds: float | None  # None: found already installed


def cache_root() -> Path:
    configured = os.environ.get("LOOMTUI_E2E_CACHE")
    if configured:
        return Path(configured).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "loomtui-e2e"


def _version(binary: Path) -> str | None:
    # Keep the agents out of the user's own ~/.claude and ~/.codex even here.
    home = cache_root() / "home"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ANTHROPIC_", "OPENAI_"))}
    env.update(CLAUDE_CONFIG_DIR=str(home / "claude"), CODEX_HOME=str(home / "codex"),
               DISABLE_AUTOUPDATER="1", DISABLE_TELEMETRY="1", DISABLE_ERROR_REPORTING="1",
               CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC="1")
    try:
        (home / "claude").mkdir(parents=True, exist_ok=True)
        (home / "codex").mkdir(parents=True, exist_ok=True)
        done = subprocess.run([str(binary), "--version"], capture_output=True, text=True,
                              timeout=60, stdin=subprocess.DEVNULL, env=env)
    except (OSError, subprocess.TimeoutExpired):
        return None
    if done.returncode != 0:
        return None
    return (done.stdout.strip() or done.stderr.strip()).splitlines()[-1] if (
        done.stdout.strip() or done.stderr.strip()) else "unknown"


def ensure(agent: str) -> Installed | str:
    """The agent's binary, installing it if need be; a string is the reason to skip."""
    if agent not in PACKAGES:
        return f"unknown agent {agent!r}"
    given = os.environ.get(f"LOOMTUI_E2E_{agent.upper()}")
    if given:
        binary = Path(given)
        version = _version(binary)
        if version is None:
            return f"${'LOOMTUI_E2E_' + agent.upper()} = {given} does not run (`--version` failed)"
        return Installed(agent, binary, version, None)

    npm = shutil.which("npm")
    prefix = cache_root() / agent
    binary = prefix / "node_modules" / ".bin" / agent
    if binary.exists():
        version = _version(binary)
        if version is not None:
            return Installed(agent, binary, version, None)
    if npm is None:
        return (f"npm is not installed, so the real {agent} CLI ({PACKAGES[agent]}) cannot be "
                f"installed; install Node.js + npm, or set $LOOMTUI_E2E_{agent.upper()} to the "
                f"binary")
    try:
        prefix.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        return f"cannot create the install cache {prefix}: {exc}"

    # One installer at a time per cache (parallel test workers, two checkouts).
    with open(prefix.parent / f".{agent}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if binary.exists() and (version := _version(binary)) is not None:
            return Installed(agent, binary, version, None)
        started = time.monotonic()
        try:
            done = subprocess.run(
                [npm, "install", "--prefix", str(prefix), "--no-audit", "--no-fund",
                 "--no-update-notifier", PACKAGES[agent]],
                capture_output=True, text=True, timeout=INSTALL_TIMEOUT, stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired:
            return f"`npm install {PACKAGES[agent]}` took longer than {INSTALL_TIMEOUT:.0f} s"
        except OSError as exc:
            return f"`npm install {PACKAGES[agent]}` could not start: {exc}"
        took = time.monotonic() - started
        if done.returncode != 0:
            lines = [ln for ln in (done.stderr or done.stdout).splitlines() if ln.strip()]
            errors = [ln for ln in lines if ln.startswith(("npm error", "npm ERR!"))]
            tail = "\n".join((errors or lines)[:4])  # npm puts the error code first
            return (f"`npm install {PACKAGES[agent]}` failed (exit {done.returncode}; is the npm "
                    f"registry reachable?):\n{tail}")
        version = _version(binary) if binary.exists() else None
        if version is None:
            return (f"`npm install {PACKAGES[agent]}` finished but {binary} does not run "
                    f"(`--version` failed); the platform binary may be missing")
        return Installed(agent, binary, version, took)
