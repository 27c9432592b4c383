"""`config.toml` in the pod directory, read with tomllib into frozen dataclasses.

Unknown keys are collected as warnings (shown once by whoever loads the file)
and otherwise ignored; a file that is not valid TOML is a ConfigError naming it.
`$LOOM_CONFIG` points at another file (tests and one-off runs).
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

CONFIG_NAME = "config.toml"

DEFAULT_CONFIG_TEXT = """\
# LoomTUI pod configuration. Every key is optional; the values shown are the defaults.

[console]
# Theme at start: loom-dark, loom-light, loom-contrast, or a theme of your own
# in this pod's themes/ directory (see the user's guide).
# theme = "loom-dark"

# How often the console checks the store for changes, per second (1 to 4).
# refresh_hz = 4

# Seconds without activity after which a working agent reads as stalled.
# stall_after = 300

# Start the pod service (`loomtui serve`: hooks, ingest, diffs) when none runs.
# start_service = true

[ingest]
# Extra places transcripts are read from (examples indented), besides $CLAUDE_CONFIG_DIR (else ~/.claude and
# ~/.config/claude) and $CODEX_HOME (else ~/.codex).
#   claude_roots = ["/srv/agents/claude"]
#   codex_roots = ["/srv/agents/codex"]

# Sessions silent for longer than this (hours) still count their tokens but are not
# added to the fleet as agents.
# agent_horizon_hours = 24

[git]
# What each repository's worktrees are diffed against (default: origin/HEAD, else main,
# else master), and repositories to list even before an agent works in them.
#   bases = { "/srv/shop" = "origin/develop" }
#   repos = ["/srv/shop"]

[budgets]
# Limits in tokens and/or US dollars; no limits are set by default (the indented
# lines are examples). Leave a key out for no limit. At warn_at of a
# limit the console warns; at 100 % the agent's tool calls wait for a supervisor.
# Limits raised in the console (Budgets view, `b`) override these and are audited.
# warn_at = 0.8
# week_starts = "monday"

# [budgets.pod]            # the whole pod: the 5-hour billing block and the week
#   block_usd = 40.0
#   block_tokens = 20000000
#   week_usd = 400.0

# [budgets.agent]          # every agent: its session, and per day
#   session_usd = 10.0
#   day_usd = 25.0
#   session_tokens = 5000000

# [budgets.repo]           # every repository, per day
#   day_usd = 100.0

[keymap]
# Rebind any key by its binding id (`?` in the console lists them), for example:
# quit = "ctrl+q"
# filter = "slash,f"

[memory]
# Kinds of entry that agents write as "proposed", for a supervisor to accept or reject
# (kinds: decision, convention, fact, warning, todo, handoff). Other kinds are active at once.
# review_kinds = ["decision", "convention"]

# Tokens of shared memory and pod status the SessionStart hook adds to a new agent's
# context (an estimate: ASCII characters / 3 + other characters).
# session_budget_tokens = 2000

[retention]
# How long the store keeps what grows with history (`loomtui store compact`, see the
# user's guide). Gates, decisions, grants, memory and the audit log are never dropped.
# Days an event keeps its whole payload (the hook's JSON: tool input and response);
# after that it keeps its time, kind, tool and one-line summary.
# event_payload_days = 14
# Days raw usage rows (one per model response) are kept. Usage reports read totals
# rolled up beside them, so deleting old rows changes no report; at least 8 (the budgets' week).
# usage_days = 90

[serve]
# The pod service (`loomtui serve`) can also take Claude Code's events that never
# decide (PostToolUse, PostToolUseFailure, Notification, Stop, SubagentStop,
# SessionEnd) as HTTP hooks on 127.0.0.1, which costs the agent no process per event.
# Set a free port here, then run `loomtui init claude` again to write them. When the
# service is down those events are lost (Claude Code logs a hook error and goes on);
# the transcript ingester still counts the agent's activity and tokens. 0: off.
# http_port = 0

[notify]
# What reaches people: in the console (the bell and its pop-up notification), and
# outside it (a command, and urls sent through apprise), sent once per event by the pod
# service (or, with none running, by the hook that recorded the event), console open or not.
# Events: new gates of these risks, an agent's question (it waits on its own prompt),
# an agent over budget (its calls wait in a budget gate), an agent seen ungoverned.
# gate_risks = ["low", "medium", "high", "critical"]
# question = true
# over_budget = true
# ungoverned = true
# In the console: ring the terminal bell, show a pop-up notification.
# bell = true
# popup = true
# Outside: a command run once per event with one JSON document on stdin (a string is
# run by /bin/sh, a list as is), and apprise URLs (https://github.com/caronc/apprise:
# ntfy://, slack://, mailto://, json://, dbus:// for the desktop, ...). Examples:
#   command = "notify-send LoomTUI \"$(jq -r .title)\""
#   urls = ["ntfy://ntfy.sh/my-pod-topic"]
# command = ""
# urls = []

[record]
# An agent's record (its Record tab, `loomtui agents --json`) counts the test runs seen
# in its Bash calls: pytest, npm/pnpm/yarn test, go test, cargo test, make test|check,
# tox, and commands matching these regexes, for example:
#   test_patterns = ['^\\./scripts/run-tests', '\\bbazel test\\b']
# test_patterns = []

[grants]
# Suggest a grant (in the inbox) once an agent's calls under one rule were approved this
# many times in a row, with no rejection and its tests passing. It never grants by itself.
# suggest_after = 5
# Suggest a grant for every agent of a repository once one call (its rule and shape) was
# approved this many times in a row there, for two agents or more, never rejected (0: never).
# suggest_repo_after = 5

[governance]
# Does this pod expect every Claude Code and Codex agent to run LoomTUI's hooks? Then an
# agent seen only in its transcript (no hook ever heard from it) is marked ungoverned from
# its first line. Either way, an agent whose transcript shows tool calls its hooks never
# reported (hooks removed or disabled mid-session) is marked ungoverned. Absent: false.
require_hooks = true
# Seconds a hook may lag the transcript line of its call before the call counts as
# unreported, and seconds of calls reported again before the mark clears.
# grace = 5
# clear_after = 120

[supervisors]
# The OS accounts that may decide (approve, reject, claim, change budgets, review
# memory). Empty: the pod directory's owner, or for a shared pod (init --shared) the
# members of its group. $LOOM_USER is only a display name and grants nothing.
#   approvers = ["alice", "bob"]
# approvers = []

[baseline]
# What every agent's configuration should be (issue 14: drift). Without a pin, a field's
# baseline is its most common value among the live agents of the same kind; an agent that
# differs shows `≠` in the fleet. Pin any of: cli_version, model, permission_mode, sandbox,
# hooks, settings_user, settings_project, settings_local, instructions, instructions_repo,
# mcp_config, mcp_servers. A model pin also matches its dated ids (claude-sonnet-4-5
# matches claude-sonnet-4-5-20250929), a version pin its patch releases ("2.1" matches 2.1.40).
# Keys here apply to every kind of agent; [baseline.claude] and [baseline.codex] to one.
#   model = "claude-sonnet-4-5"
#   permission_mode = "default"
#   sandbox = "on"
# [baseline.codex]
#   model = "gpt-5-codex"
"""


class ConfigError(Exception):
    """The configuration file cannot be read; the message names it."""


@dataclass(frozen=True)
class ConsoleConfig:
    theme: str = "loom-dark"
    refresh_hz: float = 4.0
    stall_after: float = 300.0
    start_service: bool = True


@dataclass(frozen=True)
class IngestConfig:
    claude_roots: tuple[str, ...] = ()
    codex_roots: tuple[str, ...] = ()
    agent_horizon: float = 24 * 3600.0  # seconds


# Which periods each budget scope has, as the config and the store name them.
BUDGET_PERIODS = {"pod": ("block", "week"), "agent": ("session", "day"), "repo": ("day",)}
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


@dataclass(frozen=True)
class BudgetConfig:
    # (scope, period) -> (max_tokens, max_usd); either may be None (no limit of that unit)
    limits: Mapping[tuple[str, str], tuple[int | None, float | None]] = field(default_factory=dict)
    warn_at: float = 0.8
    week_starts: int = 0  # Monday


@dataclass(frozen=True)
class ServeConfig:
    http_port: int = 0  # 0: no HTTP hooks


@dataclass(frozen=True)
class GitConfig:
    bases: Mapping[str, str] = field(default_factory=dict)  # repository path -> base
    repos: tuple[str, ...] = ()


@dataclass(frozen=True)
class Config:
    console: ConsoleConfig = field(default_factory=ConsoleConfig)
    serve: ServeConfig = field(default_factory=ServeConfig)
    keymap: Mapping[str, str] = field(default_factory=dict)
    ingest: IngestConfig = field(default_factory=IngestConfig)
    budgets: BudgetConfig = field(default_factory=BudgetConfig)
    git: GitConfig = field(default_factory=GitConfig)
    memory: MemoryConfig = field(default_factory=lambda: MemoryConfig())
    supervisors: SupervisorsConfig = field(default_factory=lambda: SupervisorsConfig())
    retention: RetentionConfig = field(default_factory=lambda: RetentionConfig())
    notify: NotifyConfig = field(default_factory=lambda: NotifyConfig())
    record: RecordConfig = field(default_factory=lambda: RecordConfig())
    governance: GovernanceConfig = field(default_factory=lambda: GovernanceConfig())
    baseline: BaselineConfig = field(default_factory=lambda: BaselineConfig())
    path: Path | None = None
    warnings: tuple[str, ...] = ()


def config_path(pod: Path) -> Path:
    override = os.environ.get("LOOM_CONFIG")
    return Path(override).expanduser() if override else pod / CONFIG_NAME


def load_config(pod: Path) -> Config:
    """Read the pod's config; a missing file gives the defaults."""
    return load_config_file(config_path(pod))


def load_config_file(path: Path) -> Config:
    """Read one config file; a missing file gives the defaults."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return Config(path=None)
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror or exc}") from None
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path} is not UTF-8 text (byte {exc.start})") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path} is not valid TOML: {exc}") from None
    return parse_config(data, path)


def parse_config(data: Mapping[str, Any], path: Path | None = None) -> Config:
    where = str(path) if path else "config"
    warnings: list[str] = []
    for key in data:
        if key not in ("console", "keymap", "ingest", "budgets", "memory", "git", "supervisors",
                       "retention", "serve", "notify", "record", "grants", "governance", "baseline"):
            warnings.append(f"{where}: unknown section or key [{key}] ignored")
    console = _section(data.get("console", {}), ConsoleConfig, "console", where, warnings)
    console = ConsoleConfig(
        theme=console.theme,
        refresh_hz=min(4.0, max(1.0, float(console.refresh_hz))),
        stall_after=max(1.0, float(console.stall_after)),
        start_service=console.start_service,
    )
    keymap: dict[str, str] = {}
    raw_keymap = data.get("keymap", {})
    if isinstance(raw_keymap, Mapping):
        for binding_id, keys in raw_keymap.items():
            if isinstance(keys, str) and keys.strip():
                keymap[str(binding_id)] = keys
            else:
                warnings.append(f"{where}: [keymap] {binding_id} must be a non-empty string; ignored")
    else:
        warnings.append(f"{where}: [keymap] must be a table; ignored")
    ingest = _ingest(data.get("ingest", {}), where, warnings)
    budgets = _budgets(data.get("budgets", {}), where, warnings)
    memory = _memory(data.get("memory", {}), where, warnings)
    git = _git(data.get("git", {}), where, warnings)
    supervisors = _supervisors(data.get("supervisors", {}), where, warnings)
    retention = _retention(data.get("retention", {}), where, warnings)
    serve = _section(data.get("serve", {}), ServeConfig, "serve", where, warnings)
    if not 0 <= serve.http_port <= 65535:
        warnings.append(f"{where}: serve.http_port must be a port (1-65535) or 0; HTTP hooks off")
        serve = ServeConfig()
    notify = _notify(data.get("notify", {}), where, warnings)
    record = _record(data.get("record", {}), data.get("grants", {}), where, warnings)
    governance = _governance(data.get("governance", {}), where, warnings)
    baseline = _baseline(data.get("baseline", {}), where, warnings)
    return Config(console=console, keymap=keymap, ingest=ingest, budgets=budgets, memory=memory, git=git,
                  supervisors=supervisors, retention=retention, serve=serve, notify=notify,
                  record=record, governance=governance, baseline=baseline, path=path,
                  warnings=tuple(warnings))


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _ingest(raw: Any, where: str, warnings: list[str]) -> IngestConfig:
    if not isinstance(raw, Mapping):
        warnings.append(f"{where}: [ingest] must be a table; defaults used")
        return IngestConfig()
    roots: dict[str, tuple[str, ...]] = {}
    horizon = IngestConfig.agent_horizon
    for key, value in raw.items():
        if key in ("claude_roots", "codex_roots"):
            if isinstance(value, list) and all(isinstance(v, str) and v for v in value):
                roots[key] = tuple(value)
            else:
                warnings.append(f"{where}: ingest.{key} should be a list of paths; ignored")
        elif key == "agent_horizon_hours":
            if _number(value) and value > 0:
                horizon = float(value) * 3600
            else:
                warnings.append(f"{where}: ingest.agent_horizon_hours should be a positive number; "
                                "default used")
        else:
            warnings.append(f"{where}: unknown key ingest.{key} ignored")
    return IngestConfig(agent_horizon=horizon, **roots)


def _budgets(raw: Any, where: str, warnings: list[str]) -> BudgetConfig:
    if not isinstance(raw, Mapping):
        warnings.append(f"{where}: [budgets] must be a table; no budgets set")
        return BudgetConfig()
    limits: dict[tuple[str, str], tuple[int | None, float | None]] = {}
    warn_at, week_starts = BudgetConfig.warn_at, BudgetConfig.week_starts
    for key, value in raw.items():
        if key == "warn_at":
            if _number(value) and 0 < value < 1:
                warn_at = float(value)
            else:
                warnings.append(f"{where}: budgets.warn_at should be between 0 and 1; 0.8 used")
        elif key == "week_starts":
            if isinstance(value, str) and value.lower() in WEEKDAYS:
                week_starts = WEEKDAYS.index(value.lower())
            else:
                warnings.append(f"{where}: budgets.week_starts should be a weekday name; monday used")
        elif key in BUDGET_PERIODS and isinstance(value, Mapping):
            for name, figure in value.items():
                period, _, unit = str(name).rpartition("_")
                if period not in BUDGET_PERIODS[key] or unit not in ("tokens", "usd"):
                    known = ", ".join(f"{p}_tokens, {p}_usd" for p in BUDGET_PERIODS[key])
                    warnings.append(f"{where}: unknown key budgets.{key}.{name} ignored "
                                    f"(known: {known})")
                    continue
                if not _number(figure) or figure <= 0 or (unit == "tokens" and figure != int(figure)):
                    warnings.append(f"{where}: budgets.{key}.{name} should be a positive "
                                    f"{'whole number' if unit == 'tokens' else 'number'}; ignored")
                    continue
                tokens, usd = limits.get((key, period), (None, None))
                if unit == "tokens":
                    tokens = int(figure)
                else:
                    usd = float(figure)
                limits[(key, period)] = (tokens, usd)
        else:
            warnings.append(f"{where}: unknown section or key budgets.{key} ignored")
    return BudgetConfig(limits=limits, warn_at=warn_at, week_starts=week_starts)


def _section(raw: Any, cls: type, name: str, where: str, warnings: list[str]) -> Any:
    defaults = cls()
    if not isinstance(raw, Mapping):
        warnings.append(f"{where}: [{name}] must be a table; defaults used")
        return defaults
    known = {f.name: f for f in fields(cls)}
    values: dict[str, Any] = {}
    for key, value in raw.items():
        if key not in known:
            warnings.append(f"{where}: unknown key {name}.{key} ignored")
            continue
        expected = type(getattr(defaults, key))
        if expected is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if not isinstance(value, expected) or isinstance(value, bool) and expected is not bool:
            warnings.append(
                f"{where}: {name}.{key} should be {expected.__name__}, got {value!r}; default used"
            )
            continue
        values[key] = value
    return cls(**values)


def supervisor_name() -> str:
    """Who is at the keyboard: $LOOM_USER, else the login name."""
    name = os.environ.get("LOOM_USER")
    if name:
        return name
    try:
        return os.getlogin()
    except OSError:
        import getpass

        return getpass.getuser()


# -- [memory] -------------------------------------------------------------

MEMORY_KINDS = ("decision", "convention", "fact", "warning", "todo", "handoff")


@dataclass(frozen=True)
class MemoryConfig:
    # Kinds an agent's new entry waits in review for (status "proposed").
    review_kinds: tuple[str, ...] = ("decision", "convention")
    # What the SessionStart hook may add to a new agent's context, in estimated tokens.
    session_budget_tokens: int = 2000


def _memory(raw: Any, where: str, warnings: list[str]) -> MemoryConfig:
    if not isinstance(raw, Mapping):
        warnings.append(f"{where}: [memory] must be a table; defaults used")
        return MemoryConfig()
    review, budget = MemoryConfig.review_kinds, MemoryConfig.session_budget_tokens
    for key, value in raw.items():
        if key == "review_kinds":
            if isinstance(value, list) and all(isinstance(v, str) and v in MEMORY_KINDS for v in value):
                review = tuple(dict.fromkeys(value))
            else:
                warnings.append(f"{where}: memory.review_kinds should be a list of kinds "
                                f"({', '.join(MEMORY_KINDS)}); default used")
        elif key == "session_budget_tokens":
            if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= 100_000:
                budget = value
            else:
                warnings.append(f"{where}: memory.session_budget_tokens should be a whole number "
                                "from 0 to 100000; 2000 used")
        else:
            warnings.append(f"{where}: unknown key memory.{key} ignored")
    return MemoryConfig(review_kinds=review, session_budget_tokens=budget)


# -- [git] ----------------------------------------------------------------

def _git(raw: Any, where: str, warnings: list[str]) -> GitConfig:
    if not isinstance(raw, Mapping):
        warnings.append(f"{where}: [git] must be a table; defaults used")
        return GitConfig()
    bases: dict[str, str] = {}
    repos: tuple[str, ...] = ()
    for key, value in raw.items():
        if key == "bases":
            if isinstance(value, Mapping) and all(isinstance(k, str) and isinstance(v, str) and v
                                                  for k, v in value.items()):
                bases = {os.path.expanduser(k): v for k, v in value.items()}
            else:
                warnings.append(f"{where}: git.bases should map repository paths to base names; ignored")
        elif key == "repos":
            if isinstance(value, list) and all(isinstance(v, str) and v for v in value):
                repos = tuple(os.path.expanduser(v) for v in value)
            else:
                warnings.append(f"{where}: git.repos should be a list of paths; ignored")
        else:
            warnings.append(f"{where}: unknown key git.{key} ignored")
    return GitConfig(bases=bases, repos=repos)


# -- [supervisors] --------------------------------------------------------

@dataclass(frozen=True)
class SupervisorsConfig:
    # OS accounts that may decide; empty: the pod's owner (or its group, for a shared pod).
    approvers: tuple[str, ...] = ()


def _supervisors(raw: Any, where: str, warnings: list[str]) -> SupervisorsConfig:
    if not isinstance(raw, Mapping):
        warnings.append(f"{where}: [supervisors] must be a table; defaults used")
        return SupervisorsConfig()
    approvers: tuple[str, ...] = ()
    for key, value in raw.items():
        if key == "approvers":
            if isinstance(value, list) and all(isinstance(v, str) and v.strip() for v in value):
                approvers = tuple(dict.fromkeys(v.strip() for v in value))
            else:
                warnings.append(f"{where}: supervisors.approvers should be a list of account names; "
                                "ignored (the pod's owner decides)")
        else:
            warnings.append(f"{where}: unknown key supervisors.{key} ignored")
    return SupervisorsConfig(approvers=approvers)


# -- [retention] ----------------------------------------------------------

# The least each may be set to: a day of whole events (the console and `diff` read the
# last ones' payloads), and the 7 days the week's budget reads from raw usage rows, plus one.
RETENTION_MIN_DAYS = {"event_payload_days": 1, "usage_days": 8}
RETENTION_MAX_DAYS = 36_500


@dataclass(frozen=True)
class RetentionConfig:
    # Days an event keeps its payload; after that only its summary (and time, kind, tool).
    event_payload_days: int = 14
    # Days raw usage rows are kept (the rollups keep the totals).
    usage_days: int = 90
    # What was wrong in [retention], one sentence each. While any remains, retention drops
    # nothing: a value it cannot read may have meant "keep longer" (fail closed).
    errors: tuple[str, ...] = ()


def _retention(raw: Any, where: str, warnings: list[str]) -> RetentionConfig:
    if not isinstance(raw, Mapping):
        problem = f"{where}: [retention] must be a table"
        warnings.append(f"{problem}; retention is off until it is fixed")
        return RetentionConfig(errors=(problem,))
    values: dict[str, int] = {}
    errors: list[str] = []
    for key, value in raw.items():
        if key not in RETENTION_MIN_DAYS:
            warnings.append(f"{where}: unknown key retention.{key} ignored "
                            f"(known: {', '.join(RETENTION_MIN_DAYS)})")
            continue
        low = RETENTION_MIN_DAYS[key]
        if (isinstance(value, int) and not isinstance(value, bool)
                and low <= value <= RETENTION_MAX_DAYS):
            values[key] = value
        else:
            errors.append(f"{where}: retention.{key} should be a whole number of days from {low} "
                          f"to {RETENTION_MAX_DAYS}, got {value!r}")
    for problem in errors:
        warnings.append(f"{problem}; retention is off until it is fixed")
    return RetentionConfig(**values, errors=tuple(errors))


# -- [record] and [grants] suggest_after (issue 14) ------------------------


@dataclass(frozen=True)
class RecordConfig:
    # Extra regexes (searched in a Bash command) that mark a test run, compiled.
    test_patterns: tuple[re.Pattern, ...] = ()
    # [grants] suggest_after: approvals in a row of one agent and rule before a grant is suggested.
    suggest_after: int = 5
    # [grants] suggest_repo_after: approvals in a row of one rule and shape in a repository,
    # for two agents or more, before a grant for every agent there is suggested (0: never).
    suggest_repo_after: int = 5


def _record(raw: Any, grants: Any, where: str, warnings: list[str]) -> RecordConfig:
    patterns: list[re.Pattern] = []
    if not isinstance(raw, Mapping):
        warnings.append(f"{where}: [record] must be a table; ignored")
        raw = {}
    for key, value in raw.items():
        if key != "test_patterns":
            warnings.append(f"{where}: unknown key record.{key} ignored (known: test_patterns)")
            continue
        if not isinstance(value, list):
            warnings.append(f"{where}: record.test_patterns should be a list of regexes; ignored")
            continue
        for item in value:
            if not isinstance(item, str) or not item:
                warnings.append(f"{where}: record.test_patterns: {item!r} is not a regex; ignored")
                continue
            try:
                patterns.append(re.compile(item))
            except re.error as exc:
                warnings.append(f"{where}: record.test_patterns: {item!r} is not a regex ({exc}); ignored")
    after = 5
    if isinstance(grants, Mapping) and "suggest_after" in grants:
        value = grants["suggest_after"]
        if isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= 1000:
            after = value
        else:
            warnings.append(f"{where}: grants.suggest_after should be a whole number from 1 to 1000, "
                            f"got {value!r}; 5 used")
    repo_after = 5
    if isinstance(grants, Mapping) and "suggest_repo_after" in grants:
        value = grants["suggest_repo_after"]
        if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= 1000:
            repo_after = value
        else:
            warnings.append(f"{where}: grants.suggest_repo_after should be a whole number from 0 (never) "
                            f"to 1000, got {value!r}; 5 used")
    return RecordConfig(test_patterns=tuple(patterns), suggest_after=after, suggest_repo_after=repo_after)


# -- [notify] -------------------------------------------------------------

GATE_RISKS = ("low", "medium", "high", "critical")


@dataclass(frozen=True)
class NotifyConfig:
    """Which events notify, and how (loomtui/notify.py sends them outside the console)."""
    gate_risks: tuple[str, ...] = GATE_RISKS  # new gates of these risks
    question: bool = True  # an agent waits on its own prompt (a question)
    over_budget: bool = True  # an agent's calls wait in a budget gate
    ungoverned: bool = True  # an agent seen without sandbox, hooks, or bypassing permissions
    bell: bool = True  # the console rings the terminal bell
    popup: bool = True  # the console shows a pop-up notification
    command: tuple[str, ...] = ()  # argv (a string from the file becomes ("/bin/sh", "-c", it))
    urls: tuple[str, ...] = ()  # apprise URLs

    @property
    def outside(self) -> bool:
        """Does anything go outside the console (a sender has work)?"""
        return bool(self.command or self.urls)


def _notify(raw: Any, where: str, warnings: list[str]) -> NotifyConfig:
    if not isinstance(raw, Mapping):
        warnings.append(f"{where}: [notify] must be a table; defaults used")
        return NotifyConfig()
    values: dict[str, Any] = {}
    for key, value in raw.items():
        if key == "gate_risks":
            if isinstance(value, list) and all(isinstance(v, str) and v in GATE_RISKS for v in value):
                values[key] = tuple(dict.fromkeys(value))
            else:
                warnings.append(f"{where}: notify.gate_risks should be a list of risks "
                                f"({', '.join(GATE_RISKS)}); default used")
        elif key in ("question", "over_budget", "ungoverned", "bell", "popup"):
            if isinstance(value, bool):
                values[key] = value
            else:
                warnings.append(f"{where}: notify.{key} should be true or false; default used")
        elif key == "command":
            if isinstance(value, str):
                values[key] = ("/bin/sh", "-c", value) if value.strip() else ()
            elif isinstance(value, list) and value and all(isinstance(v, str) and v for v in value):
                values[key] = tuple(value)
            else:
                warnings.append(f"{where}: notify.command should be a command line or a list of "
                                "arguments; no command")
        elif key == "urls":
            if isinstance(value, list) and all(isinstance(v, str) and "://" in v for v in value):
                values[key] = tuple(dict.fromkeys(value))
            else:
                warnings.append(f"{where}: notify.urls should be a list of apprise URLs "
                                "(scheme://...); none used")
        else:
            warnings.append(f"{where}: unknown key notify.{key} ignored")
    return NotifyConfig(**values)


# -- [governance] ---------------------------------------------------------


@dataclass(frozen=True)
class GovernanceConfig:
    """Ungoverned agents, by evidence (loomtui/store/unreported.py). `require_hooks` is
    false when absent, so a pod from before it (or one that watches agents only for their
    tokens) does not mark its transcript-only agents; `loomtui init` writes it true."""
    require_hooks: bool = False
    grace: float = 5.0  # seconds a hook may lag the transcript line of its call
    clear_after: float = 120.0  # seconds of reported calls before the mark clears


def _governance(raw: Any, where: str, warnings: list[str]) -> GovernanceConfig:
    found = _section(raw, GovernanceConfig, "governance", where, warnings)
    grace, clear = found.grace, found.clear_after
    if not 0 <= grace <= 600:
        warnings.append(f"{where}: governance.grace should be 0 to 600 seconds; 5 used")
        grace = GovernanceConfig.grace
    if not 0 <= clear <= 86_400:
        warnings.append(f"{where}: governance.clear_after should be 0 to 86400 seconds; 120 used")
        clear = GovernanceConfig.clear_after
    return GovernanceConfig(require_hooks=found.require_hooks, grace=grace, clear_after=clear)


# -- [baseline] -------------------------------------------------------------

# The fingerprint fields an agent drifts on (loomtui/store/fingerprint.py), which
# [baseline] may pin. Here, not in the store, so the config can check its keys.
DRIFT_FIELDS = ("cli_version", "model", "permission_mode", "sandbox", "hooks", "settings_user",
                "settings_project", "settings_local", "instructions", "instructions_repo",
                "mcp_config", "mcp_servers")
BASELINE_KINDS = ("claude", "codex", "aider", "script", "sim")


@dataclass(frozen=True)
class BaselineConfig:
    """Pinned baseline values: kind ('' for every kind) -> field -> value."""
    pinned: Mapping[str, Mapping[str, str]] = field(default_factory=dict)

    def for_kind(self, kind: str) -> dict[str, str]:
        """The pins that apply to agents of `kind`: the kind's own over the general ones."""
        return {**self.pinned.get("", {}), **self.pinned.get(kind, {})}


def _baseline(raw: Any, where: str, warnings: list[str]) -> BaselineConfig:
    if not isinstance(raw, Mapping):
        warnings.append(f"{where}: [baseline] must be a table; nothing pinned")
        return BaselineConfig()
    pinned: dict[str, dict[str, str]] = {}

    def pin(kind: str, key: str, value: Any) -> None:
        name = f"baseline.{kind + '.' if kind else ''}{key}"
        if key not in DRIFT_FIELDS:
            warnings.append(f"{where}: unknown key {name} ignored (known: {', '.join(DRIFT_FIELDS)})")
        elif not isinstance(value, str):
            warnings.append(f"{where}: {name} should be a string; ignored")
        else:
            pinned.setdefault(kind, {})[key] = value

    for key, value in raw.items():
        if key in BASELINE_KINDS and isinstance(value, Mapping):
            for sub, sub_value in value.items():
                pin(key, str(sub), sub_value)
        else:
            pin("", str(key), value)
    return BaselineConfig(pinned=pinned)
