"""Lint as part of the suite: `ruff check` (the rules in pyproject's [tool.ruff]: pyflakes,
isort, bugbear, pyupgrade, pycodestyle's errors) over the package, the tests and the
benchmarks, with the ruff pinned in the test extra. Run by `.ci/run` like every test."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def ruff() -> list[str]:
    beside = Path(sys.executable).with_name("ruff")  # the venv's own, pinned
    found = str(beside) if beside.exists() else shutil.which("ruff")
    assert found, "ruff is not installed: pip install '.[test]' pins it"
    return [found]


def test_ruff_finds_nothing() -> None:
    result = subprocess.run([*ruff(), "check", "--no-cache", "loomtui", "tests", "bench"],
                            cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr


def test_ruff_would_see_a_fault(tmp_path: Path) -> None:
    """The check can fail: the same configuration flags an unused import and unsorted imports."""
    bad = tmp_path / "bad.py"
    bad.write_text("import sys\nimport os\n")
    result = subprocess.run([*ruff(), "check", "--no-cache", "--config", str(ROOT / "pyproject.toml"), str(bad)],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 1 and "F401" in result.stdout and "I001" in result.stdout, result.stdout
