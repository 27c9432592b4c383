"""Two consoles on one pod (two LoomApps, both live, one store): each sees who else is
online and what they look at, a claim made at one shows at the other (at 80 and 160
columns), deciding someone else's claim asks first, a decision made elsewhere is told
in a notice, an open gate dialog closes its deciding at once, and a claim lapses when
its console goes away."""

from __future__ import annotations

from contextlib import AsyncExitStack
from datetime import UTC
from pathlib import Path

import pytest

from loomtui.config import Config, ConsoleConfig
from loomtui.store.db import connect, db_path
from loomtui.store.gates import claim, decide, get_gate
from loomtui.tui.app import LoomApp, make_app
from loomtui.tui.screens.approvals import ApprovalsScreen, GateReasonModal, GateScreen, InboxTable
from loomtui.tui.screens.claims import ClaimConfirm
from tests.conftest import build_app
from tests.pods import NOW
from tests.test_approvals import add_gates
from tests.waiting import until

SIZES = [(80, 24), (160, 48)]


def console(pod: Path, who: str, clock=lambda: NOW) -> LoomApp:
    """A live console (it announces itself and watches the store) without the ingest and
    diff services, which these tests do not need; the clock is fixed unless given."""
    return make_app(pod, Config(console=ConsoleConfig(stall_after=600)), clock=clock, tz=UTC,
                    live=True, ingest=False, theme="loom-dark", supervisor=who)


def store(pod: Path):
    return connect(db_path(pod))


def gate_now(pod: Path, gate_id: int):
    conn = store(pod)
    try:
        return get_gate(conn, gate_id)
    finally:
        conn.close()


def header(app: LoomApp) -> str:
    node = "#inbox-header" if isinstance(app.screen, ApprovalsScreen) else "#pod-header"
    return str(app.screen.query_one(node).render())


def notices(app: LoomApp) -> list[str]:
    return [n.message for n in app._notifications]


def claimed_text(app: LoomApp, gate_id: int) -> str:
    """What the inbox row says of the gate's claim: its Claimed column when the width has
    one, else the mark leading its Action cell."""
    table = app.screen.query_one(InboxTable)
    if "claimed" in [c.key for c in table.column_layout]:
        return table.cell(gate_id, "claimed").text
    text = table.cell(gate_id, "summary").text
    return text.split("  ", 1)[0].removeprefix("@") if text.startswith("@") else ""


async def open_inbox(pilot) -> None:
    await pilot.press("i")
    await until(pilot, lambda: isinstance(pilot.app.screen, ApprovalsScreen), "the inbox")


async def two(stack: AsyncExitStack, pod: Path, size: tuple[int, int]):
    alice, bob = console(pod, "alice"), console(pod, "bob")
    pa = await stack.enter_async_context(alice.run_test(size=size))
    pb = await stack.enter_async_context(bob.run_test(size=size))
    return alice, pa, bob, pb


@pytest.mark.parametrize("size", SIZES)
async def test_each_console_shows_who_else_is_online_and_where(pod: Path, size) -> None:
    async with AsyncExitStack() as stack:
        alice, pa, bob, pb = await two(stack, pod, size)
        # The fleet's header is full of figures: names at least, before the billing block.
        await until(pa, lambda: "online: bob" in header(alice), "bob in alice's fleet header")
        await open_inbox(pb)
        await until(pb, lambda: "online: alice (fleet)" in header(bob), "alice in bob's inbox header")
        await open_inbox(pa)
        await until(pb, lambda: "online: alice (inbox)" in header(bob), "what alice looks at now")
        await until(pa, lambda: "online: bob (inbox)" in header(alice), "what bob looks at")
        assert "bob" not in header(bob).split("online:")[1]  # nobody is shown to themselves
        await stack.aclose()  # bob, then alice close: their rows go
    conn = store(pod)
    try:
        assert conn.execute("SELECT count(*) FROM presence").fetchone()[0] == 0
    finally:
        conn.close()


@pytest.mark.parametrize("size", SIZES)
async def test_a_claim_shows_at_the_other_console_and_deciding_it_asks_first(pod: Path, size) -> None:
    ids = add_gates(pod)
    top = ids["ui-cart"]  # critical: the inbox's first row
    async with AsyncExitStack() as stack:
        alice, pa, bob, pb = await two(stack, pod, size)
        await open_inbox(pa)
        await open_inbox(pb)
        await pb.press("c")
        await until(pb, lambda: claimed_text(bob, top) == "you 0s", "bob's claim at bob's console")
        await until(pa, lambda: claimed_text(alice, top) == "bob 0s", "bob's claim at alice's console")
        await pa.press("a")
        await until(pa, lambda: isinstance(alice.screen, ClaimConfirm), "alice asked to confirm")
        question = str(alice.screen.query_one("#confirm-question").render())
        assert question == f"Gate {top} is claimed by bob just now — approve anyway?"
        await pa.press("n")  # no: nothing decided
        await until(pa, lambda: isinstance(alice.screen, ApprovalsScreen), "back in the inbox")
        assert not [w for w in alice.workers if w.group == "decide"]  # no decision was started
        assert gate_now(pod, top).status == "pending"
        await pa.press("a")
        await until(pa, lambda: isinstance(alice.screen, ClaimConfirm), "asked again")
        await pa.press("y")
        gate = await until(pa, lambda: (g := gate_now(pod, top)).status != "pending" and g, "the decision")
        assert (gate.status, gate.decided_name) == ("approved", "alice")
        # Bob is told, in a notice, that alice decided the gate he claimed.
        await until(pb, lambda: any(f"approved gate {top}" in m and "alice" in m for m in notices(bob)),
                    "the notice at bob's console")
        assert not any("Decided elsewhere" == n.title for n in alice._notifications)


async def test_c_on_someone_elses_claim_asks_before_taking_it_over(pod: Path) -> None:
    ids = add_gates(pod)
    top = ids["ui-cart"]
    async with AsyncExitStack() as stack:
        alice, pa, bob, pb = await two(stack, pod, (160, 48))
        await open_inbox(pa)
        await open_inbox(pb)
        await pb.press("c")
        await until(pa, lambda: claimed_text(alice, top) == "bob 0s", "bob's claim at alice's console")
        await pa.press("c")
        await until(pa, lambda: isinstance(alice.screen, ClaimConfirm), "alice asked to confirm")
        assert "take over anyway?" in str(alice.screen.query_one("#confirm-question").render())
        await pa.press("y")
        await until(pb, lambda: claimed_text(bob, top) == "alice 0s", "alice's claim at bob's console")
        assert claimed_text(alice, top) == "you 0s"


async def test_a_claim_lapses_when_its_console_goes_away(pod: Path) -> None:
    ids = add_gates(pod)
    top = ids["ui-cart"]
    async with AsyncExitStack() as stack:
        alice = console(pod, "alice")
        pa = await stack.enter_async_context(alice.run_test(size=(160, 48)))
        await open_inbox(pa)
        bob = console(pod, "bob")
        async with bob.run_test(size=(160, 48)) as pb:
            await open_inbox(pb)
            await pb.press("c")
            await until(pa, lambda: claimed_text(alice, top) == "bob 0s", "bob's claim at alice's console")
        # Bob's console closed: his row is gone, and so is his claim.
        await until(pa, lambda: claimed_text(alice, top) == "" and "bob" not in header(alice),
                    "bob's claim and presence gone at alice's console")
        conn = store(pod)
        try:
            assert get_gate(conn, top).claimed_by is None
        finally:
            conn.close()
        await pa.press("a")  # nobody claims it now: no question
        await until(pa, lambda: gate_now(pod, top).status == "approved", "the approval")
        assert not isinstance(alice.screen, ClaimConfirm)


async def test_a_claim_whose_console_stopped_beating_reads_as_unclaimed(pod: Path) -> None:
    """A console killed without leaving: its row stays, stale, and the claim with it reads
    as unclaimed at once (the next sweep clears it)."""
    ids = add_gates(pod)
    top = ids["ui-cart"]
    conn = store(pod)
    try:
        conn.execute("INSERT INTO presence (id, account, display, started_at, seen_at) "
                     "VALUES ('dead', 'ops', 'carol', ?, ?)", (NOW - 600, NOW - 600))
        claim(conn, top, actor="ops", display="carol", now=NOW - 600, presence="dead")
    finally:
        conn.close()
    async with AsyncExitStack() as stack:
        alice = console(pod, "alice")
        pa = await stack.enter_async_context(alice.run_test(size=(160, 48)))
        await open_inbox(pa)
        assert claimed_text(alice, top) == ""
        assert "carol" not in header(alice)
        conn = store(pod)
        try:
            await until(pa, lambda: get_gate(conn, top).claimed_by is None, "the sweep clearing the claim")
        finally:
            conn.close()


@pytest.mark.parametrize("size", SIZES)
async def test_an_open_gate_dialog_closes_its_deciding_when_sam_decides(pod: Path, size) -> None:
    ids = add_gates(pod)
    top = ids["ui-cart"]
    async with AsyncExitStack() as stack:
        alice = console(pod, "alice")
        pa = await stack.enter_async_context(alice.run_test(size=size))
        await open_inbox(pa)
        await pa.press("enter")
        await until(pa, lambda: isinstance(alice.screen, GateScreen), "the gate dialog")
        dialog = alice.screen
        conn = store(pod)
        try:
            decide(conn, top, approve=True, actor="sam", display="sam (simulated)", simulated=True,
                   reason="fine", now=NOW)
        finally:
            conn.close()
        status = lambda: str(dialog.query_one("#gate-status").render())  # noqa: E731
        await until(pa, lambda: "approved by sam (simulated)" in status(), "the dialog updated")
        assert "nothing left to decide" in status()
        assert any(f"approved gate {top}" in m and "sam (simulated)" in m for m in notices(alice))
        await pa.press("r")  # deciding is off: no reason is asked for
        await pa.pause()
        assert alice.screen is dialog
        await pa.press("escape")
        await until(pa, lambda: isinstance(alice.screen, ApprovalsScreen), "back in the inbox")


async def test_the_reason_dialog_says_when_its_gate_is_decided_elsewhere(pod: Path) -> None:
    ids = add_gates(pod)
    top = ids["ui-cart"]
    async with AsyncExitStack() as stack:
        alice, pa, bob, pb = await two(stack, pod, (80, 24))
        await open_inbox(pa)
        await open_inbox(pb)
        await pa.press("r")
        await until(pa, lambda: isinstance(alice.screen, GateReasonModal), "the reason dialog")
        modal = alice.screen
        await pb.press("a")  # bob approves the same gate meanwhile
        await until(pa, lambda: modal.query(".reason-closed"), "the reason dialog told")
        said = str(modal.query_one(".reason-closed").render())
        assert said == f"Gate {top} was approved by {bob.decider.account} (bob)"
        assert modal.query_one("#reason").disabled


def test_inbox_at_80_columns_shows_a_claim_and_who_is_online_snapshot(snap_compare, pod: Path) -> None:
    """At 80 columns the claim leads the action (@carol 3m); the header names carol and
    what she looks at. Her console is a row written here, so the picture is fixed."""
    ids = add_gates(pod)
    conn = store(pod)
    try:
        conn.execute("INSERT INTO presence (id, account, display, screen, subject, started_at, seen_at) "
                     "VALUES ('c3', 'ops', 'carol', 'gate', ?, ?, ?)", (str(ids["auth-api"]), NOW - 600, NOW))
        claim(conn, ids["auth-api"], actor="ops", display="carol", now=NOW - 180, presence="c3")
    finally:
        conn.close()
    assert snap_compare(build_app(pod), terminal_size=(80, 24), press=["i"])


async def test_an_approval_from_the_command_line_shows_as_a_notice(pod: Path) -> None:
    import asyncio
    import time

    from loomtui.store.gates import create_gate
    from tests.test_gates import loom

    conn = store(pod)
    try:
        agent_id = conn.execute("SELECT id FROM agents WHERE name = 'auth-api'").fetchone()[0]
        # The command line decides on the real clock: the gate must still be open then.
        gate = create_gate(conn, agent_id=agent_id, tool="Bash", action={"command": "git push"},
                           summary="git push", rule="push", risk="high", now=NOW, expires_at=time.time() + 600)
    finally:
        conn.close()
    alice = console(pod, "alice")
    async with alice.run_test(size=(80, 24)) as pa:
        await until(pa, lambda: alice.pod_state and alice.pod_state.gates, "the gate at alice's console")
        done = await asyncio.to_thread(loom, "approve", str(gate.id), pod=pod, user="dave")
        assert done.returncode == 0, done.stderr
        await until(pa, lambda: [m for m in notices(alice) if f"approved gate {gate.id} · auth-api: git push" in m
                                 and "(dave)" in m], "the notice of dave's approval")


async def test_a_live_console_cancels_a_gate_whose_waiting_hook_is_gone(pod: Path) -> None:
    """The live loop's orphan sweep (beside the presence heartbeat): a gate whose waiter
    on this host has exited is cancelled, and leaves the inbox."""
    import subprocess
    import sys
    import time

    from loomtui.store import procs
    from loomtui.store.gates import create_gate

    waiter = subprocess.Popen([sys.executable, "-c", "pass"])
    started = procs.start_time(waiter.pid)
    waiter.wait()
    conn = store(pod)
    try:
        agent_id = conn.execute("SELECT id FROM agents WHERE name = 'auth-api'").fetchone()[0]
        gate = create_gate(conn, agent_id=agent_id, tool="Bash", action={"command": "git push"},
                           summary="git push", rule="push", risk="high", now=NOW, expires_at=NOW + 600,
                           waiter_pid=waiter.pid, waiter_started=started or 1, waiter_host=procs.host())
    finally:
        conn.close()
    start = time.monotonic()
    alice = console(pod, "alice", clock=lambda: NOW + time.monotonic() - start)  # the sweep runs each second
    async with alice.run_test(size=(80, 24)) as pa:
        await until(pa, lambda: gate_now(pod, gate.id).status == "cancelled", "the orphaned gate cancelled")
        await until(pa, lambda: alice.pod_state.pending_gates == 0, "the gate gone from the console")


def test_the_command_line_does_not_decide_a_gate_claimed_at_an_open_console(pod: Path) -> None:
    """`loomtui approve|reject` on a gate carol claims at a console that is still open is
    refused with who and since when, and the gate stays pending; --take-over decides it."""
    import time

    from loomtui.store.gates import create_gate
    from tests.test_gates import loom

    now = time.time()
    conn = store(pod)
    try:
        agent_id = conn.execute("SELECT id FROM agents WHERE name = 'auth-api'").fetchone()[0]
        gate = create_gate(conn, agent_id=agent_id, tool="Bash", action={"command": "git push"},
                           summary="git push", rule="push", risk="high", now=now, expires_at=now + 600)
        conn.execute("INSERT INTO presence (id, account, display, screen, subject, started_at, seen_at) "
                     "VALUES ('c3', 'ops', 'carol', 'gate', ?, ?, ?)", (str(gate.id), now - 600, now))
        claim(conn, gate.id, actor="ops", display="carol", now=now - 180, presence="c3")
    finally:
        conn.close()
    for args in (("approve", str(gate.id)), ("reject", str(gate.id), "--reason", "not now")):
        done = loom(*args, pod=pod, user="dave")
        assert done.returncode == 1 and done.stdout == "", done.stdout
        assert f"gate {gate.id} is claimed by carol 3 min ago" in done.stderr and "--take-over" in done.stderr
        assert get_gate(store(pod), gate.id).status == "pending"
    done = loom("approve", str(gate.id), "--take-over", pod=pod, user="dave")
    assert done.returncode == 0, done.stderr
    assert get_gate(store(pod), gate.id).status == "approved"
