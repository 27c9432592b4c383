"""The `loomtui` command line: argument parsing and dispatch only.

Each command imports what it needs when it runs, so `loomtui hook ...` (on
every tool call of every agent) never pays for the console's imports.
Errors go to stderr as one sentence with a non-zero exit, never a traceback.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import argparse

EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_BROKEN_PIPE = 141  # 128 + SIGPIPE: the reader of our output left


def build_parser() -> argparse.ArgumentParser:
    import argparse

    parser = argparse.ArgumentParser(
        prog="loomtui",
        description="A terminal console for supervising a pod of coding agents.",
    )
    parser.add_argument("--version", action="store_true", help="print the version and exit")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    console = commands.add_parser("console", help="open the console (the default command)")
    _console_options(console)

    demo = commands.add_parser("demo", help="a simulated pod in a temporary directory, then the console")
    demo.add_argument("--agents", type=int, default=24, metavar="N", help="simulated agents (default 24)")
    demo.add_argument("--seed", type=int, default=None, metavar="S", help="random seed, for a repeatable demo")
    demo.add_argument("--keep", action="store_true", help="keep the temporary pod and repository afterwards")
    _console_options(demo)

    init = commands.add_parser("init", help="create the pod directory with a commented config")
    init.add_argument("agent", nargs="?", choices=["claude", "codex"],
                      help="also write this agent's hook configuration into the current repository")
    init.add_argument("--print", action="store_true", dest="print_only",
                      help="show the agent configuration instead of writing it")
    init.add_argument("--no-sandbox", action="store_true", dest="no_sandbox",
                      help="do not turn on the agent's own sandbox (its commands can then write "
                           "the pod and erase its governance; a warning says so)")
    init.add_argument("--shared", metavar="GROUP",
                      help="share the pod with a Unix group: a setgid directory (2770) whose "
                           "files are group read-write (0660); without it a new pod is private (0700)")

    status = commands.add_parser("status", help="one-shot summary of the pod")
    status.add_argument("--json", action="store_true", help="one JSON document on stdout")

    agents = commands.add_parser("agents", help="every agent: status, why it waits, its governance")
    agents.add_argument("--json", action="store_true", help="one JSON document on stdout")

    hook = commands.add_parser("hook", help="hook entry point for Claude Code (and Codex's compatible hooks)")
    hook.add_argument("agent", choices=["claude", "codex"], help="which agent calls (codex: answers as Codex expects)")

    gate = commands.add_parser("gate", help="run a command only if policy (and a supervisor) allows it")
    gate.add_argument("--agent", metavar="NAME", help="the agent's name as the fleet shows it")
    gate.add_argument("argv", nargs=argparse.REMAINDER, metavar="-- CMD ARGS...")

    gates = commands.add_parser("gates", help="list gated actions (pending only, unless --all)")
    gates.add_argument("--json", action="store_true", help="one JSON document on stdout")
    gates.add_argument("--all", action="store_true", help="include decided, expired and cancelled gates")

    approve = commands.add_parser("approve", help="approve a pending gate")
    approve.add_argument("id", type=int)
    approve.add_argument("--reason", default="", help="optional note shown to the agent")
    approve.add_argument("--json", action="store_true", help="print the decided gate as one JSON document")
    approve.add_argument("--take-over", action="store_true",
                         help="decide it even though another supervisor has claimed it")
    approve.add_argument("--grant", metavar="DURATION",
                         help="also allow calls like it for this long (90s, 30m, 2h, 1d; at most 30d); "
                              "needs --reason")
    approve.add_argument("--scope", choices=["agent", "repo"],
                         help="with --grant: this agent only (the default) or every agent in its repository")
    approve.add_argument("--pattern", metavar="P",
                         help="with --grant: a narrower pattern than the call's shape (`*` is one or more words)")

    reject = commands.add_parser("reject", help="reject a pending gate (a reason is required)")
    reject.add_argument("id", type=int)
    reject.add_argument("--reason", required=True, help="shown to the agent so it can adapt")
    reject.add_argument("--json", action="store_true", help="print the decided gate as one JSON document")
    reject.add_argument("--take-over", action="store_true",
                         help="decide it even though another supervisor has claimed it")

    grants = commands.add_parser("grants", help="list grants: calls allowed without a person until they end")
    grants.add_argument("--json", action="store_true", help="one JSON document on stdout")
    grants.add_argument("--all", action="store_true", help="include revoked and expired grants")
    revoke = commands.add_parser("revoke", help="revoke a grant (a reason is required)")
    revoke.add_argument("id", type=int)
    revoke.add_argument("--reason", required=True, help="recorded with the grant and in the audit log")
    revoke.add_argument("--json", action="store_true", help="print the revoked grant as one JSON document")

    _budget_parsers(commands)

    policy = commands.add_parser("policy", help="the pod's policy for agents' actions")
    policy_commands = policy.add_subparsers(dest="policy_command", metavar="SUBCOMMAND", required=True)
    check = policy_commands.add_parser("check", help="classify an action without creating a gate")
    check.add_argument("--tool", default="Bash", help="tool name (default Bash)")
    check.add_argument("--json", action="store_true", help="one JSON document on stdout")
    check.add_argument("argv", nargs=argparse.REMAINDER, metavar="-- COMMAND")

    usage = commands.add_parser("usage", help="token usage and cost, as ingested from transcripts")
    usage.add_argument("--json", action="store_true", help="one JSON document on stdout")
    usage.add_argument("--by", default="agent",
                       choices=["agent", "session", "model", "day", "block", "repo"],
                       help="group rows by this (default agent)")
    usage.add_argument("--since", metavar="DATE", help="only usage from this day on (YYYY-MM-DD)")

    serve = commands.add_parser("serve", help="the pod service: answers hooks, ingests, watches diffs (one per pod)")
    serve.add_argument("--no-ingest", action="store_true", help="leave transcript ingest to consoles")
    serve.add_argument("--no-diffs", action="store_true", help="leave diff watching to consoles")
    serve.add_argument("--compact-every", type=float, default=300.0, metavar="SECONDS",
                       help="seconds between retention and compaction passes (default 300)")

    ingest = commands.add_parser("ingest", help="run the transcript ingester without a console")
    ingest.add_argument("--once", action="store_true", help="catch up on every transcript, then exit")

    diff = commands.add_parser("diff", help="an agent's changes against its base")
    diff.add_argument("agent", metavar="AGENT", help="agent name or session id")
    diff.add_argument("--stat", action="store_true", help="per-file counts only, no patch text")
    diff.add_argument("--json", action="store_true", help="one JSON document on stdout")

    conflicts = commands.add_parser("conflicts", help="which agents' branches would conflict when merged")
    conflicts.add_argument("--json", action="store_true", help="one JSON document on stdout")
    conflicts.add_argument("--cached", action="store_true",
                           help="what the diff service last computed, without running git now")
    conflicts.add_argument("--state", choices=["conflict", "overlap", "clean"], help="only pairs in this state")

    _memory_parser(commands)
    _store_parser(commands)
    commands.add_parser("mcp", help="MCP stdio server for agents: shared memory and pod status")

    audit = commands.add_parser("audit", help="the pod's hash-chained audit log")
    audit_commands = audit.add_subparsers(dest="audit_command", metavar="SUBCOMMAND", required=True)
    verify = audit_commands.add_parser(
        "verify", help="find edited, deleted, reordered, cut or re-chained entries, dropped "
                       "triggers, and decisions, budget limits or grants changed outside LoomTUI")
    verify.add_argument("--witness", action="append", default=[], metavar="FILE",
                        help="also check against this witness file (another user's, or a copy)")
    verify.add_argument("--expect", action="append", default=[], metavar="ID:HASH",
                        help="also check against a head printed by an earlier verify")
    verify.add_argument("--json", action="store_true", help="one JSON document on stdout")
    export = audit_commands.add_parser("export", help="print the log")
    export.add_argument("--json", action="store_true", help="one JSON document on stdout")
    return parser


def _budget_parsers(commands) -> None:
    """`loomtui budgets` (list) and `loomtui budget set|unset` (loomtui/commands/budget*.py)."""
    budgets = commands.add_parser("budgets", help="every budget and its state, over-budget first")
    budgets.add_argument("--json", action="store_true", help="one JSON document on stdout")
    budgets.add_argument("--all", action="store_true", help="include periods with no limit")
    budget = commands.add_parser("budget", help="set or remove a budget's limit (audited; raising it "
                                                "releases the budget gates it caused)")
    sub = budget.add_subparsers(dest="budget_command", metavar="SUBCOMMAND", required=True)
    for name, text in (("set", "set a limit (`none`: no limit in that unit)"),
                       ("unset", "remove a limit set here, so the config's applies again")):
        cmd = sub.add_parser(name, help=text)
        whose = cmd.add_mutually_exclusive_group(required=True)
        whose.add_argument("--agent", metavar="NAME", help="an agent's budget (its name or session id)")
        whose.add_argument("--repo", metavar="PATH", help="a repository's budget (any path inside it)")
        whose.add_argument("--pod", action="store_true", help="the whole pod's budget")
        cmd.add_argument("--period", required=True, choices=["session", "day", "block", "week"],
                         help="agent: session or day; repo: day; pod: block (5 hours) or week")
        if name == "set":
            cmd.add_argument("--limit", metavar="USD", help="dollars, or none (the unit not given keeps its limit)")
            cmd.add_argument("--tokens", metavar="N", help="tokens, or none")
        cmd.add_argument("--json", action="store_true", help="one JSON document on stdout")


def _memory_parser(commands) -> None:
    """`loomtui memory ...`; the choices are loomtui.memory.entries' KINDS etc."""
    kinds = ["decision", "convention", "fact", "warning", "todo", "handoff"]
    statuses = ["proposed", "active", "superseded", "retired", "all"]
    memory = commands.add_parser("memory", help="the pod's shared memory (entries agents read and write)")
    sub = memory.add_subparsers(dest="memory_command", metavar="SUBCOMMAND", required=True)

    def with_json(parser):
        parser.add_argument("--json", action="store_true", help="one JSON document on stdout")
        return parser

    def with_expect(parser):
        parser.add_argument("--expect", type=int, metavar="VERSION", dest="expected_version",
                            help="fail unless the entry is still at this version (compare-and-swap)")
        return parser

    add = with_json(sub.add_parser("add", help="add an entry (as the supervisor; inside an agent, as that agent)"))
    add.add_argument("title", help="one line that says it all")
    add.add_argument("--kind", required=True, choices=kinds)
    add.add_argument("--body", default="", help="Markdown text; '-' reads it from standard input")
    add.add_argument("--tags", default="", help="comma-separated words")
    add.add_argument("--scope", default="pod", choices=["pod", "repo", "agent"],
                     help="pod (everyone, the default), repo (agents in one repository), agent (one agent)")
    add.add_argument("--ref", help="scope repo: the repository (default: the current one); "
                                   "scope agent: the agent's name, session id or worktree")
    add.add_argument("--supersedes", type=int, metavar="ID", help="the entry this one replaces")
    with_expect(add)
    add.add_argument("--pin", action="store_true",
                     help="pin it: every agent's session starts with it (supervisors only)")

    search = with_json(sub.add_parser("search", help="entries matching words, most relevant first"))
    search.add_argument("query", nargs="+", help="words to look for (any may match)")
    search.add_argument("-k", "--limit", type=int, default=10, metavar="N", help="at most N entries (default 10)")
    search.add_argument("--budget", type=int, metavar="TOKENS",
                        help="only as many whole entries as fit this many tokens (as agents get them)")
    search.add_argument("--status", default="active", choices=statuses, help="default: active")

    show = with_json(sub.add_parser("show", help="one entry, with its provenance"))
    show.add_argument("id", type=int)

    listing = with_json(sub.add_parser("list", help="entries, pinned first, then newest"))
    listing.add_argument("--status", default="active", choices=statuses, help="default: active")
    listing.add_argument("--kind", choices=kinds)
    listing.add_argument("--pinned", action="store_true", help="pinned entries only")
    listing.add_argument("--limit", type=int, default=50, metavar="N", help="at most N entries (default 50)")

    retire = with_json(with_expect(sub.add_parser("retire", help="take an entry out of use (kept, with its history)")))
    retire.add_argument("id", type=int)
    retire.add_argument("--reason", default="", help="why, for the history and the audit log")

    history = with_json(sub.add_parser("history", help="every version of an entry"))
    history.add_argument("id", type=int)

    accept = with_json(with_expect(sub.add_parser("accept", help="accept an agent's proposed entry")))
    accept.add_argument("id", type=int)
    reject = with_json(with_expect(sub.add_parser("reject", help="reject a proposed entry (a reason is required)")))
    reject.add_argument("id", type=int)
    reject.add_argument("--reason", required=True, help="recorded with the entry")
    for name, text in (("pin", "pin an entry: every agent's session starts with it"),
                       ("unpin", "unpin an entry")):
        pin = with_json(with_expect(sub.add_parser(name, help=text)))
        pin.add_argument("id", type=int)

    edit = with_json(with_expect(sub.add_parser("edit", help="change an entry in place (a new version)")))
    edit.add_argument("id", type=int)
    edit.add_argument("--title")
    edit.add_argument("--body", help="Markdown text; '-' reads it from standard input")
    edit.add_argument("--tags", help="comma-separated words (replaces the tags)")
    edit.add_argument("--kind", choices=kinds)


def _store_parser(commands) -> None:
    """`loomtui store ...`: the store's upkeep (loomtui/commands/store.py SUBCOMMANDS)."""
    store = commands.add_parser("store", help="the pod store's upkeep: retention, compaction, rollups")
    sub = store.add_subparsers(dest="store_command", metavar="SUBCOMMAND", required=True)
    _store_compact_parser(sub)
    rebuild = sub.add_parser(
        "rebuild", help="recompute the usage rollups from the raw usage rows they still cover")
    rebuild.add_argument("--all", action="store_true",
                         help="recompute everything from the raw rows, forgetting usage older than them")
    rebuild.add_argument("--json", action="store_true", help="one JSON document on stdout")


def _store_compact_parser(sub) -> None:
    compact = sub.add_parser(
        "compact", help="apply [retention] (old events keep their summary, old raw usage rows go), "
                        "give freed space back and checkpoint the WAL")
    compact.add_argument("--dry-run", action="store_true",
                         help="say what would be reduced, deleted and freed; change nothing")
    compact.add_argument("--full", action="store_true",
                         help="also VACUUM the whole file once (switches an older store to incremental "
                              "vacuum; rewrites the file, needs its size in free space, twice)")
    compact.add_argument("--batch", type=int, default=2000, metavar="N",
                         help="at most N rows per write transaction (default 2000; fewer while "
                              "one takes over 40 ms)")
    compact.add_argument("--json", action="store_true", help="one JSON document on stdout")


def _console_options(parser) -> None:
    parser.add_argument("--theme", metavar="NAME", help="theme to start with (loom-dark, loom-light, loom-contrast, ...)")


def main(argv: Sequence[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if len(argv) == 2 and argv[0] == "hook" and argv[1] in ("claude", "codex"):
        # Signal handlers first, before any slow import: an early SIGTERM must
        # still answer deny (`_signal` is built in; `signal` would import enum).
        import _signal

        from loomtui.hooks.signals import interrupted

        for signum in (_signal.SIGTERM, _signal.SIGINT, _signal.SIGHUP):
            _signal.signal(signum, interrupted)
        # The hook runs on every tool call of every agent: skip argparse (and
        # the modules it pulls in) for the one shape agents call it with.
        from loomtui.commands import hook

        return hook.main(argv[1])
    try:
        try:
            return _dispatch(argv)
        finally:
            # The reader may have left (`loomtui diff NAME | head -1`): find out here, where it
            # is handled, not in the interpreter's last flush ("Exception ignored ... Broken pipe",
            # exit 120) once main has returned. Output smaller than the buffer meets it only here.
            if sys.stdout is not None:
                sys.stdout.flush()
    except BrokenPipeError:
        return _reader_left()


def _reader_left() -> int:
    """`loomtui gates --all | head`: the reader closed the pipe. Point stdout at /dev/null so
    the interpreter's final flush cannot raise again, and exit 141 (128 + SIGPIPE), what the
    shell reports for `cat` or `git` killed by SIGPIPE, with nothing on stderr. (Not SIGPIPE's
    default action itself: the console and the pod service write to sockets, where a peer
    that leaves must not kill the process.)"""
    import os

    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)
    return EXIT_BROKEN_PIPE


def _dispatch(argv: list[str]) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.version:
        from loomtui import __version__

        print(f"loomtui {__version__}")
        return 0
    command = args.command or "console"
    if command == "console" and not hasattr(args, "theme"):
        args.theme = None
    from loomtui.commands.errors import CommandError

    try:
        # Each command lives in loomtui/commands/<name>.py and is imported only
        # when it runs: `loomtui hook` must not pay for the console's imports.
        import importlib

        module = importlib.import_module(f"loomtui.commands.{command}")
        return module.run(args)
    except CommandError as exc:
        from loomtui.text import printable  # errors may quote an agent's names, paths or text

        print(f"loomtui {command}: {printable(str(exc), multiline=True)}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        return 130
