"""Running the real ccusage (the reference our token counts must equal) from tests and
benchmarks."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

CCUSAGE_CACHE = Path(os.environ.get("LOOMTUI_E2E_CACHE",
                                    Path.home() / ".cache" / "loomtui-e2e")) / "ccusage"
# ccusage's JS entry only launches a native build from an optional package of the same
# version; 20.0.26's linux-x64 build was missing from the registry, so pin a known pair.
CCUSAGE_VERSION = os.environ.get("LOOMTUI_CCUSAGE_VERSION", "20.0.24")


def _ccusage_runs(binary: Path) -> bool:
    try:
        done = subprocess.run([str(binary), "--version"], capture_output=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return done.returncode == 0


def ccusage_binary() -> Path:
    """ccusage, installed with npm into the e2e cache when missing; skips (with the reason)
    when it cannot be had."""
    override = os.environ.get("LOOMTUI_CCUSAGE")
    if override:
        return Path(override)
    binary = CCUSAGE_CACHE / "node_modules" / ".bin" / "ccusage"
    if binary.exists() and _ccusage_runs(binary):
        return binary
    npm = shutil.which("npm")
    if npm is None:
        pytest.skip("npm is not installed, so ccusage cannot be installed for the comparison "
                    "test; install Node.js + npm or set $LOOMTUI_CCUSAGE to a ccusage binary")
    CCUSAGE_CACHE.mkdir(parents=True, exist_ok=True)
    try:
        done = subprocess.run([npm, "install", "--prefix", str(CCUSAGE_CACHE), "--no-audit",
                               "--no-fund", f"ccusage@{CCUSAGE_VERSION}"],
                              capture_output=True, text=True, timeout=120)
    except (OSError, subprocess.TimeoutExpired) as exc:
        pytest.skip(f"`npm install ccusage@{CCUSAGE_VERSION}` did not finish: {exc}")
    if done.returncode != 0:
        tail = "\n".join((done.stderr or done.stdout).splitlines()[:4])
        pytest.skip(f"`npm install ccusage@{CCUSAGE_VERSION}` failed (is the registry "
                    f"reachable?): {tail}")
    if not _ccusage_runs(binary):
        pytest.skip(f"ccusage@{CCUSAGE_VERSION} installed but does not run (its native "
                    f"optional package @ccusage/ccusage-linux-x64 may be missing)")
    return binary


def run_ccusage(binary: Path, tmp: Path, agent: str, env: dict[str, str],
                report: str = "session") -> dict:
    """`ccusage AGENT REPORT --json --offline` with only `env` pointing at transcripts."""
    home = tmp / "home"
    home.mkdir(exist_ok=True)
    full = {"PATH": os.environ.get("PATH", ""), "HOME": str(home),
            "XDG_CONFIG_HOME": str(home / ".config"), **env}
    done = subprocess.run([str(binary), agent, report, "--json", "--offline"],
                          capture_output=True, text=True, timeout=60, env=full)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)
