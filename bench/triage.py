"""Triage benchmark (issue 13): a simulated 200-agent pod for 10 simulated minutes with
one scripted supervisor who always works the top of the fleet, once in the old default
order and once in triage order, in the same run.

    python bench/triage.py                      # 200 agents, 600 simulated seconds, seed 13
    python bench/triage.py --agents 50 --seconds 120 --think 6 --json

The pod is the demo's (`loomtui demo`): its config (stall after 30 s), its policy (gates
expire after 180 s, then the agent is denied), its simulation engine (`loomtui/sim`),
every tool call through the real hook path into a real SQLite store. The worktrees are
real (a git repository and one linked worktree per agent, as `loomtui demo` makes them)
but nothing is written to them; the pods are made in
/dev/shm (--dir), as the store's fsyncs would only slow the run down; no transcripts are
written, so there is no token ingest and no budget gate. Sam, the demo's simulated
teammate, is off: the scripted supervisor is the only one deciding.

The clock is simulated: it moves by --tick (0.25 s) per step, whatever the step costs,
so 10 minutes run in the time the hooks take (about 13 ms a hook call: some 20 minutes
for 200 agents on the 2-core box; the two modes run at once, one process each); a seed
replays the same pod until the supervisors' choices make the runs differ.

The supervisor, every --think seconds (the time to read a gate and decide it, 8 s by
default: the same in both modes), reads the pod as the console does (`PodState`), orders
the fleet with the console's own `model.ordered`, and takes the first row whose agent
has a pending gate; decides it through the console's `PodActions.decide_gates` (audited,
`supervisors.authorize`), approving, except a critical gate, which is rejected.

* baseline: the order the fleet had before triage (`status`: waiting first, the newest
  activity on top; the supervisor reads past the waiting agents with no gate).
* triage: the default order now (`triage`: by cause, the longest wait first).

Keys for a decision, as the console takes them, in both modes: `i` (the inbox), `j` down
to the chosen gate in the inbox's order (risk, oldest first), `a` (or `r`, a two-letter
reason and enter), esc back to the fleet. The fleet's triage order agrees with the
inbox's, so its top is the inbox's first row; the old order's top is the newest gate,
further down the inbox the more gates wait.

* grants (issue 14): triage order, and the supervisor also accepts grant suggestions:
  when the gate it decides has one (`record.suggestion`: the agent's streak of approvals
  on that rule, default 5, no rejection, its tests passing), it approves with a grant
  (`PodActions.grant`: scope agent, the gate's shape as the pattern, one hour) instead of
  a plain approve; never for a critical gate (rejected, as in every mode). Keys: `g` and
  enter (the grant dialog's defaults) instead of `a`. When the agent's record suggests
  nothing but its repository's does (`record.repo_suggestion`: the call's rule and shape
  approved 5 times in a row there for two agents or more, never rejected), it grants for
  every agent of the repository (scope repo, the suggested pattern, one hour).

--no-git leaves the worktrees as paths only (no git repository, as the bench ran before
2026-12-08): the hook then knows no agent's repository and branch, so no grant answers
a call (a grant keeps its agent's repository, checked through git's own links).

--workload pushes changes what the agents do (say so when you report its figures): every
agent pushes its own branch (`git push origin <its branch>`) right after each of its
`git commit -am` calls, as an agent working in small commits does; the demo's agents
commit as often but push only now and then, at random among the risky actions.

Reported per mode: the wait of gated agents (creation to decision, expiry, cancellation,
or the end of the run for those still waiting) median and p95, overall, of the gates the
supervisor decided, and by risk; how
many gates the supervisor decided, how many expired; keystrokes per decision; gates
pending at the end; human decisions per simulated hour and gated calls (calls that
needed a person) per hour; calls a grant answered, and critical calls allowed without a
person (gates of critical risk approved by anyone but the supervisor, and calls a grant
answered whose risk, classified again by the pod's policy, is critical: both must be 0).
Raw numbers only; exits 0 unless the benchmark could not run.
"""

from __future__ import annotations

import argparse
import json
import platform
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from loomtui.actions import PodActions  # noqa: E402
from loomtui.config import load_config  # noqa: E402
from loomtui.policy import POLICY_NAME, classify, load_policy  # noqa: E402
from loomtui.sim.engine import Simulation  # noqa: E402
from loomtui.sim.pod import DEMO_CONFIG, DEMO_STALL_SECONDS, demo_policy_text  # noqa: E402
from loomtui.store.agents import fetch_agents  # noqa: E402
from loomtui.store.db import connect, db_path, ensure_pod_dir, write_pod_file  # noqa: E402
from loomtui.store.gates import RISKS, list_gates  # noqa: E402
from loomtui.supervisors import current_decider  # noqa: E402
from loomtui.tui import model  # noqa: E402

START = 1_796_000_000.0  # a fixed simulated "now" (2026-11-30), the same for both modes
REASON = "no"  # what the scripted supervisor types when rejecting
MODES = {"baseline": "status", "triage": "triage", "grants": "triage"}  # mode -> fleet order
GRANT_SECONDS = 3600.0  # how long the supervisor's grants last
WORKLOADS = ("demo", "pushes")


class Clock:
    """The simulated clock: moved by the benchmark, read by the simulation, its hooks
    and the supervisor's commands."""

    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def keys_for(gate, inbox: list, granting: bool = False) -> int:
    """The keystrokes the console takes to decide `gate` once the supervisor has read
    which one from the fleet: `i`, `j` down to it in the inbox, `a` (or `r`, the reason,
    enter; or `g` and enter for a grant with the dialog's defaults), esc back to the fleet."""
    decide = 2 if granting else 1 if gate.risk != "critical" else 1 + len(REASON) + 1
    return 1 + inbox.index(gate) + decide + 1


def run(mode: str, agents: int, seconds: float, seed: int, think: float, tick: float,
        where: str | None = None, workload: str = "demo", suggest_after: int | None = None,
        git: bool = True) -> dict:
    order = MODES[mode]
    granting = mode == "grants"
    root = Path(tempfile.mkdtemp(prefix=f"loomtui-triage-{mode}-", dir=where))
    pod = root / "pod"
    ensure_pod_dir(pod)
    extra = "" if suggest_after is None else f"\n[grants]\nsuggest_after = {suggest_after}\n"
    write_pod_file(pod / "config.toml", DEMO_CONFIG + extra)
    write_pod_file(pod / POLICY_NAME, demo_policy_text())
    repo = root / "shop"
    if git:
        from loomtui.sim.repo import add_worktree, create_repo

        create_repo(repo, sections=agents + 6)
        worktrees = [add_worktree(repo, root / "wt", f"wt-{i:03d}") for i in range(agents + 6)]
    else:
        worktrees = [(root / "wt" / f"wt-{i:03d}", f"agent/wt-{i:03d}") for i in range(agents + 6)]
    clock = Clock(START)
    conn = connect(db_path(pod))
    config = load_config(pod)
    actions = PodActions(pod, config, current_decider(), clock=clock)
    sim = Simulation(conn, repo, worktrees, seed=seed, clock=clock, stall_seconds=DEMO_STALL_SECONDS,
                     pod=pod, sam_share=0.0, push_after_commit=workload == "pushes")
    if granting:
        from loomtui.store.record import repo_suggestion, suggestion
    wall = time.monotonic()
    decisions: list[dict] = []
    refused = 0
    try:
        sim.start(agents)
        end = START + seconds
        free_at = START
        while clock.now < end:
            clock.now = round(clock.now + tick, 6)
            sim.step()
            if clock.now < free_at:
                continue
            gates = list_gates(conn, now=clock.now)  # the inbox's order: risk, then oldest
            if not gates:
                continue
            state = model.PodState(tuple(fetch_agents(conn)), clock.now, config.console.stall_after,
                                   tuple(gates))
            shown = model.ordered(state, order)
            by_agent: dict[int, object] = {}
            for gate in gates:
                by_agent.setdefault(gate.agent_id, gate)  # its most urgent
            agent = next((a for a in shown if a.id in by_agent), None)
            if agent is None:
                continue
            gate = by_agent[agent.id]
            approve = gate.risk != "critical"
            why = wide = None
            if granting and approve and gate.agent_id is not None:
                why = suggestion(conn, gate.agent_id, gate.rule, streak=config.record.suggest_after,
                                 now=clock.now)
                if not why and config.record.suggest_repo_after:
                    wide = repo_suggestion(conn, gate, streak=config.record.suggest_repo_after, now=clock.now)
            if why:
                outcome = actions.grant(gate, scope="agent", pattern=None, duration=GRANT_SECONDS,
                                        reason=f"suggested: {why}")
            elif wide:
                outcome = actions.grant(gate, scope="repo", pattern=wide.pattern, duration=GRANT_SECONDS,
                                        reason=f"suggested: {wide.why}")
                why = wide.why
            else:
                outcome = actions.decide_gates([gate], approve=approve, reason="" if approve else REASON)[0]
            if not outcome.ok:
                refused += 1
                continue
            decisions.append({"gate": gate.id, "risk": gate.risk, "approve": approve, "grant": bool(why),
                              "keys": keys_for(gate, gates, bool(why))})
            free_at = clock.now + think
        pending = len(list_gates(conn, now=clock.now))
    finally:
        sim.close()
    elapsed = time.monotonic() - wall
    rows = conn.execute("SELECT id, risk, created_at, status, decided_at, expires_at FROM gates").fetchall()
    person = actions.decider.account
    # Critical calls allowed without a person: approved critical gates the supervisor did
    # not approve, and calls a grant answered that the policy rates critical.
    unseen = conn.execute("SELECT count(*) FROM gates WHERE risk = 'critical' AND status = 'approved' "
                          "AND (decided_by IS NULL OR decided_by != ?)", (person,)).fetchone()[0]
    policy = load_policy(pod)
    granted = conn.execute("SELECT e.payload, a.worktree, a.repo FROM events e JOIN agents a ON a.id = e.agent_id "
                           "WHERE e.kind = 'granted'").fetchall()
    for payload, worktree, repo_of in granted:
        call = json.loads(payload or "{}")
        decision = classify(policy, str(call.get("tool_name") or ""), call.get("tool_input") or {},
                            cwd=worktree, repo=repo_of, pod=pod)
        unseen += decision.risk == "critical"
    grants_made = conn.execute("SELECT count(*) FROM grants").fetchone()[0] if granting else 0
    repo_grants = (conn.execute("SELECT count(*) FROM grants WHERE scope = 'repo'").fetchone()[0]
                   if granting else 0)
    conn.close()
    shutil.rmtree(root, ignore_errors=True)
    waits: dict[str, list[float]] = {risk: [] for risk in RISKS}
    every: list[float] = []
    expired = 0
    ours = {d["gate"] for d in decisions}
    served: list[float] = []  # the waits of the gates the supervisor decided
    for gate_id, risk, created, status, decided, expires in rows:
        if status == "pending":
            ended = min(clock.now, expires)
        else:
            ended = decided if decided is not None else clock.now
        ended = min(ended, clock.now)
        every.append(ended - created)
        waits.setdefault(risk, []).append(ended - created)
        expired += status == "expired"
        if gate_id in ours:
            served.append(ended - created)
    keys = [d["keys"] for d in decisions]
    return {
        "mode": mode, "order": order, "gates": len(rows), "decided": len(decisions),
        "approved": sum(d["approve"] for d in decisions), "refused": refused, "expired": expired,
        "pending_end": pending,
        "wait_p50": percentile(every, 0.5), "wait_p95": percentile(every, 0.95),
        "decided_p50": percentile(served, 0.5), "decided_p95": percentile(served, 0.95),
        "by_risk": {risk: {"gates": len(w), "p50": percentile(w, 0.5), "p95": percentile(w, 0.95)}
                    for risk, w in waits.items() if w},
        "keys_per_decision": statistics.fmean(keys) if keys else None,
        "decisions_per_hour": len(decisions) * 3600 / seconds, "gates_per_hour": len(rows) * 3600 / seconds,
        "grants": grants_made, "repo_grants": repo_grants, "granted_calls": len(granted),
        "critical_without_person": unseen,
        "workload": workload, "hook_calls": sim.sent, "wall_s": elapsed,
    }


def fmt(seconds: float | None) -> str:
    return "—" if seconds is None else f"{seconds:.0f} s"


def report(results: list[dict]) -> str:
    lines = [f"{'':34}" + "".join(f"{r['mode']:>12}" for r in results)]

    def row(label: str, values: list[str]) -> None:
        lines.append(f"{label:34}" + "".join(f"{v:>12}" for v in values))

    row("gates created", [str(r["gates"]) for r in results])
    row("  decided by the supervisor", [str(r["decided"]) for r in results])
    row("  expired (agent denied)", [str(r["expired"]) for r in results])
    row("  pending at the end", [str(r["pending_end"]) for r in results])
    row("wait of gated agents p50", [fmt(r["wait_p50"]) for r in results])
    row("wait of gated agents p95", [fmt(r["wait_p95"]) for r in results])
    row("  of those decided p50 / p95", [f"{fmt(r['decided_p50'])}/{fmt(r['decided_p95'])}".replace(" s/", "/")
                                         for r in results])
    for risk in RISKS:
        if any(risk in r["by_risk"] for r in results):
            row(f"  {risk} p50 / p95", [
                f"{fmt(r['by_risk'][risk]['p50'])}/{fmt(r['by_risk'][risk]['p95'])}".replace(" s/", "/")
                if risk in r["by_risk"] else "—" for r in results])
    row("human decisions per hour", [f"{r['decisions_per_hour']:.0f}" for r in results])
    row("gated calls per hour", [f"{r['gates_per_hour']:.0f}" for r in results])
    row("grants made / calls they allowed", [f"{r['grants']}/{r['granted_calls']}" for r in results])
    row("  of them for a repository", [str(r.get("repo_grants", 0)) for r in results])
    row("critical allowed without a person", [str(r["critical_without_person"]) for r in results])
    row("keystrokes per decision", ["—" if r["keys_per_decision"] is None else f"{r['keys_per_decision']:.1f}"
                                    for r in results])
    row("hook calls", [str(r["hook_calls"]) for r in results])
    row("wall time", [f"{r['wall_s']:.0f} s" for r in results])
    return "\n".join(lines)


def in_parallel(modes: list[str], argv: list[str]) -> list[dict]:
    """Each mode in a child process of this script (`--modes MODE --json`), all at once."""
    import subprocess

    children = [subprocess.Popen([sys.executable, __file__, *argv, "--modes", mode, "--json", "--jobs", "1"],
                                 stdout=subprocess.PIPE, text=True) for mode in modes]
    results = []
    for mode, child in zip(modes, children, strict=True):
        out, _ = child.communicate()
        if child.returncode != 0:
            raise SystemExit(f"the {mode} run failed (exit {child.returncode})")
        results.extend(json.loads(out)["results"])
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--agents", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=600.0, help="simulated seconds (default 600)")
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("--think", type=float, default=8.0,
                        help="simulated seconds the supervisor takes per decision (default 8)")
    parser.add_argument("--tick", type=float, default=0.25, help="simulated seconds per step (default 0.25)")
    parser.add_argument("--modes", default="baseline,triage,grants",
                        help="of baseline, triage, grants (default all three)")
    parser.add_argument("--workload", default="demo", choices=WORKLOADS,
                        help="demo: what the demo's agents do (default); pushes: each agent also pushes "
                             "its own branch after each commit")
    parser.add_argument("--suggest-after", type=int, default=None,
                        help="[grants] suggest_after for the pod (default: the pod's default, 5)")
    parser.add_argument("--no-git", dest="git", action="store_false",
                        help="no git repository: the worktrees are paths only (then no grant "
                             "answers a call; the bench as it ran before 2026-12-08)")
    parser.add_argument("--jobs", type=int, default=2,
                        help="modes run at once, each in a process of its own (default 2; the "
                             "simulated clock makes the figures independent of it)")
    parser.add_argument("--json", action="store_true", help="one JSON document instead of the table")
    parser.add_argument("--dir", default="/dev/shm" if Path("/dev/shm").is_dir() else None,
                        help="where the pods go (default /dev/shm: the store's fsyncs are not "
                             "what this measures)")
    args = parser.parse_args(argv)
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    if not modes or any(m not in MODES for m in modes):
        parser.error("--modes takes baseline, triage and/or grants")
    if args.agents < 1 or args.seconds <= 0 or args.think <= 0 or args.tick <= 0 \
            or (args.suggest_after is not None and args.suggest_after < 1):
        parser.error("--agents, --seconds, --think, --tick and --suggest-after must be positive")
    if len(modes) > 1 and args.jobs > 1:
        results = in_parallel(modes, argv if argv is not None else sys.argv[1:])
    else:
        results = [run(mode, args.agents, args.seconds, args.seed, args.think, args.tick, args.dir,
                       args.workload, args.suggest_after, args.git) for mode in modes]
    meta = {"agents": args.agents, "seconds": args.seconds, "seed": args.seed, "think": args.think,
            "workload": args.workload, "suggest_after": args.suggest_after, "git": args.git,
            "tick": args.tick, "python": platform.python_version(), "machine": platform.machine()}
    if args.json:
        print(json.dumps({"meta": meta, "results": results}, indent=2))
    else:
        print(f"{args.agents} agents, {args.seconds:g} simulated s, seed {args.seed}, "
              f"{args.think:g} s per decision, tick {args.tick:g} s, workload {args.workload}"
              + ("" if args.git else ", no git repository"))
        print(report(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
