"""Text from agents never reaches a terminal raw.

An agent writes terminal control sequences into what the supervisor reads: a memory
title that clears the screen (`ESC [2J`), retitles the window (`ESC ]0;pwned BEL`) and
reverses the line (U+202E); a gated command, an agent name, a file name and a patch
holding the same. Every non-JSON CLI output, run as a real process with its bytes
captured, shows them escaped (`\\x1b[2J`) and holds no raw ESC, BEL, C1 or bidi
character; `--json` keeps the exact text. The console (Pilot) renders them escaped
too, and never reads an agent's `[red]...[/red]` or `[link=...]` as markup.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from loomtui.memory import entries
from loomtui.memory.entries import Author
from loomtui.store import leases
from loomtui.store.agents import upsert_agent
from loomtui.store.db import connect, db_path
from loomtui.store.gates import create_gate
from loomtui.text import printable
from tests import hook_fixtures
from tests.conftest import build_app
from tests.gitrepos import add_worktree, commit_all, isolate, make_repo, write
from tests.pods import FLEET, NOW, make_pod
from tests.waiting import until

CLEAR = "\x1b[2J"
RETITLE = "\x1b]0;pwned\x07"
RTL = "\u202e"
TITLE = f"Deploy notes {CLEAR}{RETITLE} {RTL}txt.exe"
BODY = f"line one {CLEAR}\n\tindented {RETITLE}\nC1 \x9b31m red"
COMMAND = f"echo ok {CLEAR}; printf '{RETITLE}' \x9b31m"
AGENT = f"evil{CLEAR}-agent"
MARKUP = "[red]not red[/red] [link=https://evil.example]click[/link]"

# Bytes that must never come out raw: ESC, BEL, CSI as C1 (UTF-8 c2 9b), U+202E (e2 80 ae).
RAW = (b"\x1b", b"\x07", "\x9b".encode(), RTL.encode())
ESCAPED = (rb"\x1b[2J", rb"\x1b]0;pwned\x07", rb"\u202e")

pod = hook_fixtures.pod  # an empty, current store


def assert_no_raw(data: bytes) -> None:
    for raw in RAW:
        assert raw not in data, f"{raw!r} reached the terminal raw in {data!r}"


def assert_escaped(data: bytes, *forms: bytes) -> None:
    for form in forms or ESCAPED:
        assert form in data, f"{form!r} not shown in {data!r}"


def loom(pod: Path, *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[bytes]:
    """The real CLI, its output captured as bytes (what a terminal would receive)."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("LOOM_CONFIG", "LOOM_AGENT", "LOOM_SESSION_ID", "CLAUDECODE")
           and not k.startswith("CODEX_")}
    env.update({"LOOM_HOME": str(pod), "LOOM_USER": "ana", "COLUMNS": "400", "PYTHONIOENCODING": "utf-8"})
    return subprocess.run([sys.executable, "-m", "loomtui", *args], cwd=cwd, env=env,
                          capture_output=True, timeout=60)


def ok(done: subprocess.CompletedProcess[bytes]) -> bytes:
    assert done.returncode == 0, done.stderr.decode(errors="replace")
    return done.stdout


@pytest.fixture
def planted(pod: Path) -> dict:
    """What an agent left in the store: its name, a memory entry and a gated command."""
    now = time.time()
    conn = connect(db_path(pod))
    try:
        agent_id = upsert_agent(conn, kind="claude", now=now, session_id="5e55-evil", name=AGENT,
                                cwd="/nowhere/evil", repo=None, worktree=None, branch=None)
        author = Author(name=AGENT, kind="agent", agent_id=agent_id, session_id="5e55-evil")
        entry = entries.add(conn, kind="fact", title=TITLE, body=BODY, tags=("ops",), author=author, now=now)
        gate = create_gate(conn, agent_id=agent_id, tool="Bash", action={"command": COMMAND}, summary=COMMAND,
                           rule="test", risk="high", now=now, expires_at=now + 600)
    finally:
        conn.close()
    return {"entry": entry.id, "gate": gate.id, "agent": agent_id}


# -- printable itself ----------------------------------------------------------------


def test_printable_escapes_controls_and_bidi_and_leaves_plain_text_alone() -> None:
    plain = "git push origin main · café ⚑ [red]"
    assert printable(plain) is plain  # the fast path returns the very same string
    assert printable(TITLE) == r"Deploy notes \x1b[2J\x1b]0;pwned\x07 \u202etxt.exe"
    assert printable("a\tb\nc\rd\x7f\x85\u2066\udcff") == r"a\tb\nc\rd\x7f\x85\u2066\udcff"
    assert printable("a\tb\nc\r\x00", multiline=True) == "a\tb\nc\\r\\x00"
    assert printable(printable(TITLE)) == printable(TITLE)  # escaping twice changes nothing


# -- the CLI, as real processes ---------------------------------------------------------


def test_memory_list_show_search_history_print_escaped(pod: Path, planted: dict) -> None:
    listing = ok(loom(pod, "memory", "list"))
    assert_no_raw(listing)
    assert_escaped(listing)

    shown = ok(loom(pod, "memory", "show", str(planted["entry"])))
    assert_no_raw(shown)
    assert_escaped(shown, *ESCAPED, rb"\x9b31m", rb"evil\x1b[2J-agent")
    assert b"\n\tindented " in shown  # a body keeps its lines and tabs

    found = ok(loom(pod, "memory", "search", "deploy", "--status", "all"))
    assert_no_raw(found)
    assert_escaped(found)

    history = ok(loom(pod, "memory", "history", str(planted["entry"])))
    assert_no_raw(history)
    assert_escaped(history, rb"evil\x1b[2J-agent", rb"\x1b]0;pwned\x07 \u202etxt.exe")


def test_memory_json_keeps_the_exact_text(pod: Path, planted: dict) -> None:
    shown = json.loads(ok(loom(pod, "memory", "show", str(planted["entry"]), "--json")))
    assert (shown["title"], shown["body"]) == (TITLE, BODY)
    listed = json.loads(ok(loom(pod, "memory", "list", "--json")))
    assert [e["title"] for e in listed["entries"]] == [TITLE]


def test_gates_and_the_approval_line_print_the_command_escaped(pod: Path, planted: dict) -> None:
    table = ok(loom(pod, "gates"))
    assert_no_raw(table)
    assert_escaped(table, rb"echo ok \x1b[2J; printf '\x1b]0;pwned\x07' \x9b31m", rb"evil\x1b[2J-agent")

    doc = json.loads(ok(loom(pod, "gates", "--json")))
    assert [(g["summary"], g["agent"]) for g in doc["gates"]] == [(COMMAND, AGENT)]

    done = loom(pod, "approve", str(planted["gate"]), "--reason", f"fine {CLEAR}")
    line = ok(done)
    assert line.startswith(f"approved gate {planted['gate']} (".encode())
    assert_no_raw(line + done.stderr)
    assert_escaped(line, rb"echo ok \x1b[2J; printf '\x1b]0;pwned\x07' \x9b31m", rb"fine \x1b[2J")

    # The decision is audited with the summary; the export's text lines quote it.
    exported = ok(loom(pod, "audit", "export"))
    assert_no_raw(exported)
    assert_escaped(exported, rb"\x9b31m")  # json.dumps escaped the ESC already; not the C1 character


def test_agents_table_prints_names_and_reasons_escaped(pod: Path, planted: dict) -> None:
    done = loom(pod, "agents")
    out = ok(done)
    assert_no_raw(out + done.stderr)
    assert_escaped(out, rb"evil\x1b[2J-agent")
    doc = json.loads(ok(loom(pod, "agents", "--json")))
    assert [a["name"] for a in doc["agents"]] == [AGENT]


def test_status_prints_no_raw_control_characters(pod: Path, planted: dict) -> None:
    conn = leases.open_leases(pod)
    try:  # whoever can write the pod can write the lease holder that status names
        leases.acquire(conn, "ingest", f"host{CLEAR}:1", time.time(), ttl=600)
    finally:
        conn.close()
    done = loom(pod, "status")
    out = ok(done)
    assert_no_raw(out + done.stderr)
    assert_escaped(out, rb"ingested by host\x1b[2J:1")
    assert json.loads(ok(loom(pod, "status", "--json")))["ingest"]["holder"] == f"host{CLEAR}:1"


def test_an_error_quoting_an_agents_name_is_escaped(pod: Path, planted: dict) -> None:
    done = loom(pod, "diff", AGENT)  # its directory does not exist: the error names the agent
    assert done.returncode == 1 and done.stdout == b""
    assert_no_raw(done.stderr)
    assert_escaped(done.stderr, rb"evil\x1b[2J-agent")


def test_policy_check_echoes_the_command_escaped(pod: Path) -> None:
    done = loom(pod, "policy", "check", "--", f"git push --force {CLEAR}{RETITLE}")
    assert done.returncode == 3, done.stderr  # a gate
    out = done.stdout
    assert_no_raw(out + done.stderr)


def test_diff_escapes_file_names_and_the_patch_but_keeps_tabs(tmp_path: Path, pod: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    isolate(monkeypatch, tmp_path / "home")
    repo = make_repo(tmp_path / "shop", {"src/a.py": "a = 1\n"})
    wt = add_worktree(repo, tmp_path / "wt" / "evil", "agent/evil")
    write(wt / "src/a.py", f"a = 2\n\tprint('{CLEAR}{RETITLE}')\n# {RTL}gnp.exe\n")
    write(wt / f"notes{CLEAR}.md", "x\n")
    commit_all(wt, "work")
    conn = connect(db_path(pod))
    try:
        upsert_agent(conn, kind="claude", now=1.0, session_id="5e55-diff", name=AGENT, cwd=str(wt),
                     repo=str(repo), worktree=str(wt), branch="agent/evil")
    finally:
        conn.close()
    done = loom(pod, "diff", "5e55-diff")
    out = ok(done)
    assert_no_raw(out + done.stderr)
    assert_escaped(out, rb"evil\x1b[2J-agent", rb"+# \u202egnp.exe", rb"-0  notes\x1b[2J.md")
    assert b"\n+\tprint('" + rb"\x1b[2J\x1b]0;pwned\x07')" + b"\n" in out  # the tab stays a tab
    doc = json.loads(ok(loom(pod, "diff", "5e55-diff", "--json")))
    assert doc["agent"] == AGENT
    assert any(CLEAR in f["path"] for f in doc["files"])  # JSON keeps the exact name


# -- the console -----------------------------------------------------------------------


def screen_text(app) -> str:
    """Everything the screen would send to the terminal, as text (Textual's own
    compositor output: the strips the driver writes, without their styles)."""
    strips = app.screen._compositor.render_strips()
    return "\n".join("".join(segment.text for segment in strip) for strip in strips)


def assert_screen_clean(text: str) -> None:
    for raw in ("\x1b", "\x07", "\x9b", RTL):
        assert raw not in text, f"{raw!r} reached the screen raw"


@pytest.fixture
def console_pod(tmp_path: Path) -> Path:
    """The usual fleet, with one agent whose name, last action and reason carry
    control sequences and markup, a gate of it, and its memory entry."""
    reason = f"approval: [red]x[/red] {CLEAR}{RETITLE}"
    evil = (AGENT, "claude", "shop", f"br{CLEAR}", "waiting", reason, 2, ("Bash", COMMAND))
    pod = make_pod(tmp_path, fleet=[evil, *FLEET[1:4]], spend=None)
    conn = connect(db_path(pod))
    try:
        agent_id = conn.execute("SELECT id FROM agents WHERE name = ?", (AGENT,)).fetchone()[0]
        create_gate(conn, agent_id=agent_id, tool="Bash", action={"command": f"{COMMAND} {MARKUP}"},
                    summary=f"{COMMAND} {MARKUP}", rule="test", risk="high", now=NOW - 30,
                    expires_at=NOW + 600)
        # The author column of the memory list fits "[b]eve[/b]" whole: shown as written, not bold.
        author = Author(name="[b]eve[/b]", kind="agent", agent_id=agent_id)
        entries.add(conn, kind="fact", title=f"{TITLE} {MARKUP}", body=BODY + "\n" + MARKUP, author=author,
                    now=NOW - 60)
    finally:
        conn.close()
    return pod


async def test_console_fleet_inbox_gate_and_memory_render_escaped(console_pod: Path) -> None:
    from loomtui.tui.screens.approvals import ApprovalsScreen, GateScreen
    from loomtui.tui.screens.memory import MemoryScreen

    app = build_app(console_pod)
    async with app.run_test(size=(200, 40), notifications=True) as pilot:  # toasts shown, as on a terminal
        await pilot.pause()
        fleet = screen_text(app)
        assert_screen_clean(fleet)
        assert r"evil\x1b[2J-agent" in fleet
        assert r"shop · br\x1b[2J" in fleet
        # Its gate's command, the Doing column's subject while it waits: escaped, its markup
        # shown as written (not red)
        assert r"echo ok \x1b[2J; printf '\x1b]0;pwned\x07' \x9b31m [red]not red[/red]" in fleet

        # A new gate rings and shows a notification quoting its summary.
        conn = connect(db_path(console_pod))
        try:
            create_gate(conn, agent_id=app.pod_state.agents[0].id, tool="Bash", action={"command": "x"},
                        summary=f"{CLEAR}[b]ring[/b]{RETITLE}", rule="test", risk="high", now=NOW,
                        expires_at=NOW + 600)
        finally:
            conn.close()
        await app.refresh_state()
        # the notification is a message, then a toast to mount
        toast = await until(pilot, lambda: "[b]ring[/b]" in (text := screen_text(app)) and text,
                            "the new gate's toast on screen")
        assert_screen_clean(toast)
        assert r"\x1b[2J[b]ring[/b]\x1b]0;pwned\x07" in toast, [n.message for n in app._notifications]

        await pilot.press("i")
        await pilot.pause()
        assert isinstance(app.screen, ApprovalsScreen)
        inbox = screen_text(app)
        assert_screen_clean(inbox)
        assert r"echo ok \x1b[2J; printf '\x1b]0;pwned\x07' \x9b31m [red]not red[/red]" in inbox

        await pilot.press("enter")
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert isinstance(app.screen, GateScreen)
        detail = screen_text(app)
        assert_screen_clean(detail)
        assert r"$ echo ok \x1b[2J; printf '\x1b]0;pwned\x07' \x9b31m [red]not red[/red] [link=https:" in detail

        await pilot.press("escape", "escape")
        await pilot.pause()
        await pilot.press("m")
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert isinstance(app.screen, MemoryScreen)
        await app.workers.wait_for_complete()
        await pilot.pause()
        memory = screen_text(app)
        assert_screen_clean(memory)
        assert r"\x1b[2J\x1b]0;pwned\x07 \u202etxt.exe [red]not" in memory  # the list and the entry
        assert r"line one \x1b[2J" in memory and r"C1 \x9b31m red" in memory  # the body
        assert "[link=https://evil.example]click[/link]" in memory  # shown, not made a link
        listed = app.screen.query_one("#memory-list")
        rows = "\n".join("".join(s.text for s in listed.render_line(y)) for y in range(listed.size.height))
        assert "[b]eve[/b]" in rows  # the list's author column: shown as written, not bold
