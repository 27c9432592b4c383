"""What several benchmarks share: a regular (non-editable) install of a commit in
a temporary venv, the commits a run measured, and `loomtui serve` started for a
pod and stopped again.

Not a benchmark: `bench/gates.py` and `bench/fleet.py` import it (a script's own
directory is on sys.path).
"""

from __future__ import annotations

import os
import shlex
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SERVE_READY_TIMEOUT = 60.0


def git(*argv: str, cwd: Path = ROOT) -> str:
    done = subprocess.run(["git", *argv], cwd=cwd, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"git {' '.join(argv)}: {done.stderr.strip()}")
    return done.stdout.strip()


def checkout_commit() -> str:
    """This checkout's commit, `+dirty` when it has uncommitted changes (the
    benchmark's own code may then differ from what the commit says)."""
    head = git("rev-parse", "--short=10", "HEAD")
    dirty = subprocess.run(["git", "diff", "--quiet", "HEAD"], cwd=ROOT).returncode != 0
    return head + ("+dirty" if dirty else "")


@dataclass
class Install:
    """A `loomtui` console script and the interpreter it runs on."""

    script: str
    python: str
    commit: str  # what was installed ("?" for an install given by path)
    built: bool  # made by this run (else given with --loomtui or reused)


def script_python(script: str) -> str:
    """The interpreter of a console script (its #! line): the install's own Python."""
    with open(script, "rb") as f:
        first = f.readline().decode(errors="replace")
    argv = shlex.split(first[2:]) if first.startswith("#!") else []
    if not argv or not os.access(argv[0], os.X_OK):
        raise SystemExit(f"{script}: not a console script with a #! line naming its Python")
    return argv[0]


def regular_install(rev: str, where: Path, python: str = sys.executable) -> Install:
    """`pip install <export of rev>` (not editable: an editable install pays other
    import costs) into the venv `where/venv`, made with `python`; reused when that
    venv already holds the same commit (`where/commit`)."""
    commit = git("rev-parse", "--verify", f"{rev}^{{commit}}")
    venv, stamp = where / "venv", where / "commit"
    script = venv / "bin" / "loomtui"
    if stamp.exists() and stamp.read_text().strip() == commit and script.exists():
        return Install(str(script), script_python(str(script)), commit[:10], built=False)
    where.mkdir(parents=True, exist_ok=True)
    source = where / "src"
    subprocess.run(["rm", "-rf", str(source), str(venv)], check=True)
    source.mkdir()
    archive = subprocess.run(["git", "archive", commit], cwd=ROOT, capture_output=True, check=True)
    subprocess.run(["tar", "-x", "-C", str(source)], input=archive.stdout, check=True)
    subprocess.run([python, "-m", "venv", str(venv)], check=True)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    done = subprocess.run([str(venv / "bin" / "pip"), "install", "-q", "--disable-pip-version-check",
                           str(source)], capture_output=True, text=True, env=env)
    if done.returncode != 0:
        raise SystemExit(f"pip install of {commit[:10]} failed:\n{done.stderr[-2000:]}")
    stamp.write_text(commit + "\n")
    return Install(str(script), script_python(str(script)), commit[:10], built=True)


def given_install(script: str) -> Install:
    script = os.path.abspath(script)  # the bench runs it from other directories
    if not os.access(script, os.X_OK):
        raise SystemExit(f"{script} is not an executable")
    python = script_python(script)
    done = subprocess.run([python, "-c", "import loomtui, sys; sys.stdout.write(loomtui.__file__)"],
                          capture_output=True, text=True, cwd="/")  # not a checkout's loomtui in the cwd
    return Install(script, python, f"? ({done.stdout.strip() or 'loomtui not importable'})", built=False)


def has_command(argv: list[str], command: str, env: dict[str, str] | None = None) -> bool:
    """Whether this `loomtui` knows `command` (its `--help` exits 0; argparse
    refuses an unknown command with exit 2)."""
    done = subprocess.run([*argv, command, "--help"], capture_output=True, env=env, timeout=60)
    return done.returncode == 0


def cpu_seconds(pid: int) -> float:
    """user + system time of a live process and of its reaped children, from
    /proc/<pid>/stat (fields 14-17, in clock ticks)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    ticks = sum(int(x) for x in fields[11:15])  # utime stime cutime cstime
    return ticks / os.sysconf("SC_CLK_TCK")


class Service:
    """`loomtui serve` for one pod, in the foreground as a child: ready when
    `<pod>/serve.sock` accepts a connection; stopped with SIGTERM (SIGKILL after
    10 s)."""

    def __init__(self, argv: list[str], pod: Path, env: dict[str, str], log: Path) -> None:
        self.argv, self.pod, self.log = argv, pod, log
        self.socket = pod / "serve.sock"
        self.env = dict(env, LOOM_HOME=str(pod))
        self.proc: subprocess.Popen | None = None
        self.ready_s = 0.0
        self.exit_code: int | None = None

    def start(self) -> Service:
        started = time.monotonic()
        with open(self.log, "ab") as err:
            self.proc = subprocess.Popen([*self.argv, "serve"], stdin=subprocess.DEVNULL,
                                         stdout=err, stderr=err, env=self.env, cwd=self.pod)
        deadline = started + SERVE_READY_TIMEOUT
        while not self.answers():
            if self.proc.poll() is not None:
                raise RuntimeError(f"`loomtui serve` exited {self.proc.returncode} before its socket "
                                   f"answered:\n{self.log.read_text(errors='replace')[-1500:]}")
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"{self.socket} did not accept a connection within {SERVE_READY_TIMEOUT:g} s")
            time.sleep(0.02)
        self.ready_s = time.monotonic() - started
        return self

    def answers(self) -> bool:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(1.0)
            try:
                s.connect(str(self.socket))
            except OSError:
                return False
        return True

    def cpu(self) -> float:
        assert self.proc is not None
        return cpu_seconds(self.proc.pid)

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            self.exit_code = None if self.proc is None else self.proc.returncode
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.exit_code = self.proc.returncode
