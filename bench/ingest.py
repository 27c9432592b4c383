"""Ingest benchmark: cold ingest and warm reports against ccusage, and how long an
appended transcript line takes to reach the store.

    python bench/ingest.py                 # >= 100 MB corpus, 3 runs each, 200 appends
    python bench/ingest.py --quick         # 20 MB corpus, 1 run each, 40 appends
    python bench/ingest.py --mb 200 --runs 5 --appends 300 --json out.json
    python bench/ingest.py --src /tmp/old      # time another checkout (e.g. `git archive`)

All three measurements run in the same invocation, on the same files:

1. Cold ingest: `python -m loomtui ingest --once` in a fresh pod (a new LOOM_HOME each
   run, so nothing is known yet) versus `ccusage claude session --json --offline` reading
   the same corpus, alternating, --runs times each; median and min wall time, and CPU time
   (user + sys: ccusage uses several threads). Both are timed as subprocesses from start to
   exit, with the corpus in the page cache (an untimed read of every file first). After
   the runs, `loomtui usage --by session --json` must give every session the same four
   token totals as ccusage (sessionId; inputTokens, outputTokens, cacheCreationTokens,
   cacheReadTokens): the benchmark stops with an error (exit status 2) when they differ.
2. Warm report: `python -m loomtui usage --json` (by agent) and `--by session --json` on the
   ingested pod versus ccusage's full read (its median from step 1); the ratio.
3. Append latency: `python -m loomtui ingest` (the watcher, holding the pod's lease) runs on
   the ingested pod; --appends new assistant lines (each a new `message.id:requestId`) are
   appended one at a time, at random intervals of 50-300 ms, to a few session files; for
   each, the time from write + flush returning to the row being visible in the store, polled
   by its dedupe key through a separate sqlite connection every 5 ms. p50 / p95 / max.
   The watcher is stopped with SIGTERM afterwards.

The corpus is generated, seeded and deterministic: Claude Code transcripts written the way
Claude Code writes them (compact JSON lines; prompts, assistant lines with thinking / text /
tool_use blocks and `message.usage` including the `cache_creation` object, each response's
blocks on separate lines sharing `message.id` + `requestId` (the earlier lines with a partial
output count), tool results with large contents and the `toolUseResult` copy, `summary`,
`system` and `file-history-snapshot` lines, `<synthetic>` messages, subagent transcripts
under `<session>/subagents/`) in `projects/<encoded cwd>/<session>.jsonl`. It is cached under
bench/.cache/ (ignored by git) and reused while its parameters and the day are the same
(its sessions end at today's midnight, UTC, so that the last ones become agents).

Subprocesses get PYTHONDONTWRITEBYTECODE unset (empty), so bytecode caching is as it is for
users. Targets: cold ingest no slower than ccusage; warm report at least 10x faster than
ccusage's full read; append p95 <= 1 s. Raw numbers: exits 0 unless the benchmark could not
run or the totals differ.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import resource
import shutil
import signal
import sqlite3
import statistics
import string
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from loomtui.store.db import db_path

CACHE = ROOT / "bench" / ".cache"
CORPUS_VERSION = 1  # bump when the generator changes: the cached corpus is rebuilt
CCUSAGE = Path(os.environ.get("LOOMTUI_CCUSAGE") or Path(os.environ.get(
    "LOOMTUI_E2E_CACHE", Path.home() / ".cache" / "loomtui-e2e")) / "ccusage" / "node_modules"
    / ".bin" / "ccusage")

TARGET_APPEND_P95_MS = 1000.0
TARGET_WARM_RATIO = 10.0

# -- the corpus ------------------------------------------------------------------------------

MODELS = (("claude-sonnet-4-5-20250929", 60), ("claude-opus-4-1-20250805", 15),
          ("claude-haiku-4-5-20251001", 15), ("claude-opus-4-5-20251101", 10))
TOOLS = ("Bash", "Read", "Edit", "Grep", "Glob", "Write", "TodoWrite", "WebFetch", "Task")
VERSION = "2.1.40"
# Sessions start over the 30 days before END, today's midnight (UTC), so that the last ones
# are recent enough to become agents (the rest is history); a new day, a new corpus.
END = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
DAYS = 30
WORDS = ("the", "a", "to", "of", "and", "in", "is", "for", "that", "with", "test", "login",
         "user", "session", "token", "request", "error", "config", "value", "return", "file",
         "function", "class", "import", "pytest", "assert", "none", "self", "data", "path",
         "store", "query", "index", "cache", "update", "fix", "failing", "build", "check",
         "handler", "schema", "migration", "parse", "line", "offset", "budget", "agent")
CODE = ("    def {w}_{v}(self, {v}: str) -> int:", "        return self.{w}[{v!r}]",
        "import {w}", "from {w}.{v} import {W}", "class {W}{V}:", "    # {w} the {v} first",
        "        if not {v}:", "            raise ValueError(f\"bad {w}: {{{v}}}\")",
        "{w}_{v} = {n}", "    assert {w}({n}) == {n}", "  File \"/srv/app/{w}/{v}.py\", line {n}",
        "{W}Error: {w} {v} — expected {n}, got {m}", "PASSED tests/test_{w}.py::test_{v}",
        "FAILED tests/test_{w}.py::test_{v} - AssertionError", "M  src/{w}/{v}.py",
        "    \"{w}\": {n},", "    <div class=\"{w}-{v}\">{W} → {V}</div>", "")


def _text_pool(rng: random.Random, n: int = 4000) -> list[str]:
    out = []
    for _ in range(n):
        w, v = rng.choice(WORDS), rng.choice(WORDS)
        out.append(rng.choice(CODE).format(w=w, v=v, W=w.capitalize(), V=v.capitalize(),
                                           n=rng.randint(0, 9999), m=rng.randint(0, 99)))
    return out


class Gen:
    """One seeded generator; `session()` writes one transcript (and its subagents)."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.pool = _text_pool(self.rng)
        self.lines = 0

    def ident(self, n: int, alphabet: str = string.ascii_letters + string.digits) -> str:
        return "".join(self.rng.choices(alphabet, k=n))

    def uuid(self) -> str:
        h = self.ident(32, "0123456789abcdef")
        return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-a{h[17:20]}-{h[20:]}"

    def text(self, lo: int, hi: int) -> str:
        k = self.rng.randint(lo, hi)
        start = self.rng.randrange(len(self.pool))
        return "\n".join(self.pool[(start + i * 7) % len(self.pool)] for i in range(k))

    def words(self, lo: int, hi: int) -> str:
        return " ".join(self.rng.choices(WORDS, k=self.rng.randint(lo, hi)))

    def model(self) -> str:
        return self.rng.choices([m for m, _ in MODELS], [w for _, w in MODELS])[0]

    @staticmethod
    def ts(t: datetime) -> str:
        return t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond // 1000:03d}Z"

    def write_session(self, out, sid: str, cwd: str, branch: str, start: datetime,
                      target: int, sidechain: bool = False, agent_id: str = "") -> int:
        """Lines until about `target` bytes; returns bytes written."""
        rng = self.rng
        t = start
        base = {"parentUuid": None, "isSidechain": sidechain, "userType": "external",
                "cwd": cwd, "sessionId": sid, "version": VERSION, "gitBranch": branch}
        if agent_id:
            base["agentId"] = agent_id
        written = 0
        parent = None
        context = rng.randint(8000, 20000)  # tokens in the cached prefix
        model = self.model()

        def emit(obj: dict) -> None:
            nonlocal written
            data = json.dumps(obj, ensure_ascii=False, separators=(",", ":")) + "\n"
            out.write(data.encode())
            written += len(data.encode()) if not data.isascii() else len(data)
            self.lines += 1

        def line(kind: str, message: dict | None = None, **extra) -> dict:
            nonlocal parent, t
            t += timedelta(milliseconds=rng.randint(300, 20000))
            me = self.uuid()
            obj = dict(base, parentUuid=parent, type=kind)
            if message is not None:
                obj["message"] = message
            obj.update(extra)
            obj["uuid"] = me
            obj["timestamp"] = self.ts(t)
            parent = me
            return obj

        if not sidechain and rng.random() < 0.3:  # a resumed session starts with summaries
            for _ in range(rng.randint(1, 3)):
                emit({"type": "summary", "summary": self.words(4, 10).capitalize(),
                      "leafUuid": self.uuid()})
        while written < target:
            prompt = self.words(5, 60) if rng.random() < 0.9 else self.text(5, 40)
            emit(line("user", {"role": "user", "content": prompt}))
            if not sidechain and rng.random() < 0.5:
                mid = self.uuid()
                emit({"type": "file-history-snapshot", "messageId": mid, "snapshot": {
                    "messageId": mid, "trackedFileBackups": {
                        f"src/{rng.choice(WORDS)}/{rng.choice(WORDS)}.py": {
                            "backupFileName": f"{self.ident(16, '0123456789abcdef')}@v{v}",
                            "version": v, "backupTime": self.ts(t)}
                        for v in range(1, rng.randint(1, 6))},
                    "timestamp": self.ts(t)}, "isSnapshotUpdate": rng.random() < 0.3})
            for _step in range(rng.randint(1, 12)):  # one API response per step
                if rng.random() < 0.03:  # Claude Code's own placeholder (an API error, ...)
                    emit(line("assistant", {
                        "id": self.uuid(), "model": "<synthetic>", "role": "assistant",
                        "stop_reason": "stop_sequence", "stop_sequence": "", "type": "message",
                        "usage": {"input_tokens": 0, "output_tokens": 0,
                                  "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0,
                                  "server_tool_use": {"web_search_requests": 0},
                                  "service_tier": None},
                        "content": [{"type": "text", "text": "API Error: 529 Overloaded"}]},
                        isApiErrorMessage=True))
                    continue
                if rng.random() < 0.05:
                    model = self.model()
                blocks: list[dict] = []
                if rng.random() < 0.4:
                    blocks.append({"type": "thinking", "thinking": self.words(20, 200),
                                   "signature": self.ident(rng.randint(200, 800))})
                if rng.random() < 0.6:
                    blocks.append({"type": "text", "text": self.words(5, 120)})
                tools = rng.choices((0, 1, 2, 3), (15, 65, 15, 5))[0]
                calls = []
                for _ in range(tools):
                    name = rng.choice(TOOLS)
                    call = {"type": "tool_use", "id": "toolu_01" + self.ident(22), "name": name,
                            "input": {"command": self.words(2, 8)} if name == "Bash" else
                            {"file_path": f"{cwd}/src/{rng.choice(WORDS)}.py"}}
                    blocks.append(call)
                    calls.append(call)
                if not blocks:
                    blocks.append({"type": "text", "text": self.words(5, 40)})
                out_tokens = rng.randint(20, 3000)
                write = rng.randint(0, 4000) if rng.random() < 0.7 else 0
                one_hour = write if rng.random() < 0.1 else 0
                msg_id, req_id = "msg_01" + self.ident(22), "req_011C" + self.ident(20)
                stop = "tool_use" if calls else "end_turn"
                for i, block in enumerate(blocks):
                    last = i == len(blocks) - 1
                    usage = {"input_tokens": rng.randint(1, 60) if i == 0 else 4,
                             "cache_creation_input_tokens": write,
                             "cache_read_input_tokens": context,
                             "cache_creation": {"ephemeral_5m_input_tokens": write - one_hour,
                                                "ephemeral_1h_input_tokens": one_hour},
                             "output_tokens": out_tokens if last or rng.random() < 0.5 else
                             rng.randint(1, 30),
                             "service_tier": "standard"}
                    emit(line("assistant", {
                        "model": model, "id": msg_id, "type": "message", "role": "assistant",
                        "content": [block], "stop_reason": stop if last else None,
                        "stop_sequence": None, "usage": usage}, requestId=req_id))
                context += write
                if context > 150000:  # compacted
                    context = rng.randint(8000, 20000)
                    emit(line("system", None, subtype="compact_boundary",
                              content="Conversation compacted", level="info",
                              compactMetadata={"trigger": "auto", "preTokens": 150000}))
                for call in calls:
                    body = self.text(1, 40) if rng.random() < 0.6 else self.text(40, 400)
                    err = rng.random() < 0.05
                    result = {"stdout": body, "stderr": "", "interrupted": False,
                              "isImage": False} if call["name"] == "Bash" else \
                        {"type": "text", "file": {"filePath": call["input"].get("file_path", ""),
                                                  "content": body, "numLines": body.count("\n") + 1,
                                                  "startLine": 1}}
                    emit(line("user", {"role": "user", "content": [{
                        "tool_use_id": call["id"], "type": "tool_result", "content": body,
                        "is_error": err}]}, toolUseResult=result))
            if rng.random() < 0.1:
                emit(line("system", None, subtype="informational", level="info",
                          content=f"Running PostToolUse hooks… {self.words(2, 6)}"))
        return written


def corpus_stats(root: Path) -> dict:
    files = sorted((root / "projects").rglob("*.jsonl"))
    size = lines = 0
    for f in files:
        data = f.read_bytes()
        size += len(data)
        lines += data.count(b"\n")
    return {"bytes": size, "files": len(files), "lines": lines,
            "subagent_files": sum(1 for f in files if f.parent.name == "subagents"),
            "sessions": sum(1 for f in files if f.parent.name != "subagents"),
            "projects": len({f.relative_to(root / "projects").parts[0] for f in files})}


def build_corpus(mb: int, seed: int) -> tuple[Path, dict]:
    """The corpus (cached under bench/.cache), and its stats."""
    root = CACHE / f"ingest-corpus-v{CORPUS_VERSION}-{mb}mb-seed{seed}-{END:%Y%m%d}"
    done = root / "corpus.json"
    if done.exists():
        return root, json.loads(done.read_text())
    for old in CACHE.glob(f"ingest-corpus-v*-{mb}mb-seed{seed}-*"):  # other days', versions'
        shutil.rmtree(old)
    gen = Gen(seed)
    rng = gen.rng
    projects = []
    for name in ("billing", "auth", "web", "infra", "docs", "mobile", "search", "etl"):
        for wt in rng.sample(("main", "fix-login", "feat-budgets", "perf", "issue-4",
                              "refactor", "deps"), rng.randint(1, 3)):
            cwd = f"/home/dev/src/{name}" + ("" if wt == "main" else f"/wt/{wt}")
            projects.append((cwd, wt if wt != "main" else "main"))
    target = mb << 20
    total = 0
    start_span = DAYS * 86400
    while total < target:  # oldest first
        cwd, branch = rng.choice(projects)
        folder = root / "projects" / "".join(c if c.isalnum() else "-" for c in cwd)
        folder.mkdir(parents=True, exist_ok=True)
        sid = gen.uuid()
        start = END - timedelta(seconds=start_span * (1 - total / target) + rng.randint(0, 3600))
        size = int(min(4 << 20, rng.lognormvariate(12.2, 0.9)))  # median ~200 KB
        with open(folder / f"{sid}.jsonl", "wb") as out:
            total += gen.write_session(out, sid, cwd, branch, start, size)
        for _ in range(rng.choices((0, 1, 2, 3), (70, 18, 8, 4))[0]):
            agent = gen.ident(8, "0123456789abcdef")
            sub = folder / sid / "subagents"
            sub.mkdir(parents=True, exist_ok=True)
            with open(sub / f"agent-{agent}.jsonl", "wb") as out:
                total += gen.write_session(out, sid, cwd, branch,
                                           start + timedelta(minutes=rng.randint(1, 60)),
                                           int(rng.lognormvariate(11, 0.8)), sidechain=True,
                                           agent_id=agent)
    stats = corpus_stats(root)
    stats.update(seed=seed, version=CORPUS_VERSION, end=END.isoformat())
    done.write_text(json.dumps(stats))
    return root, stats


def appended_line(rng: random.Random, sid: str, cwd: str, branch: str, key: int) -> tuple[bytes, str]:
    """A new assistant line for the append test, and its dedupe key."""
    msg_id = f"msg_01bench{key:06d}" + "".join(rng.choices(string.ascii_letters, k=10))
    req_id = f"req_011Cbench{key:06d}" + "".join(rng.choices(string.ascii_letters, k=8))
    write = rng.randint(0, 3000)
    obj = {"parentUuid": None, "isSidechain": False, "userType": "external", "cwd": cwd,
           "sessionId": sid, "version": VERSION, "gitBranch": branch, "type": "assistant",
           "message": {"model": "claude-sonnet-4-5-20250929", "id": msg_id, "type": "message",
                       "role": "assistant", "content": [{
                           "type": "tool_use", "id": f"toolu_01bench{key:06d}", "name": "Bash",
                           "input": {"command": "pytest -q"}}],
                       "stop_reason": "tool_use", "stop_sequence": None,
                       "usage": {"input_tokens": rng.randint(1, 50),
                                 "cache_creation_input_tokens": write,
                                 "cache_read_input_tokens": rng.randint(10000, 90000),
                                 "cache_creation": {"ephemeral_5m_input_tokens": write,
                                                    "ephemeral_1h_input_tokens": 0},
                                 "output_tokens": rng.randint(20, 900),
                                 "service_tier": "standard"}},
           "requestId": req_id, "uuid": f"00000000-0000-4000-a000-{key:012d}",
           "timestamp": Gen.ts(datetime.now(UTC))}
    return (json.dumps(obj, separators=(",", ":")) + "\n").encode(), f"{msg_id}:{req_id}"


# -- running things ------------------------------------------------------------------------

def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


def loom_env(tmp: Path, pod: Path, corpus: Path) -> dict[str, str]:
    home = tmp / "home"
    (tmp / "codex").mkdir(exist_ok=True)
    home.mkdir(exist_ok=True)
    env = {**os.environ, "LOOM_HOME": str(pod), "CLAUDE_CONFIG_DIR": str(corpus),
           "CODEX_HOME": str(tmp / "codex"), "HOME": str(home),
           "XDG_CONFIG_HOME": str(home / ".config"), "LOOM_USER": "bench",
           "PYTHONDONTWRITEBYTECODE": "", "PYTHONPATH": str(SRC[0])}
    env.pop("LOOM_CONFIG", None)
    env.pop("XDG_DATA_HOME", None)
    return env


def ccusage_env(tmp: Path, corpus: Path) -> dict[str, str]:
    home = tmp / "cchome"
    home.mkdir(exist_ok=True)
    return {"PATH": os.environ.get("PATH", ""), "HOME": str(home),
            "XDG_CONFIG_HOME": str(home / ".config"), "CLAUDE_CONFIG_DIR": str(corpus)}


def timed(argv: list[str], env: dict[str, str], cpu: list[float] | None = None) -> tuple[float, str]:
    """Wall seconds and stdout of one run; its CPU seconds (user + sys) appended to `cpu`."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(argv, env=env, cwd=env["HOME"], capture_output=True, text=True,
                          check=False)
    elapsed = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed ({done.returncode}): {done.stderr[-800:]}")
    if cpu is not None:
        cpu.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
    return elapsed, done.stdout


LOOM = [sys.executable, "-m", "loomtui"]
SRC = [ROOT]  # the checkout the subprocesses import (--src); they run in their HOME, so
# that `-m loomtui` does not find the current directory's package first
CCUSAGE_ARGS = ["claude", "session", "--json", "--offline"]


def cold(tmp: Path, corpus: Path, runs: int) -> dict:
    """Alternating: a fresh pod's `ingest --once`, then ccusage's full read."""
    ingest_s, ccusage_s, ingest_cpu, ccusage_cpu, outputs = [], [], [], [], []
    pod = None
    report = None
    for i in range(runs):
        pod = tmp / f"pod-{i}"
        seconds, out = timed([*LOOM, "ingest", "--once"], loom_env(tmp, pod, corpus), ingest_cpu)
        ingest_s.append(seconds)
        outputs.append(out.strip())
        seconds, out = timed([str(CCUSAGE), *CCUSAGE_ARGS], ccusage_env(tmp, corpus), ccusage_cpu)
        ccusage_s.append(seconds)
        report = json.loads(out)
        if i < runs - 1:
            shutil.rmtree(pod)
    return {"ingest_s": ingest_s, "ccusage_s": ccusage_s, "ingest_cpu_s": ingest_cpu,
            "ccusage_cpu_s": ccusage_cpu, "pod": pod, "ccusage": report, "ingest_said": outputs[-1]}


def compare_totals(tmp: Path, pod: Path, corpus: Path, report: dict) -> dict:
    """Per-session token totals: ours (`usage --by session --json`) against ccusage's."""
    _, out = timed([*LOOM, "usage", "--by", "session", "--json"], loom_env(tmp, pod, corpus))
    ours = {r["key"]: (r["input_tokens"], r["output_tokens"], r["cache_write_tokens"],
                       r["cache_read_tokens"]) for r in json.loads(out)["rows"]}
    rows = report.get("sessions", report.get("session", []))
    theirs = {r.get("sessionId", r.get("period")): (r["inputTokens"], r["outputTokens"],
                                                     r["cacheCreationTokens"], r["cacheReadTokens"])
              for r in rows}
    differ = sorted(k for k in ours.keys() | theirs.keys() if ours.get(k) != theirs.get(k))
    return {"sessions": len(theirs), "ours": len(ours), "differ": differ,
            "detail": [(k, ours.get(k), theirs.get(k)) for k in differ[:10]],
            "tokens": [sum(v[i] for v in ours.values()) for i in range(4)]}


def warm(tmp: Path, pod: Path, corpus: Path, runs: int) -> dict:
    env = loom_env(tmp, pod, corpus)
    timed([*LOOM, "usage", "--json"], env)  # the first run after ingest may meet a fresh WAL
    by_agent, by_session = [], []
    for _ in range(runs):
        by_agent.append(timed([*LOOM, "usage", "--json"], env)[0])
        by_session.append(timed([*LOOM, "usage", "--by", "session", "--json"], env)[0])
    return {"usage_s": by_agent, "usage_session_s": by_session}


def append_latency(tmp: Path, pod: Path, corpus: Path, n: int, seed: int) -> dict:
    """The watcher on the ingested pod; n lines appended to a few recent session files."""
    import threading

    rng = random.Random(seed + 1)
    files = sorted((p for p in (corpus / "projects").glob("*/*.jsonl")),
                   key=lambda p: p.stat().st_mtime)
    targets = []
    for path in sorted(files[-40:], key=lambda p: p.name)[:4]:  # four files, seeded choice
        with path.open("rb") as f:  # the first line with a session (a summary line has none)
            first = next(d for d in map(json.loads, f) if "sessionId" in d and "cwd" in d)
        targets.append((path, first["sessionId"], first["cwd"], first.get("gitBranch", "")))
    env = loom_env(tmp, pod, corpus)
    log = open(tmp / "watcher.log", "wb")  # noqa: SIM115 - closed in the finally below
    proc = subprocess.Popen([*LOOM, "ingest"], env=env, cwd=env["HOME"], stdout=log,
                            stderr=subprocess.STDOUT)
    written: dict[str, float] = {}
    seen: dict[str, float] = {}
    lock = threading.Lock()
    stop = threading.Event()

    def poll() -> None:
        conn = sqlite3.connect(f"file:{db_path(pod)}?mode=ro", uri=True, isolation_level=None)
        conn.execute("PRAGMA busy_timeout = 5000")
        try:
            _poll(conn)
        finally:
            conn.close()

    def _poll(conn: sqlite3.Connection) -> None:
        while not stop.is_set():
            with lock:
                waiting = [k for k in written if k not in seen]
            if waiting:
                marks = ",".join("?" * len(waiting))
                for (key,) in conn.execute(
                        f"SELECT dedupe_key FROM usage WHERE dedupe_key IN ({marks})", waiting):
                    seen[key] = time.perf_counter()
            time.sleep(0.005)

    def append(i: int) -> str:
        path, sid, cwd, branch = targets[i % len(targets)]
        data, key = appended_line(rng, sid, cwd, branch, i)
        with open(path, "ab") as f:
            f.write(data)
            f.flush()
            with lock:
                written[key] = time.perf_counter()
        return key

    poller = threading.Thread(target=poll, daemon=True)
    try:
        if not db_path(pod).exists():
            raise SystemExit(f"no store at {pod}")
        poller.start()
        # warm-up: the watcher has the lease, has caught up and is watching once this is seen
        probe = append(n)
        deadline = time.monotonic() + 120
        while probe not in seen:
            if proc.poll() is not None or not poller.is_alive() or time.monotonic() > deadline:
                raise SystemExit(f"the watcher did not pick up a line: "
                                 f"{(tmp / 'watcher.log').read_text()[-800:]}")
            time.sleep(0.01)
        time.sleep(1.0)
        keys = []
        for i in range(n):
            keys.append(append(i))
            time.sleep(rng.uniform(0.05, 0.3))
        deadline = time.monotonic() + 10
        while any(k not in seen for k in keys) and time.monotonic() < deadline:
            time.sleep(0.01)
    finally:
        stop.set()
        if poller.is_alive():
            poller.join()
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()
    latencies = [(seen[k] - written[k]) * 1000 for k in keys if k in seen]
    return {"ms": latencies, "lost": sum(1 for k in keys if k not in seen),
            "files": len(targets), "watcher_exit": proc.returncode}


def ccusage_version() -> str:
    try:
        done = subprocess.run([str(CCUSAGE), "--version"], capture_output=True, text=True, timeout=30,
                              check=False)
        return done.stdout.strip().splitlines()[-1] if done.returncode == 0 else "?"
    except OSError:
        return "?"


# -- the report -----------------------------------------------------------------------------

def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mb", type=int, help="corpus size in MiB (default 100; --quick 20)")
    parser.add_argument("--runs", type=int, help="cold runs of each (default 3; --quick 1)")
    parser.add_argument("--appends", type=int, help="appended lines (default 200; --quick 40)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--src", type=Path, default=ROOT,
                        help="the loomtui checkout to time (default: this one), e.g. an older "
                        "commit's `git archive` to measure a change")
    parser.add_argument("--quick", action="store_true", help="a small, fast run")
    parser.add_argument("--json", metavar="FILE", help="also write the raw figures here")
    args = parser.parse_args()
    SRC[0] = args.src.resolve()
    mb = args.mb or (20 if args.quick else 100)
    runs = args.runs or (1 if args.quick else 3)
    appends = args.appends or (40 if args.quick else 200)
    if not CCUSAGE.exists():
        raise SystemExit(f"ccusage is not installed at {CCUSAGE} (the e2e tests install it: "
                         "pytest tests/test_ingest_parsers.py -k ccusage), or set $LOOMTUI_CCUSAGE")

    cached, stats = build_corpus(mb, args.seed)
    with tempfile.TemporaryDirectory(prefix="loomtui-bench-ingest-") as name:
        tmp = Path(name)
        corpus = tmp / "claude"  # a copy: the append test writes to it
        shutil.copytree(cached / "projects", corpus / "projects")
        os.sync()  # no write-back of the copy during the timed runs
        for path in (corpus / "projects").rglob("*.jsonl"):  # in the page cache for both
            path.read_bytes()
        env = loom_env(tmp, tmp / "unused", corpus)
        _, imported = timed([sys.executable, "-c", "import loomtui; print(loomtui.__file__)"], env)
        imported = imported.strip()
        if not Path(imported).resolve().is_relative_to(SRC[0]):
            raise SystemExit(f"the subprocesses import {imported}, not loomtui from {SRC[0]}")
        c = cold(tmp, corpus, runs)
        totals = compare_totals(tmp, c["pod"], corpus, c["ccusage"])
        w = warm(tmp, c["pod"], corpus, max(3, runs * 2 - 1))
        rows = sqlite3.connect(db_path(c["pod"])).execute("SELECT count(*) FROM usage").fetchone()[0]
        a = append_latency(tmp, c["pod"], corpus, appends, args.seed)

    ing_med, cc_med = statistics.median(c["ingest_s"]), statistics.median(c["ccusage_s"])
    usage_med = statistics.median(w["usage_s"])
    session_med = statistics.median(w["usage_session_s"])
    p50, p95 = percentile(a["ms"], 50), percentile(a["ms"], 95)
    cold_met = ing_med <= cc_med
    warm_ratio = cc_med / max(usage_med, session_med)

    def met(ok: bool) -> str:
        return "met" if ok else "NOT MET"

    print(f"LoomTUI ingest benchmark  {datetime.now(UTC).isoformat(timespec='seconds')}")
    print(f"machine: {os.cpu_count()} CPUs, {platform.platform()}, python "
          f"{platform.python_version()}, sqlite {sqlite3.sqlite_version}, {ccusage_version()}")
    if SRC[0] != ROOT:
        print(f"loomtui from: {imported}")
    print(f"corpus: {stats['bytes'] / 1e6:.1f} MB, {stats['files']} files ({stats['sessions']} sessions, "
          f"{stats['subagent_files']} subagent transcripts) in {stats['projects']} project folders, "
          f"{stats['lines']:,} lines; {rows:,} usage rows (seed {args.seed})")
    print()
    print(f"{'':44} {'loomtui':>9} {'ccusage':>9} {'ratio':>8}")
    print(f"{'cold: ingest --once | session --json, med s':44} {ing_med:9.3f} {cc_med:9.3f} "
          f"{cc_med / ing_med:7.2f}x")
    print(f"{'cold: min s':44} {min(c['ingest_s']):9.3f} {min(c['ccusage_s']):9.3f} "
          f"{min(c['ccusage_s']) / min(c['ingest_s']):7.2f}x")
    print(f"{'cold: CPU s (user + sys), median':44} {statistics.median(c['ingest_cpu_s']):9.3f} "
          f"{statistics.median(c['ccusage_cpu_s']):9.3f}")
    print(f"{'warm: usage --json | full read, med s':44} {usage_med:9.3f} {cc_med:9.3f} "
          f"{cc_med / usage_med:7.1f}x")
    print(f"{'warm: usage --by session --json, med s':44} {session_med:9.3f} {cc_med:9.3f} "
          f"{cc_med / session_med:7.1f}x")
    print(f"  (ratio = ccusage time / loomtui time; cold: {runs} run(s) each, alternating, "
          f"fresh pod each; warm: {len(w['usage_s'])} runs)")
    print()
    print(f"append -> row in store, {len(a['ms'])} of {appends} lines ({a['lost']} not seen in 10 s), "
          f"{a['files']} files, 50-300 ms apart")
    print(f"  p50 {p50:.0f} ms  p95 {p95:.0f} ms  max {max(a['ms']):.0f} ms")
    print()
    same = not totals["differ"]
    print(f"per-session totals: {totals['ours']} sessions here, {totals['sessions']} in ccusage; "
          + ("all four token fields equal" if same else f"{len(totals['differ'])} DIFFER"))
    print()
    print("targets:")
    print(f"  cold ingest no slower than ccusage   {ing_med:.2f} s vs {cc_med:.2f} s   {met(cold_met)}")
    print(f"  warm report >= 10x faster            {warm_ratio:.1f}x (slower of the two reports)   "
          f"{met(warm_ratio >= TARGET_WARM_RATIO)}")
    print(f"  append p95 <= 1 s                    {p95:.0f} ms   "
          f"{met(p95 <= TARGET_APPEND_P95_MS and not a['lost'])}")
    if args.json:
        Path(args.json).write_text(json.dumps({
            "corpus": stats, "rows": rows, "cold": {k: v for k, v in c.items() if k not in (
                "pod", "ccusage")}, "warm": w, "append": a,
            "totals": totals}, indent=2, default=str))
    if not same:
        print("\nTOTALS DIFFER (session: ours, ccusage's):", file=sys.stderr)
        for key, ours, theirs in totals["detail"]:
            print(f"  {key}: {ours} != {theirs}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
