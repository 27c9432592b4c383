"""Installing the real agents for the end-to-end tests.

The tests were verified with the versions pinned in `PINNED`:
`npm install --prefix <cache>/<agent> <package>@<pinned>` when npm is there,
into a cache directory that outlives the test run (so a rerun does not install
~400 MB again): `$LOOMTUI_E2E_CACHE`, else `~/.cache/loomtui-e2e`. A binary of
another version found there is replaced.

`LOOMTUI_E2E_LATEST=1` tries the newest releases instead (`npm view` names
them; installed under <cache>/latest, apart from the pinned ones). A binary may
also be given outright with `$LOOMTUI_E2E_CLAUDE` / `$LOOMTUI_E2E_CODEX`.

`ensure(agent)` returns an `Installed` (the binary, its version, how long the
install took) or a reason to skip, never raises. Under `LOOMTUI_E2E_REQUIRED=1`
(CI) that reason fails the test instead (tests/e2e/conftest.py).
"""

from __future__ import annotations

import fcntl
import os
import re
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

PACKAGES = {"claude": "@anthropic-ai/claude-code", "codex": "@openai/codex"}
# The releases the e2e tests (and docs/security.md's sandbox claims) were verified with.
PINNED = {"claude": "2.1.332", "codex": "0.169.0"}
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


def required() -> bool:
    """CI: every e2e test must run; a would-be skip is a failure with its reason."""
    return os.environ.get("LOOMTUI_E2E_REQUIRED", "") not in ("", "0")


def latest() -> bool:
    return os.environ.get("LOOMTUI_E2E_LATEST", "") not in ("", "0")


def _matches(version: str, wanted: str) -> bool:
    return re.search(rf"(?<![\d.]){re.escape(wanted)}(?![\d.])", version) is not None


def _newest(npm: str, package: str) -> str | None:
    """The newest release npm serves (`npm view <package> version`), or None."""
    try:
        done = subprocess.run([npm, "view", package, "version", "--no-update-notifier"],
                              capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired):
        return None
    version = done.stdout.strip().splitlines()[-1].strip() if done.stdout.strip() else ""
    return version if done.returncode == 0 and re.fullmatch(r"[\w.+-]+", version) else None


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
        if required() and not latest() and not _matches(version, PINNED[agent]):
            return (f"${'LOOMTUI_E2E_' + agent.upper()} = {given} is {version}; the tests are "
                    f"verified with {PINNED[agent]} (unset it to install that one)")
        return Installed(agent, binary, version, None)

    npm = shutil.which("npm")
    if latest():
        if npm is None:
            return "LOOMTUI_E2E_LATEST is set but npm is not installed"
        wanted = _newest(npm, PACKAGES[agent])
        if wanted is None:
            return f"`npm view {PACKAGES[agent]} version` failed (is the npm registry reachable?)"
        prefix = cache_root() / "latest" / agent
    else:
        wanted = PINNED[agent]
        prefix = cache_root() / agent
    spec = f"{PACKAGES[agent]}@{wanted}"
    binary = prefix / "node_modules" / ".bin" / agent
    if binary.exists():
        version = _version(binary)
        if version is not None and _matches(version, wanted):
            return Installed(agent, binary, version, None)
    if npm is None:
        return (f"npm is not installed, so the real {agent} CLI ({spec}) cannot be "
                f"installed; install Node.js + npm, or set $LOOMTUI_E2E_{agent.upper()} to the "
                f"binary")
    try:
        prefix.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        return f"cannot create the install cache {prefix}: {exc}"

    # One installer at a time per cache (parallel test workers, two checkouts).
    with open(prefix.parent / f".{agent}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if binary.exists() and (version := _version(binary)) is not None \
                and _matches(version, wanted):
            return Installed(agent, binary, version, None)
        started = time.monotonic()
        try:
            # --save-exact keeps the prefix's package.json from pinning a range next time.
            done = subprocess.run(
                [npm, "install", "--prefix", str(prefix), "--no-audit", "--no-fund",
                 "--no-update-notifier", "--save-exact", spec],
                capture_output=True, text=True, timeout=INSTALL_TIMEOUT, stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired:
            return f"`npm install {spec}` took longer than {INSTALL_TIMEOUT:.0f} s"
        except OSError as exc:
            return f"`npm install {spec}` could not start: {exc}"
        took = time.monotonic() - started
        if done.returncode != 0:
            lines = [ln for ln in (done.stderr or done.stdout).splitlines() if ln.strip()]
            errors = [ln for ln in lines if ln.startswith(("npm error", "npm ERR!"))]
            tail = "\n".join((errors or lines)[:4])  # npm puts the error code first
            return (f"`npm install {spec}` failed (exit {done.returncode}; is the npm "
                    f"registry reachable?):\n{tail}")
        version = _version(binary) if binary.exists() else None
        if version is None:
            return (f"`npm install {spec}` finished but {binary} does not run "
                    f"(`--version` failed); the platform binary may be missing")
        if not _matches(version, wanted):
            return f"`npm install {spec}` finished but {binary} says it is {version}"
        return Installed(agent, binary, version, took)
