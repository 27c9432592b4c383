"""The scripted material the simulated pod draws from; nothing here runs.

Names, the areas of the repository with their files and tasks, the models, the
risky actions and their weights, questions and answers, prompts, errors, long
commands, the teammate's reasons, the words and templates of real edits, and the
shared memory's notes (the supervisors' notes a demo pod starts with, and what
agents learn about each area). The engine and its behaviours pick from these
lists with seeded generators: changing a list changes what a seed replays.
"""

from __future__ import annotations

SAM = "sam"  # the simulated second supervisor (teammate.py)

# -- agents and their work ---------------------------------------------------------
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
MODELS = [("claude", "claude-sonnet-4-5", 6), ("claude", "claude-opus-4-5", 3), ("codex", "gpt-5-codex", 1)]

# -- the demo's cast (engine autonomy=True, issue 14) --------------------------------
# The parts the first three Claude agents play, in the order they join.
CAST = ("drifter", "hookless", "pusher")
# The pod's Claude agents all run one model in one permission mode; the drifter (the
# first Claude agent, which is also the demo's big spender) runs another model, in
# acceptEdits: its hook payloads say so, and the fleet shows it drifting.
POD_MODEL, POD_MODE = "claude-sonnet-4-5", "default"
DRIFT_MODEL, DRIFT_MODE = "claude-opus-4-5", "acceptEdits"
# The hookless agent's spell without hooks, in seconds from the pod's start: its
# transcript keeps growing, no hook reports its calls, then its hooks come back.
HOOKLESS_SPELL = (20.0, 80.0)
# The pusher: approved pushes of its own branch before the pod starts (sam approved
# them), then a push every PUSH_EVERY seconds until PUSH_UNTIL (from the pod's start).
PUSH_HISTORY = 3
PUSH_EVERY = (8.0, 14.0)
PUSH_UNTIL = 150.0

# -- the teammate's reasons (teammate.py) ------------------------------------------
REJECT_REASONS = [
    "push after the migration lands",
    "not on a Friday; open a PR instead",
    "rebase on main first",
    "wait until the release freeze ends",
    "not from a demo branch; ask in #platform first",
]
APPROVE_REASONS = ["", "", "ok, CI is green", "go ahead"]
# Sam's one grant (teammate.py): after SAM_GRANT_AFTER approvals of one rule and shape
# for one agent, sam approves the next such gate with a grant (SAM_GRANT_DELAY seconds
# after it appears), and revokes the grant SAM_REVOKE_AFTER seconds later.
SAM_GRANT_AFTER = 3
SAM_GRANT_DELAY = (6.0, 10.0)
SAM_GRANT_SECONDS = 3600.0
SAM_REVOKE_AFTER = 40.0
SAM_GRANT_REASON = "its own branch, pushed after each commit; CI is green"
SAM_REVOKE_REASON = "release freeze from now on: every push gets a look again"
SAM_MEMORY_REASONS = [  # when sam rejects an agent's proposal
    "we settled this in the design review: keep the current behaviour",
    "too specific to one branch; put it in the PR description instead",
    "not agreed yet; raise it in #platform first",
    "duplicates what the conventions already say",
]

# -- real edits (edits.py; memory_notes.py makes up notes from the same words) -----
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

# -- shared memory (memory_notes.py) -----------------------------------------------
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

