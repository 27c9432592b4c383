"""A scripted stand-in for the model APIs, so the real agents run offline.

One small threaded HTTP server on 127.0.0.1 (an ephemeral port, stdlib only).
The script is one shell call per step, then text:

1. a main-loop request that carries N tool results (Claude: `tool_result` blocks
   in the user messages; Codex: `function_call_output` items in `input`) gets
   step N+1 as a tool call (Claude Code: a `tool_use` of `Bash`; Codex: a
   `function_call` of `exec_command`);
2. once every step has its result, it answers with text and ends the turn.

A step is a command string, or a dict of extra tool input (Claude's Bash input,
e.g. `{"command": ..., "dangerouslyDisableSandbox": True}`).

Claude Code (formats reference, section 7): `POST /v1/messages` answered with
server-sent events (or one JSON message when the request does not stream), the
header `request-id`; `POST /v1/messages/count_tokens` and any GET get small
fixed answers. Requests without `tools` (titles, quota probes) get plain text.

Codex (section 8): `POST /v1/responses` answered with `response.created`,
`response.output_item.added`, `response.output_item.done`, `response.completed`.

Every request is kept (`requests`), so a test can look at what the agent sent
back: `tool_results()` gives the tool results the model was shown, in order.
"""

from __future__ import annotations

import itertools
import json
import threading
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

MODEL = "claude-sonnet-4-5-20250929"
CODEX_MODEL = "gpt-5-codex"


@dataclass
class Request:
    method: str
    path: str
    body: Any  # parsed JSON, or the raw text when it is not JSON
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class ToolResult:
    """A tool's result as the agent reported it back to the model."""

    call_id: str
    text: str
    is_error: bool | None  # Claude says; Codex does not (None)


class ModelAPI:
    """`with ModelAPI("git push origin main") as api:` ... `api.base_url`;
    `ModelAPI(["echo a > a", "echo b > b"])` for several calls, one a turn."""

    def __init__(self, command: str | dict | list[str | dict], *,
                 final_text: str = "Done: I tried the push.") -> None:
        steps = command if isinstance(command, list) else [command]
        self.steps: list[dict] = [s if isinstance(s, dict) else {"command": s} for s in steps]
        self.command = self.steps[0]["command"]
        self.final_text = final_text
        self.requests: list[Request] = []
        self.errors: list[str] = []
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- life cycle -----------------------------------------------------------

    def start(self) -> ModelAPI:
        api = self

        class Handler(_Handler):
            owner = api

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="model-api",
                                        kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> ModelAPI:
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()

    @property
    def port(self) -> int:
        assert self._server is not None, "start() the stand-in first"
        return self._server.server_address[1]

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    # -- what the agent sent ----------------------------------------------------

    def next_id(self) -> int:
        with self._lock:
            return next(self._ids)

    def record(self, request: Request) -> None:
        with self._lock:
            self.requests.append(request)

    def main_loop_requests(self) -> list[Request]:
        """Claude's requests that carry tools, and every Codex /v1/responses request."""
        with self._lock:
            reqs = list(self.requests)
        return [r for r in reqs if r.method == "POST" and isinstance(r.body, dict) and (
            (r.path == "/v1/messages" and r.body.get("tools"))
            or r.path == "/v1/responses")]

    def tool_results(self) -> list[ToolResult]:
        """Every tool result the agent sent back, in request order, deduplicated."""
        seen: dict[str, ToolResult] = {}
        for req in self.main_loop_requests():
            for result in _claude_results(req.body) + _codex_results(req.body):
                seen.setdefault(result.call_id + "\0" + result.text, result)
        return list(seen.values())

    def summary(self) -> str:
        """What the stand-in saw, for assertion messages."""
        with self._lock:
            reqs = list(self.requests)
        lines = [f"{r.method} {r.path} tools={_has_tools(r.body)}"
                 for r in reqs]
        lines += [f"tool result: {t}" for t in self.tool_results()]
        lines += [f"error: {e}" for e in self.errors]
        return "\n".join(lines) or "(no requests)"


def _has_tools(body: Any) -> bool:
    return bool(isinstance(body, dict) and body.get("tools"))


def _text_of(content: Any) -> str:
    """The text of a tool result's content: a string or a list of blocks."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = []
        for block in content:
            if isinstance(block, dict):
                parts.append(str(block.get("text") or block.get("output") or ""))
            else:
                parts.append(str(block))
        return "\n".join(parts)
    if isinstance(content, dict):
        return str(content.get("text") or content.get("output") or json.dumps(content))
    return "" if content is None else str(content)


def _claude_results(body: dict) -> list[ToolResult]:
    out = []
    for message in body.get("messages") or []:
        if not isinstance(message, dict) or message.get("role") != "user":
            continue
        content = message.get("content")
        for block in content if isinstance(content, list) else []:
            if isinstance(block, dict) and block.get("type") == "tool_result":
                out.append(ToolResult(str(block.get("tool_use_id")), _text_of(block.get("content")),
                                      bool(block.get("is_error"))))
    return out


def _codex_results(body: dict) -> list[ToolResult]:
    items = body.get("input")
    out = []
    for item in items if isinstance(items, list) else []:
        if isinstance(item, dict) and item.get("type") in ("function_call_output",
                                                             "custom_tool_call_output"):
            out.append(ToolResult(str(item.get("call_id")), _text_of(item.get("output")), None))
    return out


def _tool_results_sent(body: dict) -> int:
    """How many tool results a Claude request carries (the steps done so far)."""
    return len(_claude_results(body))


def _call_outputs_sent(body: dict) -> int:
    """How many function-call outputs a Codex request carries."""
    return len(_codex_results(body))


class _Handler(BaseHTTPRequestHandler):
    owner: ModelAPI
    protocol_version = "HTTP/1.0"  # one request a connection: a stream ends when it closes
    server_version = "loomtui-e2e-model/1"

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    # -- plumbing ---------------------------------------------------------------

    def _body(self) -> Any:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        if self.headers.get("Content-Encoding", "").lower() in ("gzip", "zstd", "br", "deflate"):
            import gzip
            import zlib
            try:
                raw = gzip.decompress(raw) if self.headers["Content-Encoding"].lower() == "gzip" \
                    else zlib.decompress(raw)
            except Exception:  # noqa: BLE001 - keep what we have, for the record
                pass
        text = raw.decode("utf-8", "replace")
        try:
            return json.loads(text) if text else {}
        except ValueError:
            return text

    def _path(self) -> str:
        return self.path.split("?", 1)[0]

    def _json(self, status: int, data: Any) -> None:
        body = json.dumps(data).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("request-id", f"req_e2e{self.owner.next_id():06d}")
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body)

    def _sse(self, events: list[tuple[str, dict]], request_id: str) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("request-id", request_id)
        self.send_header("x-request-id", request_id)
        self.send_header("Connection", "close")
        self.end_headers()
        for name, data in events:
            self.wfile.write(f"event: {name}\ndata: {json.dumps(data)}\n\n".encode())
            self.wfile.flush()

    # -- verbs ----------------------------------------------------------------------

    def do_GET(self) -> None:  # noqa: N802
        self.owner.record(Request("GET", self._path(), None, dict(self.headers)))
        path = self._path()
        if path.rstrip("/").endswith("/models"):
            self._json(200, {"object": "list", "data": [], "models": []})
        else:
            self._json(200, {})

    def do_HEAD(self) -> None:  # noqa: N802
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def do_POST(self) -> None:  # noqa: N802
        path = self._path()
        body = self._body()
        self.owner.record(Request("POST", path, body, dict(self.headers)))
        try:
            if path == "/v1/messages/count_tokens":
                self._json(200, {"input_tokens": 42})
            elif path == "/v1/messages":
                self._messages(body if isinstance(body, dict) else {})
            elif path == "/v1/responses":
                self._responses(body if isinstance(body, dict) else {})
            else:
                self._json(404, {"type": "error", "error": {"type": "not_found_error",
                                                           "message": f"no {path} here"}})
        except (BrokenPipeError, ConnectionResetError) as exc:
            self.owner.errors.append(f"{path}: client went away ({exc})")

    # -- Claude: /v1/messages -----------------------------------------------------------

    def _messages(self, body: dict) -> None:
        n = self.owner.next_id()
        msg_id = f"msg_e2e{n:06d}"
        request_id = f"req_e2e{n:06d}"
        model = body.get("model") or MODEL
        usage = {"input_tokens": 120, "output_tokens": 1, "cache_creation_input_tokens": 0,
                 "cache_read_input_tokens": 0}
        done = _tool_results_sent(body)
        if body.get("tools") and done < len(self.owner.steps):
            block = {"type": "tool_use", "id": f"toolu_e2e{uuid.uuid4().hex[:16]}", "name": "Bash",
                     "input": {}}
            tool_input = {"description": "Push the branch", **self.owner.steps[done]}
            delta = {"type": "input_json_delta", "partial_json": json.dumps(tool_input)}
            full_block = {**block, "input": tool_input}
            stop_reason = "tool_use"
        else:
            text = self.owner.final_text if body.get("tools") else "Push branch"
            block = {"type": "text", "text": ""}
            delta = {"type": "text_delta", "text": text}
            full_block = {"type": "text", "text": text}
            stop_reason = "end_turn"
        if not body.get("stream"):
            self._json(200, {"id": msg_id, "type": "message", "role": "assistant", "model": model,
                             "content": [full_block], "stop_reason": stop_reason,
                             "stop_sequence": None, "usage": {**usage, "output_tokens": 12}})
            return
        self._sse([
            ("message_start", {"type": "message_start", "message": {
                "id": msg_id, "type": "message", "role": "assistant", "model": model,
                "content": [], "stop_reason": None, "stop_sequence": None, "usage": usage}}),
            ("content_block_start", {"type": "content_block_start", "index": 0,
                                     "content_block": block}),
            ("content_block_delta", {"type": "content_block_delta", "index": 0, "delta": delta}),
            ("content_block_stop", {"type": "content_block_stop", "index": 0}),
            ("message_delta", {"type": "message_delta",
                               "delta": {"stop_reason": stop_reason, "stop_sequence": None},
                               "usage": {"output_tokens": 12}}),
            ("message_stop", {"type": "message_stop"}),
        ], request_id)

    # -- Codex: /v1/responses -----------------------------------------------------------

    def _responses(self, body: dict) -> None:
        n = self.owner.next_id()
        resp_id = f"resp_e2e{n:06d}"
        model = body.get("model") or CODEX_MODEL
        done = _call_outputs_sent(body)
        if done >= len(self.owner.steps):
            item = {"type": "message", "id": f"msg_e2e{n:06d}", "role": "assistant",
                    "status": "completed",
                    "content": [{"type": "output_text", "text": self.owner.final_text,
                                 "annotations": []}]}
        else:
            item = {"type": "function_call", "id": f"fc_e2e{n:06d}", "status": "completed",
                    "name": "exec_command", "call_id": f"call_e2e{n:06d}",
                    "arguments": json.dumps({"cmd": self.owner.steps[done]["command"]})}
        usage = {"input_tokens": 200, "input_tokens_details": {"cached_tokens": 0},
                 "output_tokens": 20, "output_tokens_details": {"reasoning_tokens": 0},
                 "total_tokens": 220}
        base = {"id": resp_id, "object": "response", "model": model}
        self._sse([
            ("response.created", {"type": "response.created",
                                  "response": {**base, "status": "in_progress", "output": []}}),
            ("response.output_item.added", {"type": "response.output_item.added",
                                            "output_index": 0, "item": item}),
            ("response.output_item.done", {"type": "response.output_item.done",
                                           "output_index": 0, "item": item}),
            ("response.completed", {"type": "response.completed",
                                    "response": {**base, "status": "completed", "output": [item],
                                                 "usage": usage}}),
        ], f"req_e2e{n:06d}")
