"""Policy: classification of agents' actions as allow, pass, gate or deny.

Stdlib only, and cheap to import: this runs inside `loomtui hook` on every tool call
of every agent. `policy.toml` in the pod directory holds ordered `[[rule]]` tables
(the format is documented in `default_policy_text()`); a Bash command is split into
simple commands by `loomtui.policy.shell`, which also documents what it cannot see.

    policy = load_policy(pod)
    decision = classify(policy, "Bash", {"command": "git push -f"}, cwd=..., repo=...)
    decision.action, decision.rule, decision.risk, decision.reason
"""

# No `from __future__ import annotations`: this module is on the hook path, where
# NamedTuple would compile() each string annotation (see loomtui/policy/shell/__init__.py).
import os
from pathlib import Path
from typing import NamedTuple

from loomtui.policy.defaults import DEFAULT_POLICY_TEXT
from loomtui.policy.protect import RULES as PROTECTION_RULES
from loomtui.policy.protect import Guard, check_bash, check_file
from loomtui.policy.protect import context as protection_context
from loomtui.policy.rules import ACTIONS, CALLER_HOME, FILE_TOOLS, RISKS, PolicyError, Rule, parse_rules
from loomtui.policy.shell import ShellError, SimpleCommand, analyse, inline_code

__all__ = [
    "ACTIONS", "RISKS", "FILE_TOOLS", "POLICY_NAME", "PROTECTION_RULES", "Decision", "protection_context", "Policy", "PolicyError", "Rule",
    "classify", "default_policy_text", "load_policy", "parse_policy",
]

POLICY_NAME = "policy.toml"
UNANALYSABLE_RULE = "cannot-analyse"
STRICT_RULE = "strict-interpreters"
_TOP_KEYS = ("default_action", "strict_interpreters", "rule")


class Decision(NamedTuple):
    """What to do with one action, and why."""

    action: str          # allow | pass | gate | deny
    rule: str            # the deciding rule's name ("" for the default)
    risk: str            # low | medium | high | critical
    reason: str          # one line for people and agents
    expires_after: float | None = None  # the rule's own gate expiry (seconds); None: the pod's default

    def to_json(self) -> dict[str, str]:
        return {"action": self.action, "rule": self.rule, "risk": self.risk, "reason": self.reason}


class Policy(NamedTuple):
    """A loaded policy file (or the built-in defaults)."""

    rules: tuple[Rule, ...]
    default_action: str = "pass"
    source: str = "<defaults>"
    hash: str = ""
    strict_interpreters: bool = False


def default_policy_text() -> str:
    """The commented policy.toml that `loomtui init` writes; loading it gives the defaults."""
    return DEFAULT_POLICY_TEXT


def parse_policy(text: str, source: str = "<defaults>") -> Policy:
    """A policy from TOML text; PolicyError naming `source` (and the rule) if it is wrong."""
    normalized = _normalize(text)
    return _build(_parse_toml(normalized, source), source, _digest(normalized))


def _normalize(text: str) -> str:
    return text.lstrip("\ufeff").replace("\r\n", "\n")


def _digest(normalized: str) -> str:
    try:
        from _sha256 import sha256  # the builtin module: hashlib's import costs the hook ~2.5 ms
    except ImportError:  # pragma: no cover - a Python built without it
        from hashlib import sha256
    return sha256(normalized.encode("utf-8")).hexdigest()


def _parse_toml(normalized: str, source: str) -> dict:
    from loomtui.policy.quicktoml import Unsupported, loads

    try:
        return loads(normalized)  # the plain subset policy files are written in: no tomllib import
    except Unsupported:
        pass
    import tomllib  # anything else, and every error message (~5 ms with what it imports)

    try:
        return tomllib.loads(normalized)
    except tomllib.TOMLDecodeError as exc:
        raise PolicyError(f"{source} is not valid TOML: {exc}") from None


def _build(data: dict, source: str, digest: str) -> Policy:
    for key in data:
        if key not in _TOP_KEYS:
            raise PolicyError(f"{source}: unknown key {key!r} (known: {', '.join(_TOP_KEYS)}; rules go in [[rule]])")
    default_action = data.get("default_action", "pass")
    if default_action not in ACTIONS:
        raise PolicyError(f"{source}: default_action must be one of {', '.join(ACTIONS)}, not {default_action!r}")
    strict = data.get("strict_interpreters", False)
    if not isinstance(strict, bool):
        raise PolicyError(f"{source}: strict_interpreters must be true or false, not {strict!r}")
    return Policy(
        rules=parse_rules(data.get("rule"), source),
        default_action=default_action,
        source=source,
        hash=digest,
        strict_interpreters=strict,
    )


def load_policy(pod: Path) -> Policy:
    """`<pod>/policy.toml`; the defaults if there is none; PolicyError if it is unusable.

    Read on every call, on purpose: no derived file (a cache in the pod, which an
    agent might rewrite) is trusted to hold policy. A `.policy-cache.json` left by
    an earlier version is ignored. A long-lived process (the pod service) keeps the
    last parse of each file in memory and reuses it only for the very same bytes."""
    path = Path(pod) / POLICY_NAME
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return _defaults()
    except OSError as exc:
        raise PolicyError(f"cannot read {path}: {exc.strerror or exc}") from None
    source = str(path)
    seen = _PARSED.get(source)
    if seen is not None and seen[0] == raw:
        return seen[1]
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise PolicyError(f"{path} is not UTF-8 text (byte {exc.start})") from None
    policy = parse_policy(text, source)
    _PARSED[source] = (raw, policy)
    return policy


# path -> (the file's bytes, their parse). Policies are immutable (tuples all the way
# down), so one parse serves every thread; different bytes are parsed again.
_PARSED: dict[str, tuple[bytes, Policy]] = {}
_DEFAULTS: list[Policy] = []


def _defaults() -> Policy:
    if not _DEFAULTS:
        _DEFAULTS.append(parse_policy(DEFAULT_POLICY_TEXT, "<defaults>"))
    return _DEFAULTS[0]


# -- classification ----------------------------------------------------------------------

_ACTION_RANK = {action: rank for rank, action in enumerate(ACTIONS)}
_RISK_RANK = {risk: rank for rank, risk in enumerate(RISKS)}


def _strictness(decision: Decision) -> tuple[int, int]:
    return _ACTION_RANK[decision.action], _RISK_RANK[decision.risk]


def _strictest(decisions: list[Decision]) -> Decision:
    best = decisions[0]
    for decision in decisions[1:]:
        if _strictness(decision) > _strictness(best):
            best = decision
    return best


def classify(policy: Policy, tool: str, tool_input: dict[str, object], *, cwd: str | None = None,
             repo: str | None = None, agent: str | None = None, pod: str | os.PathLike | None = None,
             protected: tuple[str, ...] = (), home: str | None = None,
             claude_config_dir: str | None = None, codex_home: str | None = None,
             caller_pid: int | None = None) -> Decision:
    """The decision for one tool call. Never raises for odd input: what cannot be
    understood is gated, never allowed.

    The built-in protection rules (`loomtui.policy.protect`, names `protect-*`) are
    tried first and no policy file can drop them: `pod` is the pod directory,
    `protected` other directories to keep agents out of (the audit witness), `home`
    the agent's home ($HOME), `claude_config_dir` and `codex_home` the agent's
    $CLAUDE_CONFIG_DIR and $CODEX_HOME when set; `caller_pid` the hook process the
    call came through (default: this one). `~` means `home` throughout the call."""
    token = CALLER_HOME.set(home)
    try:
        return _classify(policy, tool, tool_input, cwd, repo, agent,
                         Guard(pod, tuple(protected or ()), home, claude_config_dir, codex_home, caller_pid))
    finally:
        CALLER_HOME.reset(token)


def _classify(policy: Policy, tool: str, tool_input: dict[str, object], cwd: str | None,
              repo: str | None, agent: str | None, guard: Guard) -> Decision:
    if not isinstance(tool_input, dict):
        tool_input = {}
    rules = [r for r in policy.rules if r.applies_to_tool(tool) and r.applies_to_context(repo, agent)]
    if tool == "Bash":
        return _classify_bash(policy, rules, tool_input.get("command"), cwd, repo, guard, tool_input)
    if tool in FILE_TOOLS:
        path = tool_input.get("file_path") or tool_input.get("notebook_path")
        path = path if isinstance(path, str) and path else None
        found = _protections(check_file(guard, path, cwd))
        decision = next((_from_rule(r, f"{path}" if path else "") for r in rules
                         if r.matches_file(path, cwd, repo)), None)
        return _strictest(found + [decision or _default(policy)])
    for rule in rules:
        if not rule.bash_only and not rule.path:
            return _from_rule(rule, "")
    return _default(policy)


def _protections(findings: list[tuple]) -> list[Decision]:
    return [Decision(action, rule, risk, reason) for action, rule, risk, reason in findings]


def _classify_bash(policy: Policy, rules: list[Rule], command: object, cwd: str | None,
                   repo: str | None, guard: Guard | None = None, tool_input: dict | None = None) -> Decision:
    guard = guard or Guard(None, (), None, None, None)
    if not isinstance(command, str):
        found = _protections(check_bash(guard, None, (), cwd, tool_input or {}))
        return _strictest(found + [Decision("gate", UNANALYSABLE_RULE, "high",
                                            "cannot analyse: the Bash call has no command text")])
    decisions: list[Decision] = []
    try:
        commands: tuple[SimpleCommand, ...] = analyse(command)
    except ShellError as exc:
        commands = exc.partial
        decisions.append(Decision("gate", UNANALYSABLE_RULE, "high", f"cannot analyse: {exc}"))
    except Exception as exc:  # a bug in the analysis must fail closed, not open
        commands = ()
        decisions.append(Decision("gate", UNANALYSABLE_RULE, "high",
                                  f"cannot analyse: internal error in the shell analysis ({type(exc).__name__})"))
    try:
        found = _protections(check_bash(guard, command, commands, cwd, tool_input or {}))
    except Exception as exc:  # the same: a bug in the protections fails closed
        found = [Decision("deny", "protect-pod-commands", "critical",
                          f"cannot check LoomTUI's protection rules (internal error: {type(exc).__name__})")]
    decisions[:0] = found  # first: they win ties, so a protection names itself
    for cmd in commands:
        decisions.append(_decide_simple(policy, rules, cmd, cwd, repo))
    return _strictest(decisions) if decisions else _default(policy)


def _decide_simple(policy: Policy, rules: list[Rule], cmd: SimpleCommand, cwd: str | None,
                   repo: str | None) -> Decision:
    decision = next((_from_rule(r, cmd.line) for r in rules if r.matches_command(cmd, cwd, repo)), None)
    if decision is None:
        decision = _default(policy)
    if policy.strict_interpreters and inline_code(cmd):
        decision = _strictest([decision, Decision(
            "gate", STRICT_RULE, "high",
            f"{cmd.program} runs inline code the policy cannot read (strict_interpreters)",
        )])
    if cmd.dynamic and _ACTION_RANK[decision.action] < _ACTION_RANK["gate"]:
        # A word known only at run time could turn this into something a rule gates.
        for rule in rules:
            if _ACTION_RANK[rule.action] >= _ACTION_RANK["gate"] and rule.matches_command(cmd, cwd, repo, wild=True):
                unknown = ", ".join(cmd.argv[i] for i in sorted(cmd.dynamic))
                return Decision(
                    "gate", rule.name, rule.risk,
                    f"cannot analyse: {unknown} is only known at run time and could make "
                    f"`{_short(cmd.line)}` match rule {rule.name} ({rule.reason or rule.action})",
                    rule.expires_after,
                )
    return decision


def _from_rule(rule: Rule, subject: str) -> Decision:
    reason = rule.reason or f"rule {rule.name}: {rule.action}"
    if subject:
        reason = f"{reason}: {_short(subject)}"
    return Decision(rule.action, rule.name, rule.risk, reason, rule.expires_after)


def _default(policy: Policy) -> Decision:
    return Decision(policy.default_action, "", "low", "no rule matched")


def _short(text: str, limit: int = 120) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
