"""The ingester: transcripts into the store, restart-safe, with
the lease that keeps it to one per pod. Real files, a real SQLite store, real processes
for the kill -9 and takeover cases."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from loomtui.config import Config
from loomtui.ingest.claude import ClaudeSession, dedupe
from loomtui.ingest.codex import CodexRollout
from loomtui.ingest.ingester import Ingester
from loomtui.ingest.pricing import PriceTable
from loomtui.ingest.service import IngestService
from loomtui.ingest.sources import Roots, Source, classify, default_roots, discover, session_of
from loomtui.store import leases
from loomtui.store.agents import upsert_agent
from loomtui.store.db import connect, db_path
from tests.test_ingest_parsers import META, TURN, _claude_corpus, _codex_corpus, assistant, token_count, usage
from tests.waiting import wait_for

ROOT = Path(__file__).resolve().parents[1]
CORPUS_NOW = 1795168800.0  # 2026-11-20 10:00 UTC: the generated corpora are "recent"


def totals(conn, where: str = "", args=()) -> dict[str, list[int]]:
    return {sid: [i, o, w, r] for sid, i, o, w, r in conn.execute(
        "SELECT session_id, sum(input_tokens), sum(output_tokens), sum(cache_write_tokens), "
        f"sum(cache_read_tokens) FROM usage {where} GROUP BY session_id", args)}


def parsed_totals(claude: dict[str, list[str]] | None = None, codex: dict[str, list[str]] | None = None):
    records = []
    for rel, lines in (claude or {}).items():
        s = ClaudeSession(Path(rel).stem)
        records += [r for r in map(s.feed, lines) if r is not None]
    records = dedupe(records)
    for name, lines in (codex or {}).items():
        c = CodexRollout(name)
        records += [r for r in map(c.feed, lines) if r is not None]
    out: dict[str, list[int]] = {}
    for r in records:
        t = out.setdefault(r.session_id, [0, 0, 0, 0])
        t[0] += r.input_tokens
        t[1] += r.output_tokens
        t[2] += r.cache_write_tokens
        t[3] += r.cache_read_tokens
    return out


@pytest.fixture
def roots(tmp_path: Path) -> Roots:
    return Roots((tmp_path / "claude",), (tmp_path / "codex",))


@pytest.fixture
def conn(tmp_path: Path):
    c = connect(tmp_path / "pod" / "loom.db")
    yield c
    c.close()


def ingester(conn, roots, **kw) -> Ingester:
    return Ingester(conn, roots, PriceTable.load(None), clock=lambda: CORPUS_NOW, **kw)


def test_sources_follow_the_documented_layouts(tmp_path: Path) -> None:
    env = {"HOME": str(tmp_path), "CLAUDE_CONFIG_DIR": f"{tmp_path}/a, {tmp_path}/b"}
    roots = default_roots(env)
    assert roots.claude == (tmp_path / "a", tmp_path / "b")
    assert roots.codex == (tmp_path / ".codex",)
    plain = default_roots({"HOME": str(tmp_path)}, codex_extra=[str(tmp_path / "x")])
    assert plain.claude == (tmp_path / ".claude", tmp_path / ".config" / "claude")
    assert plain.codex == (tmp_path / ".codex", tmp_path / "x")
    sub = f"{tmp_path}/a/projects/-srv/5b1f/subagents/agent-1.jsonl"
    assert classify(sub, roots) == Source("claude", sub)
    assert session_of(Source("claude", sub)) == "5b1f"
    sid = "0199aaaa-0000-7000-8000-000000000001"
    flat = f"{tmp_path}/.codex/sessions/2026/11/20/rollout-2026-11-20T09-20-00-{sid}.jsonl"
    nested = f"{tmp_path}/.codex/sessions/2026/11/20/rollout-2026-11-20T09-20-00-{sid}/rollout.jsonl"
    assert classify(flat, roots).agent == classify(nested, roots).agent == "codex"
    assert session_of(Source("codex", flat)) == session_of(Source("codex", nested)) == sid
    assert classify(f"{tmp_path}/.codex/sessions/notes.jsonl", roots) is None
    assert classify(f"{tmp_path}/a/projects/x/y.json", roots) is None


def test_catch_up_stores_exactly_what_the_parsers_count_and_a_second_pass_adds_nothing(
        conn, roots) -> None:
    claude = _claude_corpus(roots.claude[0] / "projects")
    codex = _codex_corpus(roots.codex[0] / "sessions")
    ing = ingester(conn, roots)
    done = ing.catch_up()
    assert done.files == len(claude) + len(codex) and done.bad_lines == 0 and not done.errors
    expected = parsed_totals(claude, {n: lines for n, lines in codex.items()})
    assert totals(conn) == expected
    again = ingester(conn, roots).catch_up()  # a restarted ingester: offsets from the store
    assert again.records == 0
    assert totals(conn) == expected


def test_a_partial_last_line_waits_for_its_newline(conn, roots) -> None:
    path = roots.claude[0] / "projects" / "-srv-app" / "s1.jsonl"
    path.parent.mkdir(parents=True)
    line = assistant(mid="m1", rid="r1", sid="s1")
    path.write_text(line[:40])
    ing = ingester(conn, roots)
    ing.catch_up()
    assert totals(conn) == {}
    with path.open("a") as f:
        f.write(line[40:] + "\n")
    ing.catch_up()
    assert totals(conn) == {"s1": [12, 96, 1830, 40211]}
    offset = conn.execute("SELECT offset FROM ingest_offsets").fetchone()[0]
    assert offset == path.stat().st_size


def test_small_chunks_and_restarts_count_as_one_pass(conn, roots, tmp_path: Path) -> None:
    """Codex deltas derived from running totals and Claude's repeated responses survive a
    restart at every chunk boundary: the parser's state is stored with the offset."""
    claude = _claude_corpus(roots.claude[0] / "projects")
    codex = _codex_corpus(roots.codex[0] / "sessions")
    expected = parsed_totals(claude, codex)
    for _ in range(400):  # a new ingester (a restart) for every 300-byte chunk
        if ingester(conn, roots, chunk_bytes=300).catch_up().records == 0 and \
                totals(conn) == expected:
            break
    assert totals(conn) == expected


def test_truncated_and_replaced_files_are_read_again_without_double_counting(conn, roots) -> None:
    path = roots.claude[0] / "projects" / "-srv" / "s1.jsonl"
    path.parent.mkdir(parents=True)
    lines = [assistant(mid=f"m{i}", rid=f"r{i}", sid="s1", usage={"input_tokens": 1, "output_tokens": i})
             for i in range(1, 6)]
    path.write_text("\n".join(lines) + "\n")
    ing = ingester(conn, roots)
    ing.catch_up()
    assert totals(conn)["s1"][1] == 15
    path.write_text("\n".join(lines[:2]) + "\n")  # truncated in place
    ing.catch_up()
    assert totals(conn)["s1"][1] == 15  # nothing counted twice, nothing lost
    with path.open("a") as f:
        f.write(assistant(mid="m9", rid="r9", sid="s1", usage={"input_tokens": 1, "output_tokens": 100}) + "\n")
    ing.catch_up()
    assert totals(conn)["s1"][1] == 115
    replacement = path.with_suffix(".new")  # replaced by a new file (new inode), longer
    replacement.write_text("\n".join(lines + [assistant(mid="m7", rid="r7", sid="s1",
                                                        usage={"input_tokens": 1, "output_tokens": 7})]) + "\n")
    os.replace(replacement, path)
    ing.catch_up()
    assert totals(conn)["s1"][1] == 122
    assert conn.execute("SELECT count(*) FROM usage").fetchone()[0] == 7


def test_bad_lines_are_counted_per_file_and_shown_by_status(conn, roots, tmp_path: Path) -> None:
    path = roots.claude[0] / "projects" / "-srv" / "s1.jsonl"
    path.parent.mkdir(parents=True)
    good = assistant(mid="m1", rid="r1", sid="s1").encode()
    path.write_bytes(b"\n".join([good, b'{"type":"assistant","mess', b"\xff\xfe not utf-8",
                                 b"[1, 2]", b"", good]) + b"\n")
    ingester(conn, roots).catch_up()
    assert conn.execute("SELECT bad_lines FROM ingest_offsets").fetchone()[0] == 3
    assert totals(conn) == {"s1": [12, 96, 1830, 40211]}
    env = {**os.environ, "LOOM_HOME": str(tmp_path / "pod"), "PYTHONIOENCODING": "utf-8"}
    env.pop("LOOM_CONFIG", None)
    out = subprocess.run([sys.executable, "-m", "loomtui", "status"], env=env, capture_output=True,
                         text=True, timeout=60, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert "3 bad line(s) skipped in 1 file(s)" in out.stdout


def test_sessions_join_hook_agents_and_new_sessions_become_agents(conn, roots, tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    subprocess.run(["git", "init", "-q", "-b", "main", str(repo)], check=True)
    hook_agent = upsert_agent(conn, kind="claude", now=CORPUS_NOW, session_id="s-hooked", name="auth")
    projects = roots.claude[0] / "projects" / "-x"
    projects.mkdir(parents=True)
    user = json.loads(assistant(sid="s-new"))
    user.update(type="user", cwd=str(repo), gitBranch="main", message={"role": "user", "content": "hi"})
    (projects / "s-hooked.jsonl").write_text(assistant(mid="a", rid="a", sid="s-hooked") + "\n")
    (projects / "s-new.jsonl").write_text(
        json.dumps(user) + "\n"
        + assistant(mid="b", rid="b", sid="s-new", cwd=str(repo), gitBranch="main") + "\n")
    (projects / "s-old.jsonl").write_text(assistant(mid="c", rid="c", sid="s-old",
                                                    ts="2026-10-01T09:00:00.000Z") + "\n")
    ingester(conn, roots).catch_up()
    owner = dict(conn.execute("SELECT session_id, agent_id FROM usage"))
    assert owner["s-hooked"] == hook_agent
    assert owner["s-old"] is None  # history beyond the horizon: counted, not in the fleet
    new = conn.execute("SELECT kind, repo, worktree, branch, model, transcript_path FROM agents "
                       "WHERE id = ?", (owner["s-new"],)).fetchone()
    assert new == ("claude", str(repo), str(repo), "main", "claude-sonnet-4-5-20250929",
                   str(projects / "s-new.jsonl"))
    assert conn.execute("SELECT count(*) FROM agents").fetchone()[0] == 2


# ------------------------------------------------------------------- processes: kill -9, lease

def _env(tmp_path: Path, roots: Roots) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LOOM", "CLAUDE", "CODEX"))}
    env.update(LOOM_HOME=str(tmp_path / "pod"), CLAUDE_CONFIG_DIR=str(roots.claude[0]),
               CODEX_HOME=str(roots.codex[0]), HOME=str(tmp_path), PYTHONIOENCODING="utf-8")
    return env


def _big_claude_corpus(roots: Roots, files: int = 120, lines: int = 400) -> None:
    for f in range(files):
        folder = roots.claude[0] / "projects" / f"-srv-{f % 7}"
        folder.mkdir(parents=True, exist_ok=True)
        body = [assistant(mid=f"m{f}-{i}", rid=f"r{f}-{i}", sid=f"s{f}",
                          ts=f"2026-11-20T09:{i % 60:02d}:00.000Z",
                          usage={"input_tokens": i, "output_tokens": f + 1}) for i in range(lines)]
        (folder / f"s{f}.jsonl").write_text("\n".join(body) + "\n")


def test_kill_9_during_ingest_then_resume_changes_no_total(tmp_path: Path, roots) -> None:
    _big_claude_corpus(roots)
    reference_conn = connect(tmp_path / "ref" / "loom.db")
    ingester(reference_conn, roots).catch_up()
    expected = totals(reference_conn)
    reference_conn.close()
    env = _env(tmp_path, roots)
    def stored_rows() -> int:
        """Usage rows in the pod's store so far (0 while the ingester is still creating it)."""
        store = db_path(tmp_path / "pod")
        if not store.exists():
            return 0
        conn = sqlite3.connect(f"file:{store}?mode=ro", uri=True)
        try:
            return conn.execute("SELECT count(*) FROM usage").fetchone()[0]
        except sqlite3.OperationalError:  # no usage table yet
            return 0
        finally:
            conn.close()

    interrupted = False
    for _attempt in range(3):  # a very fast ingester may finish between a look and the kill
        proc = subprocess.Popen([sys.executable, "-m", "loomtui", "ingest", "--once"], env=env,
                                cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for(lambda proc=proc: proc.poll() is not None or stored_rows() > 0,
                 "the ingester to store its first usage rows", interval=0.01)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        if 0 < stored_rows() < 120 * 400:
            interrupted = True
            break
    assert interrupted, "could not kill the ingester mid-way"
    done = subprocess.run([sys.executable, "-m", "loomtui", "ingest", "--once"], env=env, cwd=tmp_path,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    conn = connect(db_path(tmp_path / "pod"))
    try:
        assert totals(conn) == expected
        assert conn.execute("SELECT count(*) FROM usage").fetchone()[0] == 120 * 400
    finally:
        conn.close()


def test_lease_has_one_holder_and_lapses() -> None:
    conn = sqlite3.connect(":memory:", isolation_level=None)
    conn.execute("CREATE TABLE leases (name TEXT PRIMARY KEY, holder TEXT NOT NULL, "
                 "acquired_at REAL NOT NULL, expires_at REAL NOT NULL)")
    assert leases.acquire(conn, "ingest", "a", now=100)
    assert not leases.acquire(conn, "ingest", "b", now=101)
    assert leases.acquire(conn, "ingest", "a", now=104)  # renewal moves the expiry
    assert not leases.acquire(conn, "ingest", "b", now=104 + leases.TTL - 0.1)
    assert leases.acquire(conn, "ingest", "b", now=104 + leases.TTL + 0.1)
    assert leases.current(conn, "ingest").holder == "b"
    leases.release(conn, "ingest", "a")  # not the holder: no effect
    assert leases.current(conn, "ingest").holder == "b"
    leases.release(conn, "ingest", "b")
    assert leases.current(conn, "ingest") is None
    # a dead holder is replaced within TTL + one renewal interval of its last renewal
    assert leases.TTL + leases.RENEW <= 10


def watches(pid: int, folder: Path) -> bool:
    """Does process `pid` have an inotify watch on `folder`? (its inode in /proc/PID/fdinfo).

    The service takes the lease, catches up, and only then starts watching: a line
    written in between is only found by the next full scan. A test that writes a line
    to see it followed live waits for the watch first. Where there is no /proc: True."""
    if not Path("/proc/self/fdinfo").exists():
        return True
    inode = "ino:%x " % folder.stat().st_ino
    try:
        fds = os.listdir(f"/proc/{pid}/fd")
    except OSError:
        return False
    for fd in fds:
        try:
            if "inotify" in os.readlink(f"/proc/{pid}/fd/{fd}") and \
                    inode in Path(f"/proc/{pid}/fdinfo/{fd}").read_text().replace("\n", " "):
                return True
        except OSError:
            continue
    return False


def _holder(pod: Path) -> str | None:
    return leases.holder_of(pod, "ingest", time.time())


def test_a_second_ingester_takes_over_when_the_holder_is_killed(tmp_path: Path, roots) -> None:
    (roots.claude[0] / "projects").mkdir(parents=True)
    env = _env(tmp_path, roots)
    procs = []
    try:
        first = subprocess.Popen([sys.executable, "-m", "loomtui", "ingest"], env=env, cwd=tmp_path,
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        procs.append(first)
        wait_for(lambda: (h := _holder(tmp_path / "pod")) and f"pid {first.pid}" in h,
                 "the first ingester to hold the lease", timeout=20, interval=0.1)
        said = tmp_path / "second.err"
        with said.open("w") as err:
            second = subprocess.Popen([sys.executable, "-m", "loomtui", "ingest"], env=env, cwd=tmp_path,
                                      stdout=subprocess.DEVNULL, stderr=err)
        procs.append(second)
        wait_for(lambda: "ingesting for" in said.read_text(), "the second ingester to start")
        # It asks for the lease as soon as it has started; letting that moment pass is the
        # point (a refusal leaves no trace to wait for).
        time.sleep(0.5)
        assert f"pid {first.pid}" in (_holder(tmp_path / "pod") or "")  # the second stands by
        first.send_signal(signal.SIGKILL)
        first.wait()
        killed = time.monotonic()
        wait_for(lambda: (h := _holder(tmp_path / "pod")) and f"pid {second.pid}" in h,
                 "the second ingester to take the lease over", timeout=20, interval=0.1)
        took = time.monotonic() - killed
        # the takeover then ingests: a new transcript line reaches the store
        wait_for(lambda: watches(second.pid, roots.claude[0] / "projects"),
                 "the second ingester to watch the transcripts", timeout=20)
        path = roots.claude[0] / "projects" / "-srv" / "s1.jsonl"
        path.parent.mkdir(parents=True)
        path.write_text(assistant(mid="m", rid="r", sid="s1") + "\n")
        conn = connect(db_path(tmp_path / "pod"))
        try:
            wait_for(lambda: conn.execute("SELECT count(*) FROM usage").fetchone()[0] == 1,
                     "the new line in the store", timeout=20, interval=0.1)
        finally:
            conn.close()
        assert took < 20
    finally:
        for p in procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
                try:
                    p.wait(10)
                except subprocess.TimeoutExpired:
                    p.kill()


def test_the_service_follows_appended_lines_live(tmp_path: Path, roots) -> None:
    folder = roots.codex[0] / "sessions" / "2026" / "11" / "20"
    folder.mkdir(parents=True)
    sid = "0199aaaa-0000-7000-8000-00000000000f"
    path = folder / f"rollout-2026-11-20T09-20-00-{sid}.jsonl"
    path.write_text(META.replace("0199-s", sid) + "\n" + TURN + "\n")
    pod = tmp_path / "pod"
    connect(db_path(pod)).close()
    service = IngestService(pod, Config(), role="test", environ=_env(tmp_path, roots),
                            clock=lambda: CORPUS_NOW)
    service.start()
    conn = connect(db_path(pod))
    try:
        wait_for(lambda: service.state == "holding", "the service to hold the lease", timeout=20)
        wait_for(lambda: watches(os.getpid(), folder), "the service to watch the rollout's folder", timeout=20)
        with path.open("a") as f:
            f.write(token_count("2026-11-20T09:21:00.000Z", total=usage(100, 40, 7),
                                last=usage(100, 40, 7)) + "\n")
        wait_for(lambda: totals(conn).get(sid) == [60, 7, 0, 40],
                 "the appended token count in the store as [60, 7, 0, 40]", timeout=20)
        row = conn.execute("SELECT kind, model, cost_source FROM usage").fetchone()
        assert row == ("codex", "gpt-5-codex", "table")
    finally:
        service.stop()
        conn.close()
    assert service.state == "holding"
    assert _holder(pod) is None  # released on stop, so another can take over at once


def test_a_line_written_before_the_watch_is_in_place_is_not_left_for_the_full_scan(
        tmp_path: Path, roots, monkeypatch) -> None:
    """The service catches up, then starts its watch: a line appended in between raises no
    event. It is read once the watch is in place (its first answer, within the lease's
    renewal period), not only by the full scan, which this frozen clock never reaches."""
    from loomtui.ingest import ingester as ingester_module

    folder = roots.codex[0] / "sessions" / "2026" / "11" / "20"
    folder.mkdir(parents=True)
    sid = "0199aaaa-0000-7000-8000-00000000001f"
    path = folder / f"rollout-2026-11-20T09-20-00-{sid}.jsonl"
    path.write_text(META.replace("0199-s", sid) + "\n" + TURN + "\n")
    real_catch_up = ingester_module.Ingester.catch_up
    calls = []

    def catch_up_then_a_line_arrives(self, sources=None):
        done = real_catch_up(self, sources)
        calls.append(sources)
        if len(calls) == 1:  # the first catch-up is over and no watch exists yet
            with path.open("a") as f:
                f.write(token_count("2026-11-20T09:21:00.000Z", total=usage(100, 40, 7),
                                    last=usage(100, 40, 7)) + "\n")
        return done

    monkeypatch.setattr(ingester_module.Ingester, "catch_up", catch_up_then_a_line_arrives)
    pod = tmp_path / "pod"
    connect(db_path(pod)).close()
    service = IngestService(pod, Config(), role="test", environ=_env(tmp_path, roots),
                            clock=lambda: CORPUS_NOW)
    service.start()
    conn = connect(db_path(pod))
    try:
        wait_for(lambda: totals(conn).get(sid) == [60, 7, 0, 40],
                 "the line written between the catch-up and the watch, in the store", timeout=20)
    finally:
        service.stop()
        conn.close()


def test_ingest_once_reports_what_it_read(tmp_path: Path, roots) -> None:
    _claude_corpus(roots.claude[0] / "projects")
    done = subprocess.run([sys.executable, "-m", "loomtui", "ingest", "--once"], env=_env(tmp_path, roots),
                          cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("read 4 transcript(s): ")
    assert "0 bad line(s)" in done.stdout


def test_concurrent_writer_threads_do_not_lose_rows(tmp_path: Path, roots) -> None:
    """Two ingesters over the same files at once (a console and `ingest --once`): the
    unique keys keep every response exactly once."""
    _big_claude_corpus(roots, files=20, lines=100)
    pod = tmp_path / "pod"
    connect(db_path(pod)).close()
    errors: list[BaseException] = []

    def work() -> None:
        c = connect(db_path(pod))
        try:
            ingester(c, roots).catch_up()
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            c.close()

    threads = [threading.Thread(target=work) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    conn = connect(db_path(pod))
    try:
        assert conn.execute("SELECT count(*) FROM usage").fetchone()[0] == 20 * 100
        found = [Source("claude", p) for p in (str(x) for x in sorted(
            (roots.claude[0] / "projects").rglob("*.jsonl")))]
        assert len(found) == len(discover(roots)) == 20
    finally:
        conn.close()


def test_the_agents_own_cost_prices_a_model_the_table_lacks(conn, roots) -> None:
    """Claude Code's cost-state lines report cost per model: for a model without a price
    it is spread over that model's rows and marked reported; known models keep the table."""
    path = roots.claude[0] / "projects" / "-srv" / "s1.jsonl"
    path.parent.mkdir(parents=True)
    unknown = "claude-opus-9-9"
    assert PriceTable.load(None).lookup(unknown) is None

    def cost_state(usd: float) -> str:
        return json.dumps({"type": "cost-state", "timestamp": "2026-11-20T09:50:00Z",
                           "modelUsage": {unknown: {"costUSD": usd},
                                          "claude-sonnet-4-5-20250929": {"costUSD": 99.0}}})

    lines = [assistant(mid="a", rid="a", sid="s1", model=unknown, usage={"input_tokens": 100, "output_tokens": 0}),
             assistant(mid="b", rid="b", sid="s1", model=unknown, usage={"input_tokens": 300, "output_tokens": 0}),
             assistant(mid="c", rid="c", sid="s1")]
    path.write_text("\n".join(lines) + "\n")
    ing = ingester(conn, roots)
    ing.catch_up()
    assert conn.execute("SELECT count(*) FROM usage WHERE cost_source = 'unpriced' AND cost_usd IS NULL"
                        ).fetchone()[0] == 2  # unknown: never guessed
    with path.open("a") as f:
        f.write(cost_state(0.8) + "\n")
    ing.catch_up()
    rows = dict(conn.execute("SELECT dedupe_key, cost_usd FROM usage WHERE model = ?", (unknown,)))
    assert rows == {"a:a": pytest.approx(0.2), "b:b": pytest.approx(0.6)}
    with path.open("a") as f:
        f.write(assistant(mid="d", rid="d", sid="s1", model=unknown,
                          usage={"input_tokens": 50, "output_tokens": 50}) + "\n" + cost_state(1.1) + "\n")
    ingester(conn, roots).catch_up()  # after a restart: the reported figures carried over
    total, sources = conn.execute("SELECT sum(cost_usd), group_concat(DISTINCT cost_source) FROM usage "
                                  "WHERE model = ?", (unknown,)).fetchone()
    assert total == pytest.approx(1.1) and sources == "reported"
    assert conn.execute("SELECT cost_source FROM usage WHERE dedupe_key = 'c:c'").fetchone()[0] == "table"


def test_a_transcript_outside_the_roots_that_a_hook_named_is_read_too(conn, roots, tmp_path: Path) -> None:
    """An agent started with its own CLAUDE_CONFIG_DIR: its hook recorded the path."""
    elsewhere = tmp_path / "other-home" / "projects" / "-srv" / "s-far.jsonl"
    elsewhere.parent.mkdir(parents=True)
    elsewhere.write_text(assistant(mid="f", rid="f", sid="s-far") + "\n")
    agent = upsert_agent(conn, kind="claude", now=CORPUS_NOW, session_id="s-far",
                         transcript_path=str(elsewhere))
    upsert_agent(conn, kind="claude", now=CORPUS_NOW, session_id="s-gone",
                 transcript_path=str(tmp_path / "nowhere.jsonl"))  # not there: skipped
    ingester(conn, roots).catch_up()
    assert totals(conn) == {"s-far": [12, 96, 1830, 40211]}
    assert conn.execute("SELECT agent_id FROM usage").fetchone()[0] == agent


def test_usage_retention_deleted_is_not_counted_again_when_its_transcript_is_read_again(conn, roots) -> None:
    """Retention deletes old raw usage rows (the rollups keep their totals), and with them
    the keys that tell a second reading of a record from a new one. A transcript read
    again from the start (replaced, truncated, a new root) must not count them twice."""
    from loomtui.config import RetentionConfig
    from loomtui.ingest.report import usage_rows
    from loomtui.store import retention

    path = roots.claude[0] / "projects" / "-srv" / "s1.jsonl"
    path.parent.mkdir(parents=True)
    lines = [assistant(mid="old", rid="r-old", sid="s1", ts="2026-07-01T09:00:00.000Z",
                       usage={"input_tokens": 1, "output_tokens": 1000}),
             assistant(mid="new", rid="r-new", sid="s1", ts="2026-11-20T09:00:00.000Z",
                       usage={"input_tokens": 1, "output_tokens": 7})]
    path.write_text("\n".join(lines) + "\n")
    ingester(conn, roots).catch_up()
    before = usage_rows(conn, "session")["totals"]
    assert before["output_tokens"] == 1007
    report = retention.apply(conn, RetentionConfig(), CORPUS_NOW)  # 90 days: the July row goes
    assert report.usage_deleted == 1 and totals(conn)["s1"][1] == 7
    assert usage_rows(conn, "session")["totals"] == before  # the rollups kept it
    replacement = path.with_suffix(".new")  # the same transcript, a new file: read from the start
    replacement.write_text("\n".join(lines) + "\n")
    os.replace(replacement, path)
    ingester(conn, roots).catch_up()
    assert usage_rows(conn, "session")["totals"] == before  # neither record counted twice
    assert totals(conn)["s1"][1] == 7
