"""Transcripts in the agents' real formats, written by the simulated pod so that the
demo's ingester has something true to read (formats reference, sections 2 and 3).

Claude Code: `<config>/projects/<encoded cwd>/<session>.jsonl`, compact JSON lines:
`user` lines for prompts and tool results, `assistant` lines carrying `message.usage`
(cache writes in the `cache_creation` object), each response once.
Codex: `<codex home>/sessions/YYYY/MM/DD/rollout-<time>-<session>.jsonl`: `session_meta`,
`turn_context` (the model), `response_item` function calls and `event_msg` `token_count`
events with running totals and the last response's usage.

The context grows with every call the way a real session's does: each response reads the
cached context, writes what is new to the cache and adds its own output; near the end of
the window the session compacts (Claude Code and Codex both do), and the context starts
again from the system prompt and a summary. (Without that it grew past the window: the
demo's Usage tab read "context 248k of 200k (124%)".)
"""

from __future__ import annotations

import json
import random
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

# Where a session compacts: the agents' auto-compaction starts short of the model's window
# (Claude's 200k, gpt-5-codex's 272k); the summary that replaces the history is this long.
COMPACT_AT = {"claude": 160_000, "codex": 220_000}
SUMMARY_TOKENS = 12_000


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def claude_path(config_dir: Path, cwd: Path, session: str) -> Path:
    return config_dir / "projects" / re.sub(r"[^A-Za-z0-9]", "-", str(cwd)) / f"{session}.jsonl"


def codex_path(codex_home: Path, session: str, started: float) -> Path:
    at = datetime.fromtimestamp(started, UTC)
    return (codex_home / "sessions" / at.strftime("%Y/%m/%d")
            / f"rollout-{at.strftime('%Y-%m-%dT%H-%M-%S')}-{session}.jsonl")


class Transcript:
    """One simulated session's transcript file."""

    def __init__(self, kind: str, path: Path, *, session: str, cwd: Path, branch: str, model: str,
                 rng: random.Random) -> None:
        self.kind = kind
        self.path = path
        self.session = session
        self.cwd = str(cwd)
        self.branch = branch
        self.model = model
        self.rng = rng
        self.context = rng.randint(9_000, 16_000)  # system prompt and tools, cached from the start
        self.base = self.context
        self.responses = 0
        self.totals = [0, 0, 0, 0]  # Codex running totals: input, cached, output, reasoning
        path.parent.mkdir(parents=True, exist_ok=True)

    def _write(self, *objects: dict[str, Any]) -> None:
        with self.path.open("a", encoding="utf-8") as f:
            f.write("".join(json.dumps(o, separators=(",", ":")) + "\n" for o in objects))

    def start(self, now: float) -> None:
        if self.kind == "codex":
            self._write(
                {"timestamp": _iso(now), "type": "session_meta",
                 "payload": {"id": self.session, "cwd": self.cwd, "originator": "codex_cli_rs",
                             "cli_version": "0.169.0", "git": {"branch": self.branch}}},
                {"timestamp": _iso(now), "type": "turn_context",
                 "payload": {"cwd": self.cwd, "approval_policy": "on-request", "model": self.model}})

    def prompt(self, now: float, text: str) -> None:
        if self.kind == "claude":
            self._write(self._claude_line(now, "user", {"role": "user", "content": text}))
        else:
            self._write({"timestamp": _iso(now), "type": "event_msg",
                         "payload": {"type": "user_message", "message": text}})

    def tool_use(self, now: float, tool: str, tool_input: dict[str, Any], tool_use_id: str,
                 scale: float = 1.0) -> None:
        """One model response asking for a tool, with its usage."""
        rng = self.rng
        self.responses += 1
        new = int(rng.randint(300, 2_500) * scale)
        output = int(rng.randint(60, 700) * scale)
        read, write = self.context, new
        self.context += new + output
        if self.context > COMPACT_AT[self.kind] - 10_000:  # the next call (its write) could pass it
            self.context = self.base + SUMMARY_TOKENS
        if self.kind == "claude":
            usage = {"input_tokens": rng.randint(3, 40), "cache_creation_input_tokens": write,
                     "cache_read_input_tokens": read, "output_tokens": output,
                     "cache_creation": {"ephemeral_5m_input_tokens": write, "ephemeral_1h_input_tokens": 0},
                     "service_tier": "standard"}
            message = {"model": self.model, "id": f"msg_sim{self.session[:8]}{self.responses:05d}",
                       "type": "message", "role": "assistant",
                       "content": [{"type": "tool_use", "id": tool_use_id, "name": tool, "input": tool_input}],
                       "stop_reason": "tool_use", "usage": usage}
            line = self._claude_line(now, "assistant", message)
            line["requestId"] = f"req_sim{self.session[:8]}{self.responses:05d}"
            self._write(line)
            return
        inp = read + write
        last = {"input_tokens": inp, "cached_input_tokens": read, "output_tokens": output,
                "reasoning_output_tokens": output // 3, "total_tokens": inp + output}
        self.totals = [self.totals[0] + inp, self.totals[1] + read, self.totals[2] + output,
                       self.totals[3] + output // 3]
        total = {"input_tokens": self.totals[0], "cached_input_tokens": self.totals[1],
                 "output_tokens": self.totals[2], "reasoning_output_tokens": self.totals[3],
                 "total_tokens": self.totals[0] + self.totals[2]}
        command = tool_input.get("command", "")
        self._write(
            {"timestamp": _iso(now), "type": "response_item",
             "payload": {"type": "function_call", "name": "shell", "call_id": tool_use_id,
                         "arguments": json.dumps({"command": ["bash", "-lc", command]})}},
            {"timestamp": _iso(now), "type": "event_msg",
             "payload": {"type": "token_count", "info": {"total_token_usage": total,
                                                         "last_token_usage": last,
                                                         "model_context_window": 272_000}}})

    def tool_result(self, now: float, tool_use_id: str, text: str = "ok") -> None:
        if self.kind == "claude":
            self._write(self._claude_line(now, "user", {"role": "user", "content": [
                {"type": "tool_result", "tool_use_id": tool_use_id, "content": text, "is_error": False}]}))

    def _claude_line(self, now: float, kind: str, message: dict[str, Any]) -> dict[str, Any]:
        return {"parentUuid": None, "isSidechain": False, "userType": "external", "cwd": self.cwd,
                "sessionId": self.session, "version": "2.1.197", "gitBranch": self.branch,
                "type": kind, "message": message,
                "uuid": f"{self.session[:8]}-{self.responses:05d}-{kind[0]}{self.rng.getrandbits(32):08x}",
                "timestamp": _iso(now)}
