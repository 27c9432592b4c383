"""bench/gates.py still runs: the hook read back from what `init claude` wrote,
unserved and served (the real `loomtui serve` of this checkout, started and
stopped by the bench), an install without `serve` (a stand-in that refuses the
command as an older loomtui does) measured unserved only, and the load
generator, at sizes that take seconds. The figures themselves are not checked:
they are the bench's output."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "bench" / "gates.py"

# A console script of a loomtui before `serve`: argparse refuses the command (exit
# 2); every other command is the real loomtui of this interpreter.
NO_SERVE = """#!{python}
import sys
if sys.argv[1:2] == ["serve"]:
    sys.stderr.write("loomtui: error: argument COMMAND: invalid choice: 'serve'\\n")
    sys.exit(2)
from loomtui.cli import main
sys.exit(main())
"""


def console_script(tmp_path: Path, served: bool) -> str:
    script = Path(sys.executable).with_name("loomtui")
    assert script.exists(), f"no loomtui console script beside {sys.executable}"
    if served:
        return str(script)
    stand_in = tmp_path / "bin" / "loomtui"
    stand_in.parent.mkdir()
    stand_in.write_text(NO_SERVE.format(python=sys.executable))
    stand_in.chmod(0o755)
    return str(stand_in)


def bench(*argv: str) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LOOM_")}
    done = subprocess.run([sys.executable, str(BENCH), *argv], capture_output=True, text=True, env=env,
                          cwd=ROOT, timeout=240)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    return done.stdout


def row(out: str, label: str) -> list[str]:
    line = next((line for line in out.splitlines() if line.strip().startswith(label)), None)
    assert line is not None, f"no row {label!r} in:\n{out}"
    return line.strip()[len(label):].split()


def test_hook_cost_reads_init_command_and_runs_both_modes(tmp_path):
    script = console_script(tmp_path, served=True)
    out = bench("--runs", "2", "--trips", "1", "--loomtui", script)
    # The command is the one init wrote, not one the bench made up.
    settings = out.split("unserved PreToolUse hook, as init wrote it: ", 1)[1].split("\n", 1)[0]
    assert "claude" in settings and sys.executable.rsplit("/", 1)[0] in settings, out
    for name in ("unserved: PreToolUse", "unserved: PostToolUse", "served: PreToolUse", "served: PostToolUse",
                 "bare: python3 -c 'import sqlite3, json'", "bare: python3 -c pass"):
        cells = row(out, name)
        assert float(cells[0]) > 0, (name, cells)  # p50 wall ms
    assert "served: service exit status after SIGTERM:" in out, out
    assert "served: not measured" not in out, out
    assert "target CPU per served hook" in out, out
    assert "approval round trip, unserved" in out, out


def test_no_serve_command_means_no_served_mode(tmp_path):
    out = bench("--runs", "1", "--trips", "0", "--loomtui", console_script(tmp_path, served=False))
    assert "served: not measured" in out, out
    assert row(out, "unserved: PreToolUse"), out
    assert not any(line.strip().startswith("served: PreToolUse") for line in out.splitlines()), out


def test_load_generator_completes_every_offered_call(tmp_path):
    script = console_script(tmp_path, served=True)
    out = bench("--load", "--seconds", "1", "--rate", "4", "--sessions", "3", "--loomtui", script)
    offered, dropped, completed, failed = (row(out, label) for label in (
        "tool calls offered", "dropped (over max in flight)", "completed", "failed hooks"))
    assert offered == ["4", "4"], out  # unserved, served
    assert dropped == ["0", "0"] and completed == ["4", "4"] and failed == ["0", "0"], out
    service = row(out, "service CPU % core")
    assert service[0] == "—" and float(service[1]) >= 0, out  # unserved has no service, served has
