"""The `loomtui` command line, run as a real subprocess (`python -m loomtui`) against
real pod directories under `tmp_path`: exit codes, what goes to stdout and stderr,
and the promise of cli.py that errors are one clear sentence, never a traceback."""

from __future__ import annotations

import json
import os
import random
import re
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

import loomtui
from loomtui.config import load_config
from loomtui.store.agents import STATUSES, record_event, upsert_agent
from loomtui.store.db import DB_NAME, connect
from loomtui.store.schema import SCHEMA_VERSION

SUBCOMMANDS = ("demo", "init", "status", "console")


# -- helpers -------------------------------------------------------------------


def base_env(**extra: str | None) -> dict[str, str]:
    """os.environ without LOOM_CONFIG, with LOOM_USER=ana and a UTF-8 stdout;
    keyword arguments set variables, or remove them when None."""
    env = dict(os.environ)
    env.pop("LOOM_CONFIG", None)
    env["LOOM_USER"] = "ana"
    env["PYTHONIOENCODING"] = "utf-8"
    for key, value in extra.items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    return env


def loom(*args: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "loomtui", *args],
        env=env, cwd=cwd, capture_output=True, text=True, encoding="utf-8", timeout=60,
    )


def assert_no_traceback(done: subprocess.CompletedProcess[str]) -> None:
    assert "Traceback" not in done.stdout + done.stderr, done.stderr


def user_version(path: Path) -> int:
    conn = sqlite3.connect(path)
    try:
        return conn.execute("PRAGMA user_version").fetchone()[0]
    finally:
        conn.close()


@pytest.fixture
def pod(tmp_path: Path) -> Path:
    """Where LOOM_HOME points; not created."""
    return tmp_path / "pod"


@pytest.fixture
def env(pod: Path) -> dict[str, str]:
    return base_env(LOOM_HOME=str(pod))


@pytest.fixture
def initialised(pod: Path, env: dict[str, str], tmp_path: Path) -> Path:
    """A pod made by a real `loomtui init`."""
    done = loom("init", env=env, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    return pod


# -- version and help ----------------------------------------------------------


def test_version_prints_name_and_version(env: dict[str, str], tmp_path: Path) -> None:
    """Bug reports and packaging rely on `--version` being one parseable line."""
    done = loom("--version", env=env, cwd=tmp_path)
    assert done.returncode == 0
    assert done.stdout == f"loomtui {loomtui.__version__}\n"
    assert re.fullmatch(r"loomtui \d+\.\d+\.\d+\n", done.stdout)
    assert done.stderr == ""


def test_console_script_matches_module(env: dict[str, str], tmp_path: Path) -> None:
    """The installed `loomtui` entry point is the same program as `python -m loomtui`."""
    script = Path(sys.executable).parent / "loomtui"
    if not script.exists():
        pytest.skip(f"no console script next to {sys.executable}")
    done = subprocess.run([str(script), "--version"], env=env, cwd=tmp_path,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0
    assert done.stdout == f"loomtui {loomtui.__version__}\n"


def test_help_lists_every_command(env: dict[str, str], tmp_path: Path) -> None:
    """`--help` is how a new user discovers the commands."""
    done = loom("--help", env=env, cwd=tmp_path)
    assert done.returncode == 0
    for command in SUBCOMMANDS:
        assert re.search(rf"^\s+{command}\b", done.stdout, re.MULTILINE), (command, done.stdout)


# -- status without a store ----------------------------------------------------


def test_status_without_store_points_at_init(pod: Path, env: dict[str, str], tmp_path: Path) -> None:
    """A first-time user running `status` is told what to do, and nothing is created behind their back."""
    done = loom("status", env=env, cwd=tmp_path)
    assert done.returncode != 0
    assert "loomtui init" in done.stderr
    assert str(pod / DB_NAME) in done.stderr
    assert done.stdout == ""
    assert_no_traceback(done)
    assert not pod.exists()


# -- init ----------------------------------------------------------------------


def test_init_creates_pod_store_and_commented_config(
    pod: Path, env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`init` must leave a usable pod: a migrated store and a config that loads cleanly."""
    done = loom("init", env=env, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert_no_traceback(done)
    assert pod.is_dir()
    assert (pod / DB_NAME).is_file()
    assert user_version(pod / DB_NAME) == SCHEMA_VERSION
    config_file = pod / "config.toml"
    text = config_file.read_text(encoding="utf-8")
    assert str(pod) in done.stdout and str(config_file) in done.stdout
    # Commented: every line is blank, a comment or a table header; no key is set, but
    # one: a new pod expects hooks (issue 14; absent, as in older pods, it is false).
    for line in text.splitlines():
        assert (not line.strip() or line.lstrip().startswith("#") or re.fullmatch(r"\[\w+\]", line.strip())
                or line == "require_hooks = true"), line
    assert sum(line.startswith("#") for line in text.splitlines()) >= 5
    monkeypatch.delenv("LOOM_CONFIG", raising=False)
    config = load_config(pod)
    assert config.warnings == ()
    assert config.path == config_file


def test_second_init_keeps_an_edited_config(initialised: Path, env: dict[str, str], tmp_path: Path) -> None:
    """Re-running `init` must never clobber a supervisor's edits (or the store's contents)."""
    config_file = initialised / "config.toml"
    edited = "# mine\n[console]\nstall_after = 42\n"
    config_file.write_text(edited, encoding="utf-8")
    conn = connect(initialised / DB_NAME)
    upsert_agent(conn, kind="claude", now=time.time(), session_id="keep-me", name="keeper")
    conn.close()

    done = loom("init", env=env, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "kept" in done.stdout
    assert config_file.read_text(encoding="utf-8") == edited
    conn = sqlite3.connect(initialised / DB_NAME)
    assert conn.execute("SELECT name FROM agents").fetchall() == [("keeper",)]
    conn.close()


# -- status with agents --------------------------------------------------------


def add_fleet(pod: Path, now: float, *, stale_for: float = 3600.0) -> None:
    """Agents through the real store API: 2 working, 1 stale working, and one of
    each other status, plus one pending and one decided gate."""
    conn = connect(pod / DB_NAME)
    try:
        specs = [
            ("w1", "working", now - 1),
            ("w2", "working", now - 5),
            ("stale", "working", now - stale_for),
            ("asks", "waiting", now - 2),
            ("resting", "idle", now - 10),
            ("finished", "done", now - 20),
            ("broken", "error", now - 30),
        ]
        for i, (name, status, last) in enumerate(specs):
            agent_id = upsert_agent(conn, kind="claude", now=last - 100, session_id=f"s-{i}", name=name)
            record_event(conn, agent_id, kind="tool", now=last - 50, tool="Read", summary="README.md")
            record_event(conn, agent_id, kind="status", now=last, summary=f"now {status}", status=status)
        asks = conn.execute("SELECT id FROM agents WHERE name = 'asks'").fetchone()[0]
        for status in ("pending", "approved"):
            conn.execute(
                "INSERT INTO gates (agent_id, created_at, expires_at, status, tool, action, summary, risk,"
                " content_hash) VALUES (?, ?, ?, ?, 'Bash', 'git push', 'push', 'high', 'h')",
                (asks, now, now + 600, status),
            )
    finally:
        conn.close()


EXPECTED_COUNTS = {"working": 2, "waiting": 1, "idle": 1, "stalled": 1, "done": 1, "error": 1, "ungoverned": 0}


def test_status_json_on_empty_pod(initialised: Path, env: dict[str, str], tmp_path: Path) -> None:
    """Scripts parse `status --json`: exactly one document, every key, every status present at zero."""
    done = loom("status", "--json", env=env, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)  # json.loads rejects any second document
    assert set(summary) == {"pod", "store", "store_bytes", "store_db_bytes", "store_wal_bytes", "retention",
                            "agents", "by_status", "pending_approvals", "ingest", "service", "access",
                            "notify"}
    assert summary["notify"] == {"outside": False, "failed_last_day": 0, "last_failure": ""}
    assert summary["service"] == {"holder": None, "answering": False,
                                  "socket": str(initialised / "serve.sock")}
    assert summary["access"] == {"shared": False, "group": None, "mode": "0700", "store_mode": "0600",
                                 "readable_by_others": False, "warning": None}
    assert summary["ingest"] == {"transcripts": 0, "bad_lines": 0, "files_with_bad_lines": 0,
                                 "holder": None}
    assert summary["pod"] == str(initialised)
    assert summary["store"] == str(initialised / DB_NAME)
    assert summary["store_bytes"] == (initialised / DB_NAME).stat().st_size > 0
    assert summary["agents"] == 0
    assert summary["by_status"] == dict.fromkeys(STATUSES, 0)
    assert list(summary["by_status"]) == list(STATUSES)
    assert summary["pending_approvals"] == 0
    assert (summary["retention"]["events"]["rows"], summary["retention"]["usage"]["rows"]) == (0, 0)
    assert done.stderr == ""


def test_status_json_counts_agents_and_stalls(initialised: Path, env: dict[str, str], tmp_path: Path) -> None:
    """The counts must match the store, with a silent 'working' agent counted as stalled
    (default stall_after 300 s) and only pending gates counted."""
    add_fleet(initialised, time.time())
    done = loom("status", "--json", env=env, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert summary["agents"] == 7
    assert summary["by_status"] == EXPECTED_COUNTS
    assert sum(summary["by_status"].values()) == summary["agents"]
    assert summary["pending_approvals"] == 1
    assert done.stderr == ""


def test_status_json_stall_follows_config(initialised: Path, env: dict[str, str], tmp_path: Path) -> None:
    """stall_after comes from the pod's config: an agent silent for 100 s is working
    under the default 300 s, stalled under 60 s."""
    add_fleet(initialised, time.time(), stale_for=100)
    first = json.loads(loom("status", "--json", env=env, cwd=tmp_path).stdout)
    assert first["by_status"]["stalled"] == 0 and first["by_status"]["working"] == 3
    (initialised / "config.toml").write_text("[console]\nstall_after = 60\n", encoding="utf-8")
    second = json.loads(loom("status", "--json", env=env, cwd=tmp_path).stdout)
    assert second["by_status"]["stalled"] == 1 and second["by_status"]["working"] == 2


def test_plain_status_prints_pod_and_counts(initialised: Path, env: dict[str, str], tmp_path: Path) -> None:
    """The human summary names the pod and store and shows each non-zero count."""
    add_fleet(initialised, time.time())
    done = loom("status", env=env, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].split() == ["pod", str(initialised)]
    assert lines[1].startswith("store") and str(initialised / DB_NAME) in lines[1]
    assert re.search(r"\(\d+(\.\d)? (B|KiB|MiB): database \d+(\.\d)? (B|KiB|MiB) \+ WAL \d", lines[1])
    assert lines[2].split()[0] == "retention"  # what compaction would free (nothing, in a new pod)
    agents_line = next(line for line in lines if line.startswith("agents"))
    assert agents_line.split()[1] == "7"
    for status, count in EXPECTED_COUNTS.items():
        assert (f"{count} {status}" in agents_line) is (count > 0)
    assert "approvals pending: 1" in done.stdout
    assert done.stderr == ""
    assert_no_traceback(done)


def test_plain_status_on_a_non_utf8_terminal(initialised: Path, tmp_path: Path) -> None:
    """A latin-1 terminal (LANG=en_US.ISO-8859-1) cannot print the status symbols;
    the CLI promises a clear outcome, never a traceback."""
    add_fleet(initialised, time.time())
    env = base_env(LOOM_HOME=str(initialised), PYTHONIOENCODING="latin-1")
    done = subprocess.run([sys.executable, "-m", "loomtui", "status"], env=env, cwd=tmp_path,
                          capture_output=True, timeout=60)
    out, err = done.stdout.decode("latin-1"), done.stderr.decode("latin-1")
    assert "Traceback" not in out + err, err
    assert done.returncode == 0, err
    assert "2 working" in out


# -- damaged and foreign stores ------------------------------------------------


@pytest.mark.parametrize("command", ["status", "init"])
def test_corrupt_store_is_reported_not_crashed(
    initialised: Path, env: dict[str, str], tmp_path: Path, command: str
) -> None:
    """A store full of garbage is named and called corrupt, and left as it is for inspection."""
    store = initialised / DB_NAME
    garbage = random.Random(1234).randbytes(16384)
    store.write_bytes(garbage)
    done = loom(command, env=env, cwd=tmp_path)
    assert done.returncode != 0
    assert str(store) in done.stderr
    assert "corrupt" in done.stderr
    assert_no_traceback(done)
    assert store.read_bytes() == garbage


def test_store_corrupt_past_its_header(initialised: Path, env: dict[str, str], tmp_path: Path) -> None:
    """Corruption inside a table page (valid header, so connect() succeeds) must still be
    one clear sentence naming the file, not a traceback from the first query."""
    add_fleet(initialised, time.time())
    store = initialised / DB_NAME
    conn = sqlite3.connect(store)
    root = conn.execute("SELECT rootpage FROM sqlite_master WHERE name = 'agents'").fetchone()[0]
    page_size = conn.execute("PRAGMA page_size").fetchone()[0]
    conn.close()
    data = bytearray(store.read_bytes())
    start = (root - 1) * page_size
    data[start:start + page_size] = random.Random(99).randbytes(page_size)
    store.write_bytes(bytes(data))

    done = loom("status", env=env, cwd=tmp_path)
    assert_no_traceback(done)
    assert done.returncode != 0
    assert str(store) in done.stderr
    assert "corrupt" in done.stderr


@pytest.mark.parametrize("command", ["status", "init"])
def test_store_from_newer_version_is_refused(pod: Path, env: dict[str, str], tmp_path: Path, command: str) -> None:
    """Never touch a store a newer LoomTUI wrote: refuse, name both versions, leave it as it was."""
    newer = SCHEMA_VERSION + 5
    pod.mkdir()
    store = pod / DB_NAME
    conn = sqlite3.connect(store)
    conn.execute("CREATE TABLE from_the_future (x)")
    conn.execute(f"PRAGMA user_version = {newer}")
    conn.commit()
    conn.close()

    done = loom(command, env=env, cwd=tmp_path)
    assert done.returncode != 0
    assert_no_traceback(done)
    assert str(store) in done.stderr
    assert re.search(rf"\b{newer}\b", done.stderr), done.stderr
    assert re.search(rf"\b{SCHEMA_VERSION}\b", done.stderr), done.stderr
    assert user_version(store) == newer
    conn = sqlite3.connect(store)
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    conn.close()
    assert tables == {"from_the_future"}  # not migrated
    assert not (pod / "config.toml").exists()  # a refused init writes nothing


def test_init_under_a_regular_file_fails_clearly(tmp_path: Path) -> None:
    """A pod path that cannot be created (even as root) gives one sentence naming it."""
    blocker = tmp_path / "file"
    blocker.write_text("not a directory\n")
    target = blocker / "pod"
    env = base_env(LOOM_HOME=str(target))
    done = loom("init", env=env, cwd=tmp_path)
    assert done.returncode != 0
    assert str(target) in done.stderr
    assert done.stderr.startswith("loomtui init: ")
    assert len(done.stderr.strip().splitlines()) == 1
    assert_no_traceback(done)
    assert blocker.read_text() == "not a directory\n"


# -- config problems -----------------------------------------------------------


def test_unknown_config_keys_warn_once_and_are_ignored(initialised: Path, env: dict[str, str], tmp_path: Path) -> None:
    """Typos in config.toml must not stop the CLI: one warning line per unknown key,
    and the known keys beside them still apply."""
    config_file = initialised / "config.toml"
    config_file.write_text(
        "[console]\nstall_after = 10\nstall_afterr = 5\n\n[plugins]\nenabled = true\n",
        encoding="utf-8",
    )
    add_fleet(initialised, time.time(), stale_for=20)  # stalled only if stall_after = 10 applied
    done = loom("status", "--json", env=env, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert_no_traceback(done)
    summary = json.loads(done.stdout)
    assert summary["by_status"]["stalled"] == 1
    warnings = done.stderr.splitlines()
    assert len(warnings) == 2, warnings
    assert sum("stall_afterr" in w for w in warnings) == 1
    assert sum("plugins" in w for w in warnings) == 1
    assert all("warning" in w and str(config_file) in w for w in warnings)


@pytest.mark.parametrize("content", [b"[console\nstall_after = \n", b"[console]\ntheme = \"\xff\xfe\"\n"],
                         ids=["bad-toml", "not-utf8"])
def test_unreadable_config_is_a_clear_error(
    initialised: Path, env: dict[str, str], tmp_path: Path, content: bytes
) -> None:
    """A broken config file is named in a one-line error with a non-zero exit."""
    config_file = initialised / "config.toml"
    config_file.write_bytes(content)
    done = loom("status", env=env, cwd=tmp_path)
    assert done.returncode != 0
    assert str(config_file) in done.stderr
    assert done.stderr.startswith("loomtui status: ")
    assert len(done.stderr.strip().splitlines()) == 1
    assert done.stdout == ""
    assert_no_traceback(done)


# -- demo arguments ------------------------------------------------------------


@pytest.mark.parametrize("count", ["0", "-3", "501"])
def test_demo_refuses_bad_agent_counts(count: str, tmp_path: Path) -> None:
    """`demo --agents` outside 1..500 is refused before any repository or pod is made."""
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    env = base_env(LOOM_HOME=str(tmp_path / "pod"), TMPDIR=str(scratch))
    done = loom("demo", "--agents", count, env=env, cwd=tmp_path)
    assert done.returncode != 0
    assert "--agents" in done.stderr
    assert "between 1 and 500" in done.stderr
    assert_no_traceback(done)
    assert list(scratch.iterdir()) == []
    assert not (tmp_path / "pod").exists()


# -- pod location --------------------------------------------------------------


def test_init_falls_back_to_xdg_data_home(tmp_path: Path) -> None:
    """Without LOOM_HOME the pod lives in $XDG_DATA_HOME/loomtui, and nothing goes to $HOME."""
    home = tmp_path / "home"
    home.mkdir()
    xdg = tmp_path / "xdg"
    env = base_env(LOOM_HOME=None, XDG_DATA_HOME=str(xdg), HOME=str(home))
    done = loom("init", env=env, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert (xdg / "loomtui" / DB_NAME).is_file()
    assert (xdg / "loomtui" / "config.toml").is_file()
    assert list(home.iterdir()) == []
    status = loom("status", "--json", env=env, cwd=tmp_path)
    assert status.returncode == 0, status.stderr
    assert json.loads(status.stdout)["pod"] == str(xdg / "loomtui")


def test_a_reader_that_leaves_early_gets_no_traceback(tmp_path) -> None:
    """`loomtui gates --all | head` (and every other listing): the reader closes the pipe
    early; the command ends quietly with 141, as `cat` would, never a traceback."""
    import os
    import subprocess
    import sys
    import time

    from loomtui.store.db import connect, db_path
    from loomtui.store.gates import create_gate

    pod = tmp_path / "pod"
    conn = connect(db_path(pod))
    now = time.time()
    for n in range(1500):  # far more output than a pipe's buffer holds
        create_gate(conn, agent_id=None, tool="Bash", action={"command": f"make target-{n}"},
                    summary=f"make target-{n} " + "x" * 150, rule="r", risk="low", now=now,
                    expires_at=now + 600)
    conn.close()
    env = {**os.environ, "LOOM_HOME": str(pod)}
    for listing in ("gates --all", "audit export"):
        command = f"{sys.executable} -m loomtui {listing} | head -c 10 >/dev/null; echo ${{PIPESTATUS[0]}}"
        done = subprocess.run(["bash", "-c", command], env=env, capture_output=True, text=True, timeout=120)
        assert "Traceback" not in done.stderr and "BrokenPipe" not in done.stderr, (listing, done.stderr)
        assert done.stdout.strip() == "141", (listing, done.stdout)


@pytest.fixture
def piped_pod(tmp_path: Path, monkeypatch) -> tuple[dict[str, str], str]:
    """A pod with one agent whose worktree has a patch far larger than a pipe holds, a
    memory entry and a few audit entries; the environment to run `loomtui` in, as a person's
    shell runs it: Python's stdout block-buffered into a pipe (no PYTHONUNBUFFERED)."""
    from loomtui.places import locate
    from loomtui.store.db import db_path
    from tests.gitrepos import add_worktree, isolate, make_repo, write

    isolate(monkeypatch, tmp_path / "home")
    repo = make_repo(tmp_path / "shop", {"src/a.py": "a = 1\n"})
    wt = add_worktree(repo, tmp_path / "wt" / "auth", "agent/auth")
    write(wt / "src" / "big.py", "".join(f"value_{i} = {i}  # {'x' * 40}\n" for i in range(4000)))
    pod = tmp_path / "pod"
    conn = connect(db_path(pod))
    place = locate(str(wt))
    upsert_agent(conn, kind="claude", now=time.time(), session_id="s-auth", name="auth-api", cwd=str(wt),
                 repo=place.repo, worktree=place.worktree, branch=place.branch)
    conn.close()
    env = base_env(LOOM_HOME=str(pod), PYTHONUNBUFFERED=None, HOME=str(tmp_path / "home"))
    done = loom("memory", "add", "--kind", "fact", "--body", "never prod", "Use the staging DB", env=env, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    return env, str(tmp_path)


def _quiet_exit(done_code: int, stderr: str, what: str) -> None:
    for noise in ("Traceback", "BrokenPipe", "Broken pipe", "Exception ignored"):
        assert noise not in stderr, (what, stderr)
    assert done_code == 141, (what, done_code, stderr)


def test_a_reader_that_reads_once_then_leaves(piped_pod) -> None:
    """`loomtui diff NAME | head -1`: the reader takes one read of a patch larger than a pipe
    holds and closes its end while the command still writes: exit 141, nothing on stderr."""
    env, cwd = piped_pod
    for argv in (["diff", "auth-api"], ["diff", "auth-api", "--json"]):
        proc = subprocess.Popen([sys.executable, "-m", "loomtui", *argv], env=env, cwd=cwd,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        first = os.read(proc.stdout.fileno(), 4096)
        assert first  # it did write
        proc.stdout.close()
        stderr = proc.stderr.read().decode()
        _quiet_exit(proc.wait(timeout=120), stderr, argv)


@pytest.mark.parametrize("argv", [
    ["diff", "auth-api", "--stat"], ["audit", "export"], ["audit", "export", "--json"], ["audit", "verify"],
    ["gates", "--all"], ["status"], ["status", "--json"], ["memory", "list"], ["usage"],
    ["policy", "check", "--", "ls"], ["--version"], ["--help"]])
def test_a_reader_gone_before_the_first_write(piped_pod, argv) -> None:
    """Output smaller than Python's buffer meets the closed pipe only when flushed: that used
    to be after main returned, where the interpreter printed "Exception ignored ... Broken
    pipe" and exited 120. Every command now ends quietly with 141."""
    env, cwd = piped_pod
    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader has already left
    try:
        done = subprocess.run([sys.executable, "-m", "loomtui", *argv], env=env, cwd=cwd, stdout=write_end,
                              stderr=subprocess.PIPE, text=True, timeout=120)
    finally:
        os.close(write_end)
    _quiet_exit(done.returncode, done.stderr, argv)
