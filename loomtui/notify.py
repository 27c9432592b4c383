"""Notifications that reach people who are not looking at the console: `[notify]`
`command` (run once per event, one JSON document on its stdin) and `urls` (sent
through apprise: ntfy, Slack, e-mail, a desktop, and the rest).

Events, read from the store (the hooks only record; nothing here runs on a hook's
path): a new pending gate of a chosen risk (`gate`), a budget gate (`over_budget`),
an agent waiting on its own prompt (`question`), an agent seen ungoverned
(`ungoverned`: by its settings, or by evidence: calls its hooks never reported). Each has a key (`gate:12`, `question:345`, `ungoverned:7:no sandbox`).

Exactly once: a sender claims an event by `INSERT OR IGNORE` of its key into the
`notifications` table before sending, so of two senders (the pod service's loop, and a
hook's detached sender when no service runs) one sends it. The row then says how it
went; a failure is logged, audited (`notify.failed`) and counted by `loomtui status`.
Events older than `HORIZON` when first seen are not sent (a sender starting on an old
pod must not replay its history).

`kick(pod)` is what a hook calls after recording an event that may notify: when no
pod service answers, it starts a detached `python -m loomtui.notify POD` and returns.
"""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, NamedTuple

from loomtui.config import Config, NotifyConfig, load_config
from loomtui.store.db import connect, db_path, transaction

log = logging.getLogger(__name__)

HORIZON = 600.0  # seconds: older events are history, not news
COMMAND_TIMEOUT = 30.0  # seconds a notify command may take
ERROR_MAX = 500


class Event(NamedTuple):
    key: str
    kind: str  # gate | over_budget | question | ungoverned
    agent_id: int | None
    agent: str
    summary: str
    created_at: float
    detail: dict

    def document(self, pod: Path) -> dict[str, Any]:
        """The JSON document a command gets on stdin (and the base of apprise's body)."""
        return {"event": self.kind, "key": self.key, "pod": str(pod), "title": self.title(),
                "agent": {"id": self.agent_id, "name": self.agent}, "summary": self.summary,
                "created_at": self.created_at, **self.detail}

    def title(self) -> str:
        if self.kind == "gate":
            return f"LoomTUI: approval needed ({self.detail.get('risk')}) · {self.agent}"
        return {"over_budget": f"LoomTUI: over budget · {self.agent}",
                "question": f"LoomTUI: {self.agent} asks",
                "ungoverned": f"LoomTUI: {self.agent} is ungoverned"}.get(self.kind, f"LoomTUI: {self.kind}")


def due(conn: sqlite3.Connection, config: NotifyConfig, now: float) -> list[Event]:
    """The events of the last HORIZON seconds that `config` asks for, oldest first."""
    since = now - HORIZON
    found: list[Event] = []
    if config.gate_risks or config.over_budget:
        for gate_id, agent_id, name, summary, risk, rule, tool, created, repo, branch, pane, socket in conn.execute(
                """SELECT g.id, g.agent_id, coalesce(a.name, ''), g.summary, g.risk, g.rule, g.tool,
                          g.created_at, a.repo, a.branch, coalesce(a.tmux_pane, ''), coalesce(a.tmux_socket, '')
                   FROM gates g LEFT JOIN agents a ON a.id = g.agent_id
                   WHERE g.status = 'pending' AND g.created_at >= ? ORDER BY g.id""", (since,)):
            kind = "over_budget" if risk == "budget" else "gate"
            if (kind == "gate" and risk not in config.gate_risks) or (kind == "over_budget" and not config.over_budget):
                continue
            found.append(Event(f"gate:{gate_id}", kind, agent_id, name, summary, created,
                               {"gate_id": gate_id, "risk": risk, "rule": rule, "tool": tool, "repo": repo,
                                "branch": branch, "tmux": {"pane": pane, "socket": socket} if pane else None}))
    if config.question:
        # Not an agent with a pending gate: Claude Code also says permission_prompt while
        # its PermissionRequest waits in the inbox, and that notifies as the gate.
        for agent_id, name, reason in conn.execute(
                "SELECT a.id, a.name, a.status_reason FROM agents a WHERE a.status = 'waiting' "
                "AND a.last_activity_at >= ? AND NOT EXISTS (SELECT 1 FROM gates g "
                "WHERE g.agent_id = a.id AND g.status = 'pending')", (since,)).fetchall():
            last = conn.execute("SELECT id, kind, ts, summary FROM events WHERE agent_id = ? ORDER BY id DESC LIMIT 1",
                                (agent_id,)).fetchone()
            # Waiting on its own prompt: the last thing it did was say so (a gate's wait is
            # the gate's event, and notifies as a gate).
            if last is not None and last[1] == "notification" and not reason.startswith("approval:"):
                found.append(Event(f"question:{last[0]}", "question", agent_id, name, last[3] or reason,
                                   last[2], {}))
    if config.ungoverned:
        from loomtui.hooks.governance import governance_note

        for agent_id, name, mode, sandbox, hooks, seen in conn.execute(
                "SELECT id, name, permission_mode, sandbox, hooks, last_activity_at FROM agents "
                "WHERE last_activity_at >= ? AND ended_at IS NULL", (since,)).fetchall():
            note = governance_note(mode, sandbox, hooks)
            if note:
                found.append(Event(f"ungoverned:{agent_id}:{note}", "ungoverned", agent_id, name, note, seen,
                                   {"permission_mode": mode, "sandbox": sandbox, "hooks": hooks}))
        # Ungoverned by evidence (store/unreported.py): once per marking.
        for agent_id, name, marked, why, count in conn.execute(
                "SELECT id, name, ungoverned_at, ungoverned_why, unreported FROM agents "
                "WHERE ungoverned_at >= ? AND ended_at IS NULL", (since,)).fetchall():
            summary = why + (f" ({count} call{'s' if count != 1 else ''})" if count else "")
            found.append(Event(f"ungoverned:{agent_id}:evidence:{marked!r}", "ungoverned", agent_id, name,
                               summary, marked, {"evidence": why, "unreported": count}))
    return sorted(found, key=lambda e: e.created_at)


class Sent(NamedTuple):
    key: str
    ok: bool
    error: str


def send_due(pod: Path, config: Config, *, sender: str, now: float | None = None,
             deliver: Callable[[Path, Event, NotifyConfig], list[str]] | None = None) -> list[Sent]:
    """Claim and send every due event nobody sent yet; what this call sent. Never raises
    on a failing notifier (it is recorded); store errors propagate to the caller's loop."""
    notify = config.notify
    if not notify.outside:
        return []
    deliver = deliver or send_one
    conn = connect(db_path(pod), create=False)
    try:
        now = time.time() if now is None else now
        events = due(conn, notify, now)
        if not events:
            return []
        known = {key for (key,) in conn.execute(
            f"SELECT key FROM notifications WHERE key IN ({','.join('?' * len(events))})",
            [e.key for e in events])}
        results = []
        for event in events:
            if event.key in known or not _claim(conn, event, sender, now):
                continue
            try:
                errors = deliver(pod, event, notify)
            except Exception as exc:  # noqa: BLE001 - a notifier's bug is its failure, not ours
                errors = [f"{type(exc).__name__}: {exc}"]
            error = "; ".join(errors)[:ERROR_MAX]
            with transaction(conn):
                conn.execute("UPDATE notifications SET status = ?, sent_at = ?, error = ? WHERE key = ?",
                             ("failed" if errors else "sent", time.time(), error, event.key))
                if errors:
                    from loomtui.store import audit

                    audit.append(conn, actor=sender, action="notify.failed", subject=f"notify:{event.key}",
                                 detail={"kind": event.kind, "agent": event.agent, "error": error},
                                 now=time.time())
            if errors:
                log.warning("notification %s failed: %s", event.key, error)
            results.append(Sent(event.key, not errors, error))
        return results
    finally:
        conn.close()


def _claim(conn: sqlite3.Connection, event: Event, sender: str, now: float) -> bool:
    cur = conn.execute(
        "INSERT OR IGNORE INTO notifications (key, kind, agent_id, summary, created_at, sender) "
        "VALUES (?, ?, ?, ?, ?, ?)", (event.key, event.kind, event.agent_id, event.summary[:200], now, sender))
    return cur.rowcount == 1


def send_one(pod: Path, event: Event, config: NotifyConfig) -> list[str]:
    """Run the command and send to each URL; what failed, one sentence each."""
    errors = []
    document = event.document(pod)
    if config.command:
        errors += _run_command(config.command, document)
    if config.urls:
        errors += _apprise(config.urls, event.title(), _body(document))
    return errors


def _run_command(argv: tuple[str, ...], document: dict) -> list[str]:
    try:
        done = subprocess.run(list(argv), input=json.dumps(document, ensure_ascii=False) + "\n", text=True,
                              capture_output=True, timeout=COMMAND_TIMEOUT, check=False,
                              start_new_session=True)
    except subprocess.TimeoutExpired:
        return [f"command {argv[-1]!r} took longer than {COMMAND_TIMEOUT:g} s"]
    except OSError as exc:
        return [f"command {argv[0]!r} cannot run: {exc.strerror or exc}"]
    if done.returncode != 0:
        tail = (done.stderr.strip().splitlines() or [""])[-1][:200]
        return [f"command {argv[-1]!r} exited {done.returncode}" + (f": {tail}" if tail else "")]
    return []


def _apprise(urls: tuple[str, ...], title: str, body: str) -> list[str]:
    """One apprise notification per URL, so one broken URL neither hides nor stops the others."""
    try:
        import apprise
    except ImportError:
        return ["urls need apprise: pip install apprise"]
    errors = []
    for url in urls:
        shown = url.split("://", 1)[0] + "://…"  # URLs carry tokens and passwords: never log them
        sender = apprise.Apprise()
        if not sender.add(url):
            errors.append(f"{shown}: not a URL apprise knows")
            continue
        with apprise.LogCapture(level=apprise.logging.WARNING, fmt="%(message)s") as captured:
            ok = sender.notify(title=title, body=body)
        if not ok:
            said = " ".join(line.strip() for line in captured.getvalue().splitlines()[-2:] if line.strip())
            errors.append(f"{shown}: not delivered" + (f" ({_redact(said, url)[:160]})" if said else ""))
    return errors


def _redact(text: str, url: str) -> str:
    rest = url.split("://", 1)[-1]
    return text.replace(rest, "…") if rest else text


def _body(document: dict) -> str:
    lines = [document["summary"]]
    if document.get("risk"):
        lines.append(f"risk {document['risk']} · rule {document.get('rule') or '-'} · gate #{document['gate_id']}")
    where = " · ".join(p for p in ((document.get("repo") or "").rsplit("/", 1)[-1], document.get("branch") or "") if p)
    if where:
        lines.append(where)
    lines.append(f"pod {document['pod']}")
    return "\n".join(lines)


# -- the ways senders run ------------------------------------------------------------


def failures(conn: sqlite3.Connection, since: float) -> tuple[int, str]:
    """(failed notifications since `since`, the last one's error) for `loomtui status`."""
    count = conn.execute("SELECT count(*) FROM notifications WHERE status = 'failed' AND created_at >= ?",
                         (since,)).fetchone()[0]
    last = conn.execute("SELECT key, error FROM notifications WHERE status = 'failed' AND created_at >= ? "
                        "ORDER BY created_at DESC LIMIT 1", (since,)).fetchone()
    return count, (f"{last[0]}: {last[1]}" if last else "")


def kick(pod: Path, environ: Mapping[str, str] | None = None) -> None:
    """After a hook recorded an event that may notify: when [notify] sends outside the
    console and no pod service answers (its loop sends), start a detached sender and
    return at once. Never raises: the hook's answer must not depend on this."""
    try:
        from loomtui.hooks.served import answering, socket_path

        if not load_config(pod).notify.outside or answering(socket_path(pod), timeout=0.2):
            return
        env = dict(os.environ if environ is None else environ)
        env["LOOM_HOME"] = str(pod)
        # The hook client's direct path runs `python3 -I -S` with this package put on
        # sys.path by hand: name it for the sender too.
        here = str(Path(__file__).resolve().parent.parent)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (here, env.get("PYTHONPATH", "")) if p)
        # The hook runs outside the agent's sandbox, in the agent's directory: `-P` keeps that
        # directory off sys.path (`-m` would put it first, and a `loomtui/` the agent wrote
        # there would be what runs), and the sender works in the pod, which agents cannot write.
        subprocess.Popen([sys.executable, "-P", "-m", "loomtui.notify", str(pod)], env=env, cwd=str(pod),
                         stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                         start_new_session=True, close_fds=True)
    except Exception as exc:  # noqa: BLE001 - a notification problem never touches the hook
        from loomtui.hooks.signals import HookInterrupted

        if isinstance(exc, HookInterrupted):
            # A signal landed while the sender started (the gate is in the inbox already):
            # the waiting hook must stop and cancel its gate, not wait on until expiry.
            raise
        log.debug("no notification sender started: %s", exc)


def main(argv: list[str]) -> int:
    """`python -m loomtui.notify POD`: send what is due once (the detached sender)."""
    pod = Path(argv[0])
    try:
        send_due(pod, load_config(pod), sender="loomtui notify")
    except Exception as exc:  # noqa: BLE001 - detached: nobody reads an exit status; the service retries
        print(f"loomtui notify: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
