"""The agent protocol: what Claude Code and Codex hand a hook on stdin, and the
exact answers they take back (exit status, stdout JSON, stderr). Codex reads
Claude-compatible hooks, so one parser serves both; only its answers differ.
Everything here is pure: no store writes, no waiting.

Fail closed. For the events that decide an action (PreToolUse,
PermissionRequest), bad input, a missing, locked or corrupt store, an internal
error, expiry or a signal all answer **deny** with a reason: deny JSON with
exit 0, or exit 2 with the reason on stderr when the event is unknown. Never
exit 1 there (Claude Code lets exit 1 through) and never allow by accident.
Other events are records: a failure there is reported on stderr with exit 0,
so a broken store never blocks an agent's Stop or SessionEnd (`failed`).

The answers differ by agent (formats reference, sections 1 and 8):

| outcome  | Claude PreToolUse | Codex PreToolUse | PermissionRequest (both) |
|----------|-------------------|------------------|--------------------------|
| allow    | permissionDecision allow | nothing (Codex takes no allow) | behavior allow |
| pass     | nothing           | nothing          | nothing (the agent asks) |
| deny     | permissionDecision deny + reason | same | behavior deny + message |

SessionStart may answer `additionalContext` (the same for both agents).
"""

# No `from __future__ import annotations`: this module is on the hook path, where
# NamedTuple would compile() each string annotation (see loomtui/policy/shell/__init__.py).
import json
from collections.abc import Mapping
from typing import Any, NamedTuple

from loomtui.store.agents import one_line

# The hook timeout `loomtui init` writes for the deciding events. A hook that
# times out lets the action through, so no gate may wait that long (the
# gatekeeper caps expiry a minute short of it).
GATE_HOOK_TIMEOUT = 1800
DECIDING_EVENTS = ("PreToolUse", "PermissionRequest")


class Answer(NamedTuple):
    """What the hook process prints and how it exits. `Answer()` says nothing:
    the agent's own permission flow decides."""

    exit_code: int = 0
    stdout: str = ""
    stderr: str = ""


class BadInput(Exception):
    """The hook's stdin is not a hook event we can trust. `event` is its
    hook_event_name when that much could be read, so the answer fits it."""

    def __init__(self, message: str, event: str = "?") -> None:
        super().__init__(message)
        self.event = event


# -- reading the event --------------------------------------------------------


def parse(raw: bytes) -> dict[str, Any]:
    """The hook JSON, or BadInput with a reason a person can act on."""
    if not raw.strip():
        raise BadInput("empty hook input (expected one JSON object on stdin)")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BadInput(f"hook input is not valid UTF-8 (byte {exc.start})") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise BadInput(f"hook input is not valid JSON ({exc.msg} at line {exc.lineno} "
                       f"column {exc.colno})") from None
    except (ValueError, RecursionError) as exc:  # absurd nesting or an integer too long to read
        raise BadInput(f"hook input cannot be read as JSON ({type(exc).__name__})") from None
    if not isinstance(data, dict):
        raise BadInput("hook input is not a JSON object")
    event = data.get("hook_event_name")
    if not isinstance(event, str) or not event:
        raise BadInput("hook input has no hook_event_name")
    if event in DECIDING_EVENTS:
        if not isinstance(data.get("tool_name"), str) or not data["tool_name"]:
            raise BadInput(f"{event} input has no tool_name", event)
        if not isinstance(data.get("tool_input", {}), dict):
            raise BadInput(f"{event} input has a tool_input that is not an object", event)
    return data


def text_field(data: Mapping[str, Any], key: str) -> str | None:
    """A string field of the hook input, or None when it is absent or not a string
    (formats drift: a field of the wrong type is ignored, never trusted)."""
    value = data.get(key)
    return value if isinstance(value, str) else None


def tool_call(data: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
    """The event's (tool_name, tool_input); ("", {}) where it carries none."""
    tool = data.get("tool_name")
    tool_input = data.get("tool_input")
    return (tool if isinstance(tool, str) else "", tool_input if isinstance(tool_input, dict) else {})


def summarize(tool: str, tool_input: Mapping[str, Any], cwd: str | None) -> str:
    """One line for people, without the tool's name (it is recorded beside it):
    the command, the file (relative to the agent's directory), the search, or
    the tool's input as compact JSON."""
    if tool == "Bash" and isinstance(tool_input.get("command"), str):
        return one_line(tool_input["command"])
    path = tool_input.get("file_path") or tool_input.get("notebook_path")
    if isinstance(path, str):
        if cwd and path.startswith(cwd.rstrip("/") + "/"):
            path = path[len(cwd.rstrip("/")) + 1:]
        return one_line(path)
    for key in ("pattern", "url", "query", "description", "prompt"):
        if isinstance(tool_input.get(key), str):
            where = tool_input.get("path")
            return one_line(tool_input[key] + (f" in {where}" if isinstance(where, str) else ""))
    return one_line(json.dumps(tool_input, ensure_ascii=False, sort_keys=True) if tool_input else "")


def event_payload(data: Mapping[str, Any]) -> dict[str, Any]:
    """What an event keeps of the hook input (the transcript path is on the agent)."""
    return {k: v for k, v in data.items() if k != "transcript_path"}


# -- answers ------------------------------------------------------------------


def deny(event: str, reason: str) -> Answer:
    """Block the action, with a reason the agent reads."""
    if event == "PermissionRequest":
        body = {"hookEventName": event, "decision": {"behavior": "deny", "message": reason}}
        return Answer(0, json.dumps({"hookSpecificOutput": body}))
    if event == "PreToolUse":
        body = {"hookEventName": event, "permissionDecision": "deny",
                "permissionDecisionReason": reason}
        return Answer(0, json.dumps({"hookSpecificOutput": body}))
    # An event we could not even read: exit 2 is "blocking" for every event
    # that can block, and the reason reaches the agent on stderr.
    return Answer(2, "", f"LoomTUI: {reason}")


def allow(event: str, agent: str, reason: str) -> Answer:
    """Let the action run without the agent's own prompt (Codex: say nothing)."""
    if event == "PermissionRequest":
        body = {"hookEventName": event, "decision": {"behavior": "allow"}}
        return Answer(0, json.dumps({"hookSpecificOutput": body}))
    if agent == "codex":
        return Answer()  # Codex reports an explicit allow as a failed hook: say nothing
    body = {"hookEventName": event, "permissionDecision": "allow",
            "permissionDecisionReason": reason}
    return Answer(0, json.dumps({"hookSpecificOutput": body}))


def failed(event: str, reason: str) -> Answer:
    """The hook itself failed: deciding events (and events we could not identify)
    are denied; records are reported on stderr without blocking the agent."""
    if event in DECIDING_EVENTS or event == "?":
        return deny(event, f"{reason}; denied to be safe")
    return report(event, reason)


def report(event: str, reason: str) -> Answer:
    """A problem the person should see that must not stop the agent: exit 0,
    the reason on stderr."""
    return Answer(0, "", f"LoomTUI hook ({event}): {reason}")


def additional_context(text: str) -> Answer:
    """SessionStart: `text` added to the agent's context (nothing when empty)."""
    if not text:
        return Answer()
    body = {"hookEventName": "SessionStart", "additionalContext": text}
    return Answer(0, json.dumps({"hookSpecificOutput": body}))
