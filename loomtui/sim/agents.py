r"""Simulated agents that live realistic lifecycles and report them through the
real hook path: every session start, tool call, turn end and session end is a
Claude Code (or Codex) hook JSON document handed to `loomtui.hooks.dispatch.Hook`,
exactly as `loomtui hook claude` gets it on stdin. The pod's policy classifies
each tool call; a gated one creates a gate and *blocks* until a supervisor
decides it or it expires, and the agent reacts to the answer.

Each agent is a small state machine driven by a seeded random generator and a
clock, so a given seed replays the same pod (benchmarks and tests rely on it):

  working --burst of tool calls--> waiting (a question, or a gated call) --> working
                                 \-> idle (turn finished) --new prompt--> working
                                 \-> stalled (silent in a long command) --> working
                                 \-> error --> working
                                 \-> done (session ended); a new agent joins later

A gated call runs in a worker thread of its own (`HookCall`), in lockstep with
the simulation: the worker runs only inside `step()`, from one poll of its gate
to the next, so its reads of the clock and its writes happen at the same points
of a run every time, on a fake clock as on the wall clock. A teammate, "sam",
decides about half of the gates after 30 to 90 seconds; the rest wait for the
person at the console, or expire and the agent is denied.

What cannot go through a hook is written with the store API, as the transcript
ingester would: API errors (an agent's `error` status), and a Codex session's
end (Codex has no SessionEnd hook).

With `edits=True` (the demo) the agents' Edit and Write calls really change the
files in their worktrees once the hook let them run, just before PostToolUse
(realistic lines from a generator of each agent's own, seeded from its session
id, so the main generator and the event stream are untouched), and their
`git commit -am` commands really commit. Two agents edit the same file before
the pod starts running, so the console shows a collision from the first frame.
With edits off (the default) no file changes.

With `memory=True` (the demo) the agents use the pod's shared memory: the
supervisors' notes are there before the first agent (two pinned conventions and
a few facts and decisions, `SEED_MEMORY`); each agent reads what the real
SessionStart hook injects (`SimAgent.memory_ids`); while working it now and then
writes a decision (which waits for review), a fact or a warning about its area,
and a handoff when its session ends (superseding its branch's previous one),
through `loomtui.memory.entries.add` as that agent, with its provenance. Sam
accepts or rejects about half of the proposals after 30 to 90 seconds; the rest
wait for the person at the console. All of it comes from a generator per agent
seeded from its session id, so the main generator and the event stream are the
same with memory on or off.
"""

from __future__ import annotations

import json
import logging
import os
import random
import re
import shlex
import sqlite3
import threading
import uuid
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from loomtui.hooks.dispatch import Hook
from loomtui.hooks.protocol import Answer
from loomtui.hooks.signals import HookInterrupted
from loomtui.places import locate
from loomtui.memory.entries import DEFAULT_REVIEW_KINDS, Author, Entry, EntryError, add, supervisor
from loomtui.memory.entries import accept as accept_entry
from loomtui.memory.entries import reject as reject_entry
from loomtui.memory.identity import head_commit
from loomtui.sim.repo import agent_git
from loomtui.sim.transcripts import Transcript, claude_path, codex_path
from loomtui.store.agents import record_event, upsert_agent
from loomtui.store.gates import GateError, decide, get_gate
from loomtui.supervisors import simulated_decider

AREAS = {
    "auth": ["src/auth/login.py", "src/auth/session.py", "tests/test_login.py"],
    "billing": ["src/billing/invoice.py", "src/billing/tax.py", "tests/test_invoice.py"],
    "search": ["src/search/index.py", "src/api/routes.py"],
    "api": ["src/api/routes.py", "src/auth/session.py"],
    "db": ["migrations/0001_init.sql", "src/billing/invoice.py"],
    "docs": ["README.md"],
}
TASKS = {
    "auth": "make the login tests pass",
    "billing": "add VAT to invoices",
    "search": "speed up the search index",
    "api": "add pagination to the routes",
    "db": "add an orders table",
    "docs": "document the setup",
}
# Risky actions, with weights: the demo policy gates all of them but the last,
# which it denies outright (agents do not write secrets).
RISKY: list[tuple[int, str, str, str]] = [
    (6, "Bash", "git push origin {branch}", "Push the branch"),
    (2, "Bash", "git push --force origin {branch}", "Force-push the rebased branch"),
    (2, "Bash", "rm -rf ../build-cache", "Clear the shared build cache"),
    (2, "Bash", "alembic upgrade head", "Run the migrations"),
    (2, "Bash", "gh pr merge --squash", "Merge the pull request"),
    (1, "Bash", "npm publish", "Publish the package"),
    (1, "Bash", "terraform apply -auto-approve", "Apply the infrastructure change"),
    (2, "Write", "migrations/0002_orders.sql", "CREATE TABLE orders (id INTEGER PRIMARY KEY);\n"),
    (1, "Write", ".env", "STRIPE_KEY=sk_test_demo\n"),
]
QUESTIONS = [
    "question: which migration should run first?",
    "question: keep the old login endpoint?",
    "question: may I add a dependency (orjson)?",
    "question: the invoice tests disagree with the spec; which one is right?",
]
ANSWERS = ["run 0001 first", "keep it for one release", "yes", "the spec is right"]
PROMPTS = ["now add tests for that", "looks good; carry on with the next step",
           "fix the failing test first", "also update the README"]
ERRORS = ["API error 529: overloaded", "API error 500: internal server error"]
LONG_COMMANDS = ["npm run build -- --watch", "pytest -x tests/ --timeout=0", "docker compose up db"]
REJECT_REASONS = [
    "push after the migration lands",
    "not on a Friday; open a PR instead",
    "rebase on main first",
    "wait until the release freeze ends",
    "not from a demo branch; ask in #platform first",
]
APPROVE_REASONS = ["", "", "ok, CI is green", "go ahead"]
MODELS = [("claude", "claude-sonnet-4-5", 6), ("claude", "claude-opus-4-5", 3), ("codex", "gpt-5-codex", 1)]
RISKY_SHARE = 0.015  # of tool calls; with 24 agents a few gates wait most of the time
SAM = "sam"  # the simulated second supervisor
# Sam decides in-process through the store (not through loomtui.supervisors.authorize),
# recorded as a simulated supervisor: decided_by "sam", decided_name "sam (simulated)".
SAM_DECIDER = simulated_decider(SAM)
SAM_SHARE = 0.5  # of gates that sam decides
SPENDER_BACKLOG = 60  # past responses of the demo's big spender (about $5.5 on Opus)
CALL_TIMEOUT = 30.0  # seconds step() waits for a hook worker before moving on

log = logging.getLogger(__name__)

# -- real edits (edits=True) -----------------------------------------------------
# New files each area's agents create with Write.
NEW_FILES = {
    "auth": ["src/auth/tokens.py", "tests/test_session.py"],
    "billing": ["src/billing/vat.py", "tests/test_tax.py"],
    "search": ["src/search/ranking.py", "tests/test_search.py"],
    "api": ["src/api/pagination.py", "tests/test_routes.py"],
    "db": ["src/db/orders.py", "tests/test_orders.py"],
    "docs": ["docs/setup.md", "docs/testing.md"],
}
WORDS = {
    "auth": ["token", "user", "password", "session", "expiry"],
    "billing": ["invoice", "vat", "amount", "currency", "rate"],
    "search": ["query", "score", "ranking", "document", "field"],
    "api": ["page", "cursor", "limit", "route", "request"],
    "db": ["order", "table", "row", "schema", "customer"],
    "docs": ["setup", "install", "config", "usage", "test"],
}
VERBS = ["check", "load", "build", "parse", "apply", "validate", "format", "normalize"]
NOTES = ["checked by the caller", "kept for one release", "as the spec says", "was off by one",
         "cached per request", "never None here", "as the tests expect", "TODO: measure this"]
PY_BODIES = [
    "    if not {a}:\n        raise ValueError('{noun} is required')\n    return {a}\n",
    "    return [item for item in {a} if item is not None]\n",
    "    result = dict({a})\n    result['{noun}'] = {b}\n    return result\n",
    "    ordered = sorted({a}, key=lambda item: item.{b})\n    return ordered[:{n}]\n",
    "    total = 0\n    for item in {a}:\n        total += item.{b}\n    return total\n",
]
TEST_CASES = ["empty", "twice", "unicode", "large", "missing", "default"]
EDIT_CAP = 12_000  # characters: a bigger file gets changed lines, no more appended ones
_NUMBER = re.compile(r"\b\d+(?:\.\d+)?\b")
_FIXED = ("def ", "class ", "import ", "from ", "@", "#", '"""', "```", "-- ")

# -- shared memory (memory=True) -------------------------------------------------
MEMORY_SHARE = 0.04  # of an agent's ordinary tool calls that are followed by a note in memory
MEMORY_POD_SHARE = 0.2  # of notes scoped to the whole pod (the rest: the repository)
MEMORY_KINDS = [("decision", 4), ("fact", 3), ("warning", 2)]
SAM_MEMORY_SHARE = 0.5  # of proposals that sam reviews (30 to 90 s later); the rest wait
SAM_MEMORY_REASONS = [
    "we settled this in the design review: keep the current behaviour",
    "too specific to one branch; put it in the PR description instead",
    "not agreed yet; raise it in #platform first",
    "duplicates what the conventions already say",
]
_CONTEXT_ENTRY = re.compile(r"(?m)^\[[a-z]+ #(\d+) v\d+")  # render_markdown's line of facts
# The supervisors' notes the demo pod starts with: (author, kind, title, body, tags,
# scope, pinned, days old). Scope "repo" means the simulated repository.
SEED_MEMORY: list[tuple[str, str, str, str, str, str, bool, float]] = [
    (SAM, "convention", "Run the tests before pushing",
     "Run `make test` in your worktree before any `git push`; a red CI run blocks everyone's merges.\n\n"
     "- `make test-fast` is fine while you iterate\n"
     "- say in the push gate's reason if you had to skip them",
     "testing, git, ci", "pod", True, 9.0),
    ("robin", "convention", "Migrations go through review",
     "Every file under `migrations/` is reviewed by a person before it runs anywhere.\n\n"
     "- write the migration, then stop and ask (the policy gates `alembic upgrade`)\n"
     "- one change per migration, forward-only",
     "db, migrations, review", "pod", True, 7.0),
    ("robin", "decision", "Python 3.11 for the whole repository",
     "The services, the scripts and CI all run Python 3.11.\n\n"
     "- do not use 3.12-only syntax (PEP 695 type parameters)\n"
     "- `pyproject.toml` pins `requires-python = \">=3.11,<3.12\"`",
     "python, ci", "repo", False, 6.0),
    (SAM, "fact", "CI runs on every push to agent/* branches",
     "GitHub Actions runs lint, unit tests and the migration check on each push to an `agent/*` "
     "branch (about 6 minutes).\n\nThe results show on the branch's pull request; nothing deploys "
     "from these branches.",
     "ci, git", "repo", False, 4.0),
    (SAM, "decision", "Pull requests merge by squash",
     "One commit per pull request on `main`, titled like the pull request.\n\n"
     "- keep `wip:` commits on your branch; they disappear in the squash\n"
     "- `gh pr merge --squash` is gated: a person merges",
     "git, review", "repo", False, 3.0),
    ("robin", "warning", "The staging database is shared",
     "Every branch's preview app uses the one staging database.\n\n"
     "- never run destructive SQL against it\n"
     "- test migrations on a local copy (`make db-reset`) first",
     "db, staging", "pod", False, 1.5),
]
# What agents learn and decide about their area: (kind, title, body).
MEMORY_NOTES: dict[str, list[tuple[str, str, str]]] = {
    "auth": [
        ("decision", "Sessions expire after 30 minutes idle",
         "Idle sessions expire after **30 minutes**; the refresh token lasts 7 days.\n\n"
         "- `src/auth/session.py` checks `expiry` on every request\n"
         "- the login tests freeze the clock instead of sleeping"),
        ("decision", "Keep the old /login endpoint for one release",
         "Mobile clients 4.x still call `POST /login`. It stays, marked deprecated, until 5.0 ships.\n\n"
         "- new clients use `POST /auth/login`\n- remove it in the release after 5.0"),
        ("fact", "The login tests need the fake SMTP server",
         "`tests/test_login.py` sends the confirmation email.\n\n"
         "Start it with `make smtp-fake` (port 1025), or the tests hang for 30 s and fail."),
        ("warning", "Never log password reset tokens",
         "`src/auth/login.py` logged the whole request on failure, reset tokens included.\n\n"
         "- log `user.id` only\n- the log scrubber does not catch tokens in query strings"),
    ],
    "billing": [
        ("decision", "VAT is rounded per invoice line, then summed",
         "Round each line's VAT to the cent, then add the lines up (what the tax office expects).\n\n"
         "- `src/billing/tax.py`: `line_vat()`\n- `tests/test_invoice.py` has a three-line case that "
         "differs by one cent"),
        ("decision", "Amounts are integer cents everywhere",
         "No floats for money: `Invoice.amount` is an `int` of cents; convert only to display it.\n\n"
         "- `Decimal` at the edges (CSV import)\n- the currency travels with the amount"),
        ("fact", "VAT rates live in billing/rates.toml",
         "Rates per country, with the date each applies from; `tax.py` reads them at start-up.\n\n"
         "Change them with the finance team, never in a code change alone."),
        ("warning", "Invoice numbers must never be reused",
         "A legal requirement: numbers run in sequence per year, with no gaps.\n\n"
         "- never delete a draft invoice; void it\n- the sequence lives in the `invoice_seq` table"),
    ],
    "search": [
        ("decision", "Index on write instead of a nightly rebuild",
         "A full rebuild takes 40 minutes on production data.\n\n"
         "- `src/search/index.py` updates the index on `document_saved`\n"
         "- a weekly full rebuild stays as a safety net"),
        ("decision", "Rank by relevance first, recency second",
         "Ties in the relevance score break by `updated_at`, newest first; recency never outranks "
         "a better match.\n\n- the ranking tests pin five queries and their top three"),
        ("fact", "The search benchmark uses the 50k-document fixture",
         "`make bench-search` loads `fixtures/docs-50k.jsonl` (about 20 s).\n\n"
         "Compare the p95 query time, not the mean; the baseline is 38 ms."),
        ("warning", "The index lock is not reentrant",
         "Calling `index.add()` inside a `with index.batch():` block deadlocks.\n\n"
         "Collect the documents first, then add them in one batch."),
    ],
    "api": [
        ("decision", "Cursor pagination for list routes",
         "Offsets skip rows when rows are added while someone pages. List routes take `cursor` and "
         "`limit` (at most 100) and return `next_cursor`.\n\n"
         "- `src/api/pagination.py` encodes the cursor\n- `page=` stays accepted for one release"),
        ("decision", "Errors are application/problem+json",
         "Every 4xx and 5xx answer is a problem document (`type`, `title`, `status`, `detail`).\n\n"
         "- one helper in `src/api/routes.py` builds them\n- no HTML error pages from the API"),
        ("fact", "The route tests run against the in-memory app",
         "`tests/test_routes.py` builds the app with `create_app(testing=True)`.\n\n"
         "- no database\n- fixtures come from `tests/data/`"),
        ("warning", "Do not change the response shape of /v1 routes",
         "Partner integrations parse `/v1` answers strictly.\n\n"
         "- add fields only\n- rename or remove them in `/v2`"),
    ],
    "db": [
        ("decision", "Orders get their own table, not a JSON column",
         "`orders` with a foreign key to `customers`, line items in `order_lines`.\n\n"
         "- migration `0002_orders.sql`\n- backfill from `invoices.meta` in a separate migration"),
        ("decision", "Backfills run as separate migrations",
         "A schema change and the data it needs never share a migration: the backfill may take "
         "minutes and must be safe to re-run.\n\n- batches of 1,000 rows\n- idempotent `UPDATE`s only"),
        ("fact", "make db-reset rebuilds the dev database",
         "It drops the local database, runs every migration and loads `fixtures/dev.sql` "
         "(about 15 s).\n\nNever point it at staging: it asks for the database URL and drops it."),
        ("warning", "Migration 0001 locks the customers table",
         "The index on `customers.email` takes a full table lock (about 2 minutes on production).\n\n"
         "Run it in the maintenance window, or use `CREATE INDEX CONCURRENTLY`."),
    ],
    "docs": [
        ("decision", "The README covers setup only; guides go under docs/",
         "The README stays one screen: install, configure, run the tests.\n\n"
         "- longer guides: `docs/<topic>.md`\n- link them from the README's last section"),
        ("fact", "make docs-check runs on every pull request",
         "Broken links and code blocks that do not run fail the check.\n\n"
         "Run it locally before you push a docs change (about 10 s)."),
        ("warning", "The setup steps assume Python 3.11",
         "Python 3.12 fails to build the pinned `psycopg2` wheel.\n\n"
         "The docs say 3.11, and should until the pin moves."),
    ],
}
NOTE_PROBLEMS = ["can be None after a failed {other}", "is cached per request; do not mutate it",
                 "is read by two services; change both", "is off by one at the boundary"]
HANDOFF_LEFT = ["tests for the {noun} edge cases", "the docs for the {noun} change",
                "a rebase on main (two conflicts expected)", "review of the {other} part",
                "the follow-up for {noun} validation"]


@dataclass
class HookCall:
    """One hook call in a daemon thread that runs only when `resume()` lets it:
    from its start to its first nap, then from one nap (a poll of its gate) to
    the next, until it returns. `stop()` makes its next nap raise
    HookInterrupted, so the hook cancels its gate and answers deny."""

    hook: Hook
    raw: bytes
    answer: Answer | None = None
    gate_id: int | None = None
    looked: bool = False  # the sim has looked for the gate it created
    done: bool = False
    _turn: threading.Event = field(default_factory=threading.Event)
    _parked: threading.Event = field(default_factory=threading.Event)
    _stopping: bool = False
    thread: threading.Thread | None = None

    def start(self, name: str) -> None:
        self.hook.sleep = self._nap
        self.thread = threading.Thread(target=self._main, name=name, daemon=True)
        self.thread.start()

    def _main(self) -> None:
        self._turn.wait()
        self._turn.clear()
        try:
            self.answer = self.hook.run(self.raw)  # never raises
        finally:
            self.done = True
            self._parked.set()

    def _nap(self, _seconds: float) -> None:
        self._parked.set()
        self._turn.wait()
        self._turn.clear()
        if self._stopping:
            raise HookInterrupted("the simulation is stopping")

    def resume(self, timeout: float = CALL_TIMEOUT) -> bool:
        """Let the worker run until it naps again or returns; whether it has returned."""
        if not self.done:
            self._parked.clear()
            self._turn.set()
            self._parked.wait(timeout)
        return self.done

    def stop(self) -> None:
        self._stopping = True
        self._turn.set()


@dataclass
class SimAgent:
    agent_id: int
    name: str
    area: str
    worktree: Path
    branch: str
    kind: str = "claude"
    session: str = ""
    model: str = ""
    transcript: str = ""
    state: str = "working"
    next_at: float = 0.0
    burst_left: int = 0
    calls: int = 0
    long_command: str = ""  # running while stalled; its PostToolUse comes on resume
    call: HookCall | None = None  # a gated call in flight
    call_input: tuple[str, dict] | None = None
    risky_next: bool = False
    log: Transcript | None = None  # its transcript, when the simulation writes them
    last_call_id: str = ""
    edit_rng: random.Random | None = None  # its own generator of edits (edits=True, worktree on disk)
    pending: tuple[str, str] | None = None  # (file, new text) its Edit/Write in flight writes
    memory_rng: random.Random | None = None  # its own generator of memory notes (memory=True)
    memory_ids: tuple[int, ...] = ()  # the entries its SessionStart hook injected (memory=True)

    @property
    def memory_read(self) -> int:
        """How many memory entries it read at its session start."""
        return len(self.memory_ids)


def allowed(answer: Answer) -> bool:
    """Whether a PreToolUse answer lets the call run (nothing said = the agent's own flow)."""
    if answer.exit_code != 0:
        return False
    if not answer.stdout.strip():
        return True
    try:
        out = json.loads(answer.stdout).get("hookSpecificOutput", {})
    except (ValueError, AttributeError):
        return False
    return out.get("permissionDecision") != "deny"


class Simulation:
    """A pod of simulated agents. Call `step()` often; it sends what is due."""

    def __init__(
        self,
        conn: sqlite3.Connection,
        repo: Path,
        worktrees: Sequence[tuple[Path, str]],
        *,
        seed: int | None = None,
        clock: Callable[[], float],
        stall_seconds: float = 60.0,
        speed: float = 1.0,
        pod: Path | None = None,
        risky_share: float = RISKY_SHARE,
        sam_share: float = SAM_SHARE,
        transcripts: tuple[Path, Path] | None = None,
        spender: bool = False,
        edits: bool = False,
        memory: bool = False,
    ) -> None:
        self.conn = conn
        self.repo = repo
        self.pod = Path(pod) if pod is not None else _pod_of(conn)
        self.spare = list(worktrees)
        self.sessions: Counter[Path] = Counter()  # sessions started per worktree
        self.rng = random.Random(seed)
        self.clock = clock
        self.stall_seconds = stall_seconds
        self.speed = speed  # > 1 makes everything happen faster (benchmarks)
        self.risky_share = risky_share
        self.sam_share = sam_share
        self.agents: list[SimAgent] = []
        self.sent = 0  # hook calls made and events recorded directly (memory writes not counted)
        self.sam_plan: dict[int, tuple[float, bool, str]] = {}  # gate id -> (when, approve, reason)
        # (Claude config dir, Codex home): write real transcripts there, for the ingester;
        # agents over their budget then wait for approval like a gated call.
        self.transcripts = transcripts
        self.spender = spender  # one agent starts close to its budget (the demo shows it cross)
        self.sam_decided: list[int] = []
        # Really apply Edit/Write calls to the worktrees and run `git commit` (the demo).
        self.edits = edits
        self.files_written = 0
        self.commits = 0
        self.hot: str | None = None  # the file the first two editing agents both change
        self.collided = False
        # Use the pod's shared memory: read it at session start, write notes and handoffs.
        self.memory = memory
        self.review_kinds: tuple[str, ...] = DEFAULT_REVIEW_KINDS
        self.memory_written: list[int] = []  # entry ids, in order
        self.memory_titles: set[str] = set()  # titles written, so that no note repeats
        self.memory_plan: dict[int, tuple[float, bool, str]] = {}  # entry id -> (when, accept, reason)
        self.sam_reviewed: list[int] = []  # entries sam accepted or rejected
        self.handoffs: dict[str, int] = {}  # branch -> its latest handoff entry
        self._repo_ref: str | None = None
        if memory:  # `[memory] review_kinds` of the pod: which of an agent's notes wait for review
            from loomtui.config import ConfigError, load_config

            try:
                self.review_kinds = load_config(self.pod).memory.review_kinds
            except ConfigError as exc:
                log.debug("the simulation's memory uses the default review kinds: %s", exc)

    # -- setup ---------------------------------------------------------------

    def start(self, count: int) -> None:
        """Register `count` agents with a little history, in the mix of states
        a pod that has been running for a while is in. Nothing here blocks: a
        few agents are due to try a risky action at their first step."""
        now = self.clock()
        if self.memory:
            self._seed_memory(now)
        total = min(count, len(self.spare))
        claudes = 0
        for i in range(total):
            agent = self._join(now - self.rng.uniform(300, 3600))
            last = now - self.rng.uniform(2, 20)
            for when in sorted(last - self.rng.uniform(0, 300) for _ in range(self.rng.randint(2, 6))):
                self._tool_call(agent, when)
            if agent.edit_rng is not None and agent.kind == "claude":
                claudes += 1
                self._opening_edit(agent, last - 0.5, force=claudes >= 3 or i >= total - 2)
            self._tool_call(agent, last)
            agent.burst_left = self.rng.randint(2, 8)
            roll = self.rng.random()
            if roll < 0.12:
                self._ask(agent, last + 1)
            elif roll < 0.27:
                self._stop_turn(agent, last + 1)
                self._later(agent, now, 5, 40)
            elif roll < 0.33:
                self._long_command(agent, now - self.stall_seconds - self.rng.uniform(5, 90))
                self._later(agent, now, 20, 60)
            elif roll < 0.37:
                self._fail(agent, last + 1)
            elif roll < 0.45:
                self._end(agent, last + 1)
            elif roll < 0.55:
                agent.risky_next = True  # the demo opens with gates in the inbox
                agent.next_at = now
            else:
                self._later(agent, now, 0, 4)

    def _join(self, now: float) -> SimAgent:
        worktree, branch = self.spare.pop(0)
        self.sessions[worktree] += 1
        area = self.rng.choice(sorted(AREAS))
        session = str(uuid.UUID(int=self.rng.getrandbits(128)))
        kind, model, _ = self.rng.choices(MODELS, [w for *_, w in MODELS])[0]
        spending = self.spender and self.transcripts is not None and kind == "claude"
        if spending:
            self.spender, model = False, "claude-opus-4-5"
        config_dir, codex_home = self.transcripts or (self.repo.parent / ".claude", self.repo.parent / ".codex")
        if kind == "claude":
            transcript = claude_path(config_dir, worktree, session)
        else:
            transcript = codex_path(codex_home, session, now)
        agent = SimAgent(0, "", area, worktree, branch, kind=kind, session=session, model=model,
                         transcript=str(transcript))
        if self.transcripts is not None:
            agent.log = Transcript(kind, transcript, session=session, cwd=worktree, branch=branch,
                                   model=model, rng=random.Random(session))
            agent.log.start(now)
            if spending:  # forty busy minutes already behind it: close to its budget
                for i in range(SPENDER_BACKLOG):
                    agent.log.tool_use(now - 2400 + i * 2400 / SPENDER_BACKLOG, "Read",
                                       {"file_path": str(worktree / "src" / "app.py")}, f"toolu_old{i:04d}",
                                       scale=2.0)
        data = self._event(agent, "SessionStart", source="startup", model=model)
        answer = self._hook(agent, now, data)
        agent.agent_id, agent.name = self.conn.execute(
            "SELECT id, name FROM agents WHERE session_id = ?", (session,)).fetchone()
        if self.memory:  # it reads what the hook injected
            agent.memory_ids = context_entries(answer)
            agent.memory_rng = random.Random(f"memory:{session}")
        if self.edits and (worktree / ".git").exists():
            agent.edit_rng = random.Random(f"edits:{session}")
        if not (worktree / ".git").exists():
            # The hook found no git checkout there (the benchmark's pods have no
            # worktrees on disk): fill in where the agent works, as `loomtui
            # init` would know it.
            upsert_agent(self.conn, kind=kind, now=now, session_id=session, repo=str(self.repo),
                         worktree=str(worktree), branch=branch)
        self._prompt(agent, now, f"task: {TASKS[area]}")
        agent.burst_left = self.rng.randint(3, 12)
        self.agents.append(agent)
        return agent

    # -- running -------------------------------------------------------------

    def step(self) -> int:
        """Advance every agent that is due; returns how many hook calls and
        direct records it made. Agents whose call waits for a gate are left
        alone until their answer comes."""
        before = self.sent
        now = self.clock()
        self._supervise(now)
        for agent in self.agents:
            if agent.call is not None:
                self._poll(agent, now)
        for agent in list(self.agents):
            if agent.call is None and agent.next_at <= now and agent.state != "done":
                self._advance(agent, now)
        return self.sent - before

    def close(self, timeout: float = 2.0) -> None:
        """Stop the calls in flight: each hook cancels its gate and answers deny."""
        calls = [a.call for a in self.agents if a.call is not None]
        for call in calls:
            call.stop()
        for call in calls:
            if call.thread is not None:
                call.thread.join(timeout)

    def in_flight(self) -> int:
        return sum(a.call is not None for a in self.agents)

    def _later(self, agent: SimAgent, now: float, low: float, high: float) -> None:
        agent.next_at = now + self.rng.uniform(low, high) / self.speed

    def _advance(self, agent: SimAgent, now: float) -> None:
        rng = self.rng
        if agent.risky_next:
            agent.risky_next = False
            self._risky(agent, now)
            return
        if agent.state == "working" and agent.burst_left > 0:
            agent.burst_left -= 1
            if rng.random() < self.risky_share:
                self._risky(agent, now)
            else:
                self._tool_call(agent, now)
                self._later(agent, now, 0.4, 4.0)
            return
        if agent.state != "working":  # back to work after a question, idling, stalling, erring
            if agent.state == "stalled":
                self._post(agent, now, "Bash", {"command": agent.long_command,
                                                "description": "Long-running command"})
                agent.long_command = ""
            elif agent.state == "waiting":
                self._prompt(agent, now, rng.choice(ANSWERS))
            elif agent.state == "idle":
                self._prompt(agent, now, rng.choice(PROMPTS))
            else:  # error: the person types "continue"
                self._prompt(agent, now, "continue")
            agent.state = "working"
            agent.burst_left = rng.randint(3, 12)
            self._later(agent, now, 0.5, 2.0)
            return
        roll = rng.random()
        if roll < 0.25:
            self._ask(agent, now)
        elif roll < 0.65:
            self._stop_turn(agent, now)
            self._later(agent, now, 5, 40)
        elif roll < 0.75:
            # A command that runs on silently: the console shows the agent as
            # stalled once stall_seconds pass without activity.
            self._long_command(agent, now)
            self._later(agent, now, self.stall_seconds + 10, self.stall_seconds + 60)
        elif roll < 0.81:
            self._fail(agent, now)
        elif roll < 0.83:
            # The session ends; its worktree goes back to the pool and a new
            # session starts in the next free one, so the pod stays busy.
            self._end(agent, now)
            self.spare.append((agent.worktree, agent.branch))
            joiner = self._join(now + 0.001)
            joiner.next_at = now + rng.uniform(5, 20) / self.speed
        else:
            agent.burst_left = rng.randint(2, 6)
            self._later(agent, now, 0.4, 3.0)

    # -- what agents do ------------------------------------------------------

    def _tool_call(self, agent: SimAgent, now: float) -> None:
        """An ordinary tool call: PreToolUse (the policy lets it through), then PostToolUse."""
        rng = self.rng
        path = rng.choice(AREAS[agent.area])
        tool = rng.choices(["Read", "Edit", "Bash", "Grep", "Write"], [5, 4, 4, 2, 1])[0]
        if agent.kind == "codex" and tool != "Bash":  # Codex reports its shell commands only
            tool, command = "Bash", rng.choice([f"sed -n 1,120p {path}", f"rg -n 'def ' {path}"])
        else:
            command = rng.choice(
                [f"pytest -q {path if path.startswith('tests') else 'tests'}", "git status",
                 "git diff --stat", "ruff check src", f"git commit -am 'wip: {agent.area}'"])
        if tool in ("Edit", "Write") and "migrations/" in path:
            tool = "Read"  # changing a migration is one of the risky actions
        absolute = str(agent.worktree / path)
        if tool == "Bash":
            tool_input: dict[str, Any] = {"command": command, "description": "Run " + command.split()[0]}
        elif tool == "Read":
            tool_input = {"file_path": absolute}
        elif tool == "Edit":
            tool_input = {"file_path": absolute, "old_string": "pass", "new_string": "return None",
                          "replace_all": False}
        elif tool == "Write":
            tool_input = {"file_path": absolute, "content": f"# {TASKS[agent.area]}\n"}
        else:
            tool_input = {"pattern": "def ", "path": path.rsplit("/", 1)[0] if "/" in path else ".",
                          "output_mode": "content"}
        if agent.edit_rng is not None and tool in ("Edit", "Write"):
            tool_input = self._plan_edit(agent, tool, path)  # what it really changes
        if self._over_budget(agent, now):
            self._wait_call(agent, now, tool, tool_input)  # the budget gate waits for someone
            return
        answer = self._pre(agent, now, tool, tool_input)
        if answer is not None and allowed(answer):
            self._post(agent, now, tool, tool_input)
            if agent.memory_rng is not None and agent.memory_rng.random() < MEMORY_SHARE:
                self._note(agent, now)

    # -- real edits (edits=True) ---------------------------------------------

    def _opening_edit(self, agent: SimAgent, now: float, force: bool) -> None:
        """An Edit in a Claude agent's history before the pod runs. The first
        one changes a file that two areas share (the "hot" file); the next agent
        whose area has that file changes it too, so two worktrees collide from
        the start (`force`: a later one changes it whatever its area, so that
        a small pod collides too). Uses only the agent's own generator."""
        rng = agent.edit_rng
        assert rng is not None
        editable = [p for p in AREAS[agent.area] if not p.startswith("migrations/")]
        if self.hot is None:
            shared = [p for p in editable if sum(p in paths for paths in AREAS.values()) > 1]
            path = self.hot = rng.choice(shared or ["README.md"])
        elif not self.collided and (self.hot in editable or force):
            path, self.collided = self.hot, True
        else:
            path = rng.choice(editable)
        tool_input = self._plan_edit(agent, "Edit", path)
        answer = self._pre(agent, now, "Edit", tool_input)
        if answer is not None and allowed(answer):
            self._post(agent, now, "Edit", tool_input, rng=rng)
        else:
            agent.pending = None

    def _plan_edit(self, agent: SimAgent, tool: str, path: str) -> dict[str, Any]:
        """The tool input of a real Edit (of `path`) or Write (of a new file of
        the agent's area), from the file as it is now; the new text waits in
        `agent.pending` until the call runs (`_apply`)."""
        rng = agent.edit_rng
        assert rng is not None
        if tool == "Write":
            path = rng.choice(NEW_FILES[agent.area])
        target = agent.worktree / path
        try:
            text = target.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            text = ""
        words = WORDS[agent.area]
        if not text:
            new = _new_file(rng, path, words, TASKS[agent.area])
            old_string, new_string = "", new
        else:
            base = text.rstrip("\n") + "\n"
            lines = base.splitlines(keepends=True)
            changeable = [i for i, line in enumerate(lines)
                          if line.strip() and not line.lstrip().startswith(_FIXED)]
            changed = None
            if changeable and (len(base) > EDIT_CAP or rng.random() < 0.45):
                i = rng.choice(changeable)
                changed = _changed_line(rng, lines[i], path, words)
            if changed is not None:
                old_string, new_string = lines[i], changed
                new = "".join(lines[:i]) + changed + "".join(lines[i + 1:])
            else:  # something new at the end
                old_string = lines[-1]
                new_string = old_string + _block(rng, path, words)
                new = "".join(lines[:-1]) + new_string
        absolute = str(target)
        agent.pending = (absolute, new)
        if tool == "Write":
            return {"file_path": absolute, "content": new}
        return {"file_path": absolute, "old_string": old_string, "new_string": new_string,
                "replace_all": False}

    def _apply(self, agent: SimAgent, now: float, tool: str, tool_input: dict[str, Any]) -> None:
        """What an allowed call does to the worktree: an Edit or Write changes
        its file, `git commit` commits. Never fails the simulation."""
        pending, agent.pending = agent.pending, None
        if tool in ("Edit", "Write"):
            file_path = str(tool_input.get("file_path", ""))
            if pending is not None and pending[0] == file_path:
                text = pending[1]
            elif tool == "Write":  # e.g. an approved risky Write (a migration)
                text = str(tool_input.get("content", ""))
            else:
                return
            target = Path(os.path.normpath(file_path))
            if not target.is_relative_to(agent.worktree) or ".git" in target.parts:
                return  # never outside the agent's own worktree
            try:
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_text(text, encoding="utf-8")
                self.files_written += 1
            except OSError as exc:
                log.debug("simulated %s of %s: %s", tool, file_path, exc)
        elif tool == "Bash":
            command = str(tool_input.get("command", ""))
            if not command.startswith("git commit "):
                return  # the other commands are only reported
            try:
                args = shlex.split(command)[1:]
            except ValueError:
                return
            if agent_git(agent.worktree, args, name=agent.name or "agent", when=now):
                self.commits += 1

    def _over_budget(self, agent: SimAgent, now: float) -> bool:
        if self.transcripts is None:
            return False
        if self.conn.execute("SELECT 1 FROM budget_state WHERE fraction >= 1.0 LIMIT 1").fetchone() is None:
            return False
        from loomtui.store.budgets import over_budget

        return bool(over_budget(self.conn, agent.agent_id, str(self.repo), now))

    def _risky(self, agent: SimAgent, now: float) -> None:
        """A risky action: the policy gates it, so the call waits in a worker
        thread for a supervisor (or is denied at once)."""
        rng = self.rng
        choices = [r for r in RISKY if agent.kind == "claude" or r[1] == "Bash"]
        _, tool, what, extra = rng.choices(choices, [r[0] for r in choices])[0]
        if tool == "Bash":
            tool_input: dict[str, Any] = {"command": what.format(branch=agent.branch), "description": extra}
        else:
            tool_input = {"file_path": str(agent.worktree / what), "content": extra}
        self._wait_call(agent, now, tool, tool_input)

    def _wait_call(self, agent: SimAgent, now: float, tool: str, tool_input: dict[str, Any]) -> None:
        """A call that waits for a supervisor, in a worker thread (see HookCall)."""
        call_id = self._tool_use_id(agent)
        if agent.log is not None:
            agent.log.tool_use(now, tool, tool_input, call_id)
            agent.last_call_id = call_id
        data = self._event(agent, "PreToolUse", tool_name=tool, tool_input=tool_input,
                           tool_use_id=call_id)
        hook = Hook(agent=agent.kind, pod=self.pod, clock=self.clock, simulated=True)
        call = HookCall(hook, json.dumps(data).encode())
        agent.call, agent.call_input = call, (tool, tool_input)
        agent.state = "waiting"
        self.sent += 1
        call.start(f"loomtui-sim-{agent.name}")
        self._poll(agent, now)

    def _poll(self, agent: SimAgent, now: float) -> None:
        """Let the agent's waiting call look at its gate once; react to its answer."""
        call = agent.call
        assert call is not None and agent.call_input is not None
        first = not call.looked
        done = call.resume()
        if first:
            call.looked = True
            row = None if done else self.conn.execute(
                "SELECT id FROM gates WHERE agent_id = ? AND status = 'pending' ORDER BY id DESC LIMIT 1",
                (agent.agent_id,)).fetchone()
            if row is not None:
                call.gate_id = row[0]
                self._plan(row[0], now)
        if not done:
            return
        agent.call = None
        tool, tool_input = agent.call_input
        agent.call_input = None
        agent.state = "working"
        if call.answer is not None and allowed(call.answer):
            self._post(agent, now, tool, tool_input)
        # Denied: the hook recorded why; the agent goes on with other work.
        agent.burst_left = max(agent.burst_left, self.rng.randint(1, 4))
        self._later(agent, now, 1.0, 5.0)

    def _plan(self, gate_id: int, now: float) -> None:
        """Whether sam will decide this gate, when, and how."""
        if self.rng.random() >= self.sam_share:
            return
        approve = self.rng.random() < 0.75
        reason = self.rng.choice(APPROVE_REASONS if approve else REJECT_REASONS)
        self.sam_plan[gate_id] = (now + self.rng.uniform(30, 90) / self.speed, approve, reason)

    def _supervise(self, now: float) -> None:
        """Sam decides the gates that are due, unless someone claimed or decided them first."""
        for gate_id in sorted(g for g, plan in self.sam_plan.items() if plan[0] <= now):
            _, approve, reason = self.sam_plan.pop(gate_id)
            try:
                gate = get_gate(self.conn, gate_id)
                if gate.status != "pending" or (gate.claimed_by and gate.claimed_by != SAM):
                    continue
                decide(self.conn, gate_id, approve=approve, actor=SAM_DECIDER.account,
                       display=SAM_DECIDER.display, simulated=True, reason=reason, now=now)
                self.sam_decided.append(gate_id)
            except GateError:
                continue  # decided at the console meanwhile, or expired
        if self.memory_plan:
            self._review(now)

    def _ask(self, agent: SimAgent, now: float) -> None:
        question = self.rng.choice(QUESTIONS)
        if agent.kind == "claude":
            self._hook(agent, now, self._event(agent, "Notification", message=question,
                                               title="Claude Code", notification_type="permission_prompt"))
            agent.state = "waiting"
            self._later(agent, now, 8, 45)
        else:  # Codex has no Notification hook: it ends its turn with the question
            self._stop_turn(agent, now, question)
            self._later(agent, now, 8, 45)

    def _stop_turn(self, agent: SimAgent, now: float, message: str = "turn finished") -> None:
        self._hook(agent, now, self._event(agent, "Stop", stop_hook_active=False,
                                           last_assistant_message=message))
        agent.state = "idle"

    def _long_command(self, agent: SimAgent, now: float) -> None:
        agent.long_command = self.rng.choice(LONG_COMMANDS)
        self._pre(agent, now, "Bash", {"command": agent.long_command, "description": "Long-running command"})
        agent.state = "stalled"  # the store says working; the console derives stalled

    def _fail(self, agent: SimAgent, now: float) -> None:
        error = self.rng.choice(ERRORS)
        self._record(agent, now, "error", summary=error, status="error", reason=error)

    def _end(self, agent: SimAgent, now: float) -> None:
        if agent.memory_rng is not None:
            self._handoff(agent, now)
        if agent.kind == "claude":
            self._hook(agent, now, self._event(agent, "SessionEnd", reason="prompt_input_exit"))
        else:  # Codex has no SessionEnd hook: its rollout ends, and the ingester says so
            self._record(agent, now, "session_end", summary="session ended (exit)", status="done", reason="")
        agent.state = "done"

    def _prompt(self, agent: SimAgent, now: float, prompt: str) -> None:
        self._hook(agent, now, self._event(agent, "UserPromptSubmit", prompt=prompt))
        if agent.log is not None:
            agent.log.prompt(now, prompt)
        agent.state = "working"

    # -- shared memory (memory=True) -----------------------------------------

    def repo_ref(self) -> str:
        """The repository as the hook records it on the agents (the scope_ref of
        "repo" entries, so that SessionStart finds them): the main tree a worktree
        points to, else the repository path the simulation was given."""
        if self._repo_ref is None:
            ref = None
            for worktree, _ in [*self.spare, *((a.worktree, a.branch) for a in self.agents)]:
                if (worktree / ".git").exists():
                    ref = locate(str(worktree)).repo
                    break
            self._repo_ref = ref or str(self.repo)
        return self._repo_ref

    def _seed_memory(self, now: float) -> None:
        """The supervisors' notes of a pod that has been running for days (only into
        an empty memory): two pinned conventions, a few decisions, facts, a warning."""
        if self.conn.execute("SELECT 1 FROM memory LIMIT 1").fetchone() is not None:
            return
        repo = self.repo_ref()
        for name, kind, title, body, tags, scope, pinned, days in SEED_MEMORY:
            try:
                add(self.conn, kind=kind, title=title, body=body, tags=tags, scope=scope,
                    scope_ref=repo if scope == "repo" else None, author=supervisor(name),
                    pinned=pinned, now=now - days * 86400)
                self.memory_titles.add(title)
            except (EntryError, sqlite3.OperationalError) as exc:  # never fails the simulation
                log.debug("seeding the simulated memory: %s", exc)

    def _author(self, agent: SimAgent) -> Author:
        worktree = str(agent.worktree)
        return Author(name=agent.name, kind="agent", agent_id=agent.agent_id, session_id=agent.session,
                      worktree=worktree, commit_sha=head_commit(worktree), repo=self.repo_ref())

    def _note(self, agent: SimAgent, now: float) -> None:
        """A decision, fact or warning about the agent's area, written as the agent
        (a decision waits for review); nothing if the area has nothing new to say."""
        rng = agent.memory_rng
        assert rng is not None
        kind = rng.choices([k for k, _ in MEMORY_KINDS], [w for _, w in MEMORY_KINDS])[0]
        fresh = [n for n in MEMORY_NOTES[agent.area] if n[1] not in self.memory_titles]
        same = [n for n in fresh if n[0] == kind]
        if same or fresh:
            kind, title, body = rng.choice(same or fresh)
        else:
            title, body = _made_up_note(rng, agent.area, kind)
            if title in self.memory_titles:
                return
        scope = "pod" if rng.random() < MEMORY_POD_SHARE else "repo"
        tags = [agent.area, *rng.sample(WORDS[agent.area], 2)]
        entry = self._write_memory(agent, now, kind=kind, title=title, body=body, tags=tags, scope=scope)
        if entry is None or entry.status != "proposed":
            return
        if rng.random() < SAM_MEMORY_SHARE:  # sam reviews it; otherwise it waits for the console
            approve = rng.random() < 0.7
            reason = "" if approve else rng.choice(SAM_MEMORY_REASONS)
            self.memory_plan[entry.id] = (now + rng.uniform(30, 90) / self.speed, approve, reason)

    def _handoff(self, agent: SimAgent, now: float) -> None:
        """At session end: what was done and what is left, for whoever picks the
        branch up next. It supersedes the branch's previous handoff."""
        rng = agent.memory_rng
        assert rng is not None
        noun, other = rng.sample(WORDS[agent.area], 2)
        files = ", ".join(f"`{p}`" for p in AREAS[agent.area][:2])
        left = rng.sample(HANDOFF_LEFT, 2)
        body = (f"Stopping after {agent.calls} tool calls on `{agent.branch}`; the next session in "
                f"`{agent.worktree.name}` can pick it up.\n\n"
                f"**Done**\n- {TASKS[agent.area]}: most of it, in {files}\n"
                f"- tests pass locally (`make test-fast`)\n\n"
                "**Left**\n" + "".join(f"- {item.format(noun=noun, other=other)}\n" for item in left) +
                f"\n**Watch out**\n- the {noun} {rng.choice(NOTE_PROBLEMS).format(other=other)}")
        title = f"Handoff: {TASKS[agent.area]} ({agent.branch})"
        previous = self.handoffs.get(agent.branch)
        tags = [agent.area, "handoff", noun]
        entry = self._write_memory(agent, now, kind="handoff", title=title, body=body, tags=tags,
                                   scope="repo", supersedes=previous)
        if entry is None and previous is not None:  # the old one was retired meanwhile
            entry = self._write_memory(agent, now, kind="handoff", title=title, body=body, tags=tags,
                                       scope="repo")
        if entry is not None:
            self.handoffs[agent.branch] = entry.id

    def _write_memory(self, agent: SimAgent, now: float, *, kind: str, title: str, body: str,
                      tags: list[str], scope: str, supersedes: int | None = None) -> Entry | None:
        try:
            entry = add(self.conn, kind=kind, title=title, body=body, tags=tags, scope=scope,
                        scope_ref=self.repo_ref() if scope == "repo" else None,
                        author=self._author(agent), supersedes=supersedes,
                        review_kinds=self.review_kinds, now=now)
        except (EntryError, sqlite3.OperationalError) as exc:  # e.g. the store busy: no note
            log.debug("simulated memory write by %s: %s", agent.name, exc)
            return None
        self.memory_titles.add(title)
        self.memory_written.append(entry.id)
        return entry

    def _review(self, now: float) -> None:
        """Sam accepts or rejects the proposals that are due, unless someone at the
        console reviewed them first (then the version moved on and sam leaves it)."""
        for entry_id in sorted(e for e, plan in self.memory_plan.items() if plan[0] <= now):
            _, approve, reason = self.memory_plan.pop(entry_id)
            try:
                if approve:
                    accept_entry(self.conn, entry_id, author=supervisor(SAM), expected_version=1, now=now)
                else:
                    reject_entry(self.conn, entry_id, author=supervisor(SAM), reason=reason,
                                 expected_version=1, now=now)
                self.sam_reviewed.append(entry_id)
            except (EntryError, sqlite3.OperationalError):
                continue  # reviewed or edited at the console meanwhile (or the store was busy)

    # -- the hook JSON -------------------------------------------------------

    def _event(self, agent: SimAgent, name: str, **fields: Any) -> dict[str, Any]:
        """The common fields of a hook event (formats reference, section 1)."""
        data: dict[str, Any] = {"session_id": agent.session, "transcript_path": agent.transcript,
                                "cwd": str(agent.worktree), "hook_event_name": name}
        if agent.kind == "claude":
            data["permission_mode"] = "default"
        else:
            data["model"] = agent.model
            data["turn_id"] = f"turn-{agent.calls // 8 + 1}"
        data.update(fields)
        return data

    def _tool_use_id(self, agent: SimAgent) -> str:
        agent.calls += 1
        prefix = "toolu_01" if agent.kind == "claude" else "call_"
        return f"{prefix}{agent.session.replace('-', '')[:12]}{agent.calls:05d}"

    def _pre(self, agent: SimAgent, now: float, tool: str, tool_input: dict) -> Answer | None:
        call_id = self._tool_use_id(agent)
        if agent.log is not None:  # the model's response asking for the tool comes first
            agent.log.tool_use(now, tool, tool_input, call_id)
            agent.last_call_id = call_id
        data = self._event(agent, "PreToolUse", tool_name=tool, tool_input=tool_input,
                           tool_use_id=call_id)
        return self._hook(agent, now, data)

    def _post(self, agent: SimAgent, now: float, tool: str, tool_input: dict,
              rng: random.Random | None = None) -> None:
        if agent.edit_rng is not None:  # the call runs: the file changes, or git commits
            self._apply(agent, now, tool, tool_input)
        if tool == "Bash":
            response: dict[str, Any] = {"stdout": "", "stderr": "", "interrupted": False, "isImage": False}
        else:
            response = {"filePath": tool_input.get("file_path", ""), "success": True}
        data = self._event(agent, "PostToolUse", tool_name=tool, tool_input=tool_input,
                           tool_response=response, tool_use_id=f"{agent.session[:8]}-{agent.calls}",
                           duration_ms=(rng or self.rng).randint(20, 4000))
        self._hook(agent, now, data)
        if agent.log is not None:
            agent.log.tool_result(now, agent.last_call_id)

    def _hook(self, agent: SimAgent, now: float, data: dict[str, Any]) -> Answer:
        """One hook call, inline, stamped `now`. A call that the policy gates
        does not wait here: its nap cancels the gate and it is denied (the sim
        sends gated calls through `_risky`, in a worker)."""

        def no_wait(_seconds: float) -> None:
            raise HookInterrupted("an unexpected gate in an inline simulated call")

        hook = Hook(agent=agent.kind, pod=self.pod, clock=lambda: now, sleep=no_wait, simulated=True)
        self.sent += 1
        return hook.run(json.dumps(data).encode())

    def _record(self, agent: SimAgent, now: float, kind: str, *, summary: str,
                status: str | None = None, reason: str | None = None) -> None:
        """What no hook reports, written as the transcript ingester would."""
        record_event(self.conn, agent.agent_id, kind=kind, now=now, summary=summary,
                     payload={"simulated": True, "source": "transcript"}, status=status,
                     status_reason=reason)
        if status is not None:
            agent.state = status
        self.sent += 1


def _pod_of(conn: sqlite3.Connection) -> Path:
    """The pod directory of the store `conn` is open on."""
    for _seq, name, file in conn.execute("PRAGMA database_list"):
        if name == "main" and file:
            return Path(file).parent
    raise ValueError("the simulation needs a store on disk (its hooks open their own connections)")



def context_entries(answer: Answer) -> tuple[int, ...]:
    """The ids of the memory entries a SessionStart answer injected, in order."""
    if not answer.stdout.strip():
        return ()
    try:
        text = json.loads(answer.stdout)["hookSpecificOutput"]["additionalContext"]
    except (ValueError, KeyError, TypeError):
        return ()
    return tuple(int(i) for i in _CONTEXT_ENTRY.findall(text)) if isinstance(text, str) else ()


def _made_up_note(rng: random.Random, area: str, kind: str) -> tuple[str, str]:
    """A note about the area once its written notes are all in memory: a title and
    a Markdown body, from the area's files and words."""
    words = WORDS[area]
    noun, other = rng.sample(words, 2)
    verb = rng.choice(VERBS)
    path = rng.choice(AREAS[area] + NEW_FILES[area])
    task = TASKS[area]
    if kind == "decision":
        return (f"{verb.capitalize()} the {noun} before the {other} in {path}",
                f"Agreed while working on: {task}. `{verb}_{noun}()` runs first, so the {other} never "
                f"sees an unchecked {noun}.\n\n- callers in `{path}` change with it\n"
                f"- `test_{verb}_{noun}_{rng.choice(TEST_CASES)}` covers it")
    if kind == "warning":
        problem = rng.choice(NOTE_PROBLEMS).format(other=other)
        return (f"{path}: the {noun} {problem}",
                f"Found while working on: {task}.\n\n- seen in `{verb}_{noun}()`\n"
                f"- check the {other} before relying on it")
    return (f"{verb}_{noun}() in {path} is {rng.choice(NOTES)}",
            f"Found while working on: {task}.\n\n- `{verb}_{noun}()` takes the {noun}s and an "
            f"optional {other}\n- covered by `test_{verb}_{noun}_{rng.choice(TEST_CASES)}`")


# -- generated code and prose for real edits -------------------------------------


def _new_file(rng: random.Random, path: str, words: list[str], task: str) -> str:
    """The first text of a new file (or of an empty one)."""
    if path.endswith(".md"):
        title = path.rsplit("/", 1)[-1][:-3].replace("_", " ").capitalize()
        return f"# {title}\n\nNotes written while working on: {task}.\n" + _block(rng, path, words)
    if path.endswith(".py"):
        if "/tests/" in f"/{path}":
            return "import pytest\n" + _block(rng, path, words)
        return f'"""{words[0].capitalize()} helpers ({task})."""\n' + _block(rng, path, words)
    return f"-- {task}\n"


def _block(rng: random.Random, path: str, words: list[str]) -> str:
    """A few new lines to append: a function, a test, a section or a list item."""
    noun, other = rng.sample(words, 2)
    verb = rng.choice(VERBS)
    note = rng.choice(NOTES)
    if path.endswith(".md"):
        if rng.random() < 0.5:
            return f"- `{noun}`: {note}.\n"
        return (f"\n## {verb.capitalize()} the {noun}\n\n"
                f"Run `make {verb}-{noun}` before you change the {other}; it is {note}.\n")
    if path.endswith(".sql"):
        return f"-- {noun}: {note}\n"
    if "/tests/" in f"/{path}":
        literal = rng.choice(["[]", "{}", "0", "''", f"'{other}'", str(rng.randint(2, 99))])
        return (f"\n\ndef test_{verb}_{noun}_{rng.choice(TEST_CASES)}():\n"
                f"    {noun} = {literal}\n    assert {noun} == {literal}\n")
    body = rng.choice(PY_BODIES).format(a=f"{noun}s", b=other, noun=noun, n=rng.randint(3, 50))
    return (f"\n\ndef {verb}_{noun}({noun}s, {other}=None):\n"
            f'    """{verb.capitalize()} the {noun}s ({note})."""\n' + body)


def _changed_line(rng: random.Random, line: str, path: str, words: list[str]) -> str | None:
    """A changed version of one line (a number moved, a comment added or
    reworded), or None when there is nothing sensible to change."""
    body = line.rstrip("\n")
    number = _NUMBER.search(body)
    if number is not None and rng.random() < 0.6:
        old = number.group()
        if "." in old:
            new = f"{float(old) + rng.choice([0.01, 0.05, 0.1]):.2f}".rstrip("0")
        else:
            new = str(int(old) + rng.randint(1, 9))
        return body[:number.start()] + new + body[number.end():] + "\n"
    note = f"{rng.choice(words)}: {rng.choice(NOTES)}"
    if path.endswith(".md"):
        return body.split("; ")[0].rstrip(".") + f"; {note}.\n"
    if path.endswith(".py"):
        changed = body.split("  # ")[0] + f"  # {note}\n"
        return changed if changed != line else None
    return None
