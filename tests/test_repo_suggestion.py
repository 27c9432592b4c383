"""Suggestions per repository (issue 14, helper "reposuggest"): one call approved for
several agents of a repository, never rejected, suggests a grant for every agent there
(store/record.repo_suggestion); the agent's own suggestion wins (PodActions.suggestions).

Real SQLite stores, gates decided through store.gates.decide, the test run through the
real hook process; the query's plan read with EXPLAIN QUERY PLAN.
"""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

from loomtui.actions import PodActions
from loomtui.config import Config, RecordConfig
from loomtui.store.db import connect, db_path
from loomtui.store.gates import create_gate, decide
from loomtui.store.record import REPO_DECISIONS_SQL, repo_suggestion
from loomtui.supervisors import current_decider
from tests import hook_fixtures
from tests.test_hook import hook
from tests.test_record import claude_post, only_agent

pod, repo = hook_fixtures.pod, hook_fixtures.repo

RULE = "db-migrate"
SHOP = "/srv/shop"
NOW = 1_796_000_000.0


def new_agent(conn: sqlite3.Connection, name: str, repo: str = SHOP) -> int:
    from loomtui.store.agents import upsert_agent

    return upsert_agent(conn, kind="claude", now=NOW - 3600, session_id=f"s-{name}", name=name, repo=repo)


def gate(conn: sqlite3.Connection, agent_id: int, command: str = "alembic upgrade head", *,
         rule: str = RULE, risk: str = "high", now: float = NOW - 600):
    return create_gate(conn, agent_id=agent_id, tool="Bash", action={"command": command}, summary=command,
                       rule=rule, risk=risk, now=now, expires_at=now + 600)


def decided(conn: sqlite3.Connection, agent_id: int, command: str = "alembic upgrade head", *,
            approve: bool = True, rule: str = RULE, at: float = NOW - 600) -> None:
    decide(conn, gate(conn, agent_id, command, rule=rule, now=at).id, approve=approve, actor="ana",
           reason="" if approve else "not now", now=at + 1)


def streak_of(conn: sqlite3.Connection, agents: list[int], n: int, command: str = "alembic upgrade head",
              *, start: float = NOW - 1200) -> float:
    """`n` approvals of `command`, round the agents in turn; the time of the last."""
    at = start
    for i in range(n):
        at = start + 10 * i
        decided(conn, agents[i % len(agents)], command, at=at)
    return at


def test_a_streak_across_agents_suggests_a_grant_for_the_repository(pod: Path) -> None:
    conn = connect(db_path(pod))
    agents = [new_agent(conn, f"db-{i}") for i in range(4)]
    me = new_agent(conn, "db-9")
    streak_of(conn, agents, 4)
    pending = gate(conn, me, now=NOW - 5)
    assert repo_suggestion(conn, pending, streak=5, now=NOW) is None  # 4 approvals: not yet
    decided(conn, agents[0], at=NOW - 100)
    found = repo_suggestion(conn, pending, streak=5, now=NOW)
    assert found is not None
    assert found.why == "approved 5 times in a row for 4 agents in shop, no rejection"
    assert (found.pattern, found.repo) == ("alembic upgrade head", SHOP)
    assert repo_suggestion(conn, pending, streak=0, now=NOW) is None  # 0: off
    conn.close()


def test_one_agent_alone_is_no_repository_streak_and_other_repositories_do_not_count(pod: Path) -> None:
    conn = connect(db_path(pod))
    alone = new_agent(conn, "db-1")
    elsewhere = new_agent(conn, "ops-1", repo="/srv/infra")
    me = new_agent(conn, "db-9")
    streak_of(conn, [alone], 6)
    streak_of(conn, [elsewhere], 6, start=NOW - 900)
    pending = gate(conn, me, now=NOW - 5)
    assert repo_suggestion(conn, pending, streak=5, now=NOW) is None  # one agent in shop
    decided(conn, new_agent(conn, "db-2"), at=NOW - 50)
    assert repo_suggestion(conn, pending, streak=5, now=NOW).why.startswith("approved 7 times in a row for 2 agents")
    # An agent of no repository gets none.
    assert repo_suggestion(conn, gate(conn, new_agent(conn, "loose", repo=""), now=NOW - 5),
                           streak=5, now=NOW) is None
    conn.close()


def test_a_rejection_of_that_shape_breaks_the_streak_another_shape_does_not_count(pod: Path) -> None:
    conn = connect(db_path(pod))
    agents = [new_agent(conn, f"db-{i}") for i in range(3)]
    me = new_agent(conn, "db-9")
    pending = gate(conn, me, now=NOW - 5)
    last = streak_of(conn, agents, 5)
    decided(conn, agents[1], approve=False, at=last + 20)  # rejected since: broken
    assert repo_suggestion(conn, pending, streak=5, now=NOW) is None
    # Another shape of the same rule, approved again and again: neither counts nor breaks.
    streak_of(conn, agents, 6, "alembic downgrade base", start=last + 40)
    assert repo_suggestion(conn, pending, streak=5, now=NOW) is None
    # A rejection of another shape does not break this one's streak.
    streak_of(conn, agents, 5, start=last + 200)
    decided(conn, agents[2], "alembic downgrade base", approve=False, at=last + 300)
    found = repo_suggestion(conn, pending, streak=5, now=NOW)
    assert found is not None and found.why.startswith("approved 5 times in a row for 3 agents")
    # Another rule, same command: not this gate's streak.
    other = gate(conn, me, rule="migrations-other", now=NOW - 5)
    assert repo_suggestion(conn, other, streak=5, now=NOW) is None
    conn.close()


def test_the_pattern_is_the_exact_call_only_when_every_approval_was_that_call(pod: Path) -> None:
    conn = connect(db_path(pod))
    agents = [new_agent(conn, f"db-{i}") for i in range(3)]
    me = new_agent(conn, "db-9")
    last = streak_of(conn, agents, 5, "git push origin auth")
    found = repo_suggestion(conn, gate(conn, me, "git push origin auth", now=NOW - 5), streak=5, now=NOW)
    assert found is not None and found.pattern == "git push origin auth"
    # The gate itself differs: the shape.
    found = repo_suggestion(conn, gate(conn, me, "git push origin cart", now=NOW - 5), streak=5, now=NOW)
    assert found is not None and found.pattern == "git push origin *"
    # One approval in the streak differs: the shape, for the same call too.
    decided(conn, agents[0], "git push origin billing", at=last + 10)
    found = repo_suggestion(conn, gate(conn, me, "git push origin auth", now=NOW - 5), streak=5, now=NOW)
    assert found is not None and found.pattern == "git push origin *"
    conn.close()


def test_a_file_tool_gets_its_path_as_the_pattern(pod: Path) -> None:
    conn = connect(db_path(pod))
    agents = [new_agent(conn, f"db-{i}") for i in range(2)]
    me = new_agent(conn, "db-9")
    write = {"file_path": "migrations/0042_add_index.sql", "content": "CREATE INDEX x;"}
    for i in range(5):
        g = create_gate(conn, agent_id=agents[i % 2], tool="Write", action=write, summary="write",
                        rule="migration-files", risk="high", now=NOW - 600 + i, expires_at=NOW)
        decide(conn, g.id, approve=True, actor="ana", reason="", now=NOW - 500 + i)
    pending = create_gate(conn, agent_id=me, tool="Write", action=write, summary="write",
                          rule="migration-files", risk="high", now=NOW - 5, expires_at=NOW + 600)
    found = repo_suggestion(conn, pending, streak=5, now=NOW)
    assert found is not None and found.pattern == "Write migrations/0042_add_index.sql"
    other = create_gate(conn, agent_id=me, tool="Write", action={**write, "file_path": "migrations/0043.sql"},
                        summary="write", rule="migration-files", risk="high", now=NOW - 5, expires_at=NOW + 600)
    assert repo_suggestion(conn, other, streak=5, now=NOW).pattern == "Write *.sql"
    conn.close()


def test_critical_and_ungrantable_gates_get_none(pod: Path) -> None:
    conn = connect(db_path(pod))
    agents = [new_agent(conn, f"db-{i}") for i in range(3)]
    me = new_agent(conn, "db-9")
    for i in range(6):
        decided(conn, agents[i % 3], "git push --force origin main", rule="git-force-push", at=NOW - 900 + i)
        decided(conn, agents[i % 3], "git push origin $BRANCH", rule="git-push", at=NOW - 800 + i)
        decided(conn, agents[i % 3], "touch .loomtui", rule="protect-pod", at=NOW - 700 + i)
    critical = gate(conn, me, "git push --force origin main", rule="git-force-push", risk="critical", now=NOW - 5)
    assert repo_suggestion(conn, critical, streak=5, now=NOW) is None
    dynamic = gate(conn, me, "git push origin $BRANCH", rule="git-push", now=NOW - 5)
    assert repo_suggestion(conn, dynamic, streak=5, now=NOW) is None
    protect = gate(conn, me, "touch .loomtui", rule="protect-pod", now=NOW - 5)
    assert repo_suggestion(conn, protect, streak=5, now=NOW) is None
    conn.close()


def test_an_active_repository_grant_covering_the_rule_means_none(pod: Path) -> None:
    from loomtui.store.grants import create_grant, revoke_grant

    conn = connect(db_path(pod))
    agents = [new_agent(conn, f"db-{i}") for i in range(3)]
    me = new_agent(conn, "db-9")
    streak_of(conn, agents, 5)
    granted_from = gate(conn, agents[0], now=NOW - 60)
    decide(conn, granted_from.id, approve=True, actor="ana", reason="", now=NOW - 59)
    pending = gate(conn, me, now=NOW - 5)
    assert repo_suggestion(conn, pending, streak=5, now=NOW) is not None
    # An agent grant (another agent's) does not cover this agent: still suggested.
    create_grant(conn, gate=granted_from, scope="agent", pattern=None, duration=3600, actor="ana",
                 display="Ana", reason="own", now=NOW - 59)
    assert repo_suggestion(conn, pending, streak=5, now=NOW) is not None
    grant = create_grant(conn, gate=granted_from, scope="repo", pattern=None, duration=3600, actor="ana",
                         display="Ana", reason="shop's migrations", now=NOW - 58)
    assert repo_suggestion(conn, pending, streak=5, now=NOW) is None
    revoke_grant(conn, grant.id, actor="ana", display="Ana", reason="done", now=NOW - 1)
    assert repo_suggestion(conn, pending, streak=5, now=NOW) is not None
    conn.close()


def test_the_agents_failed_test_run_means_none(pod: Path, repo: Path) -> None:
    hook(pod, claude_post(repo, "pytest -q", ok=False))
    me = only_agent(pod)
    conn = connect(db_path(pod))
    (where,), = conn.execute("SELECT repo FROM agents WHERE id = ?", (me,)).fetchall()
    assert where
    now = time.time()
    agents = [new_agent(conn, f"db-{i}", repo=where) for i in range(3)]
    streak_of(conn, agents, 5, start=now - 600)
    pending = gate(conn, me, now=now - 5)
    assert repo_suggestion(conn, pending, streak=5, now=now) is None  # its last run failed
    other = gate(conn, new_agent(conn, "db-7", repo=where), now=now - 5)
    assert repo_suggestion(conn, other, streak=5, now=now) is not None  # another agent's is fine
    conn.close()


def test_old_decisions_are_outside_the_window_and_the_read_is_bounded(pod: Path) -> None:
    conn = connect(db_path(pod))
    agents = [new_agent(conn, f"db-{i}") for i in range(3)]
    me = new_agent(conn, "db-9")
    streak_of(conn, agents, 5, start=NOW - 8 * 86400)  # more than a week ago
    pending = gate(conn, me, now=NOW - 5)
    assert repo_suggestion(conn, pending, streak=5, now=NOW) is None
    assert repo_suggestion(conn, pending, streak=5, now=NOW, window=9 * 86400) is not None
    # More recent decisions of other shapes than the limit hide the streak.
    streak_of(conn, agents, 4, "alembic downgrade base", start=NOW - 3000)
    assert repo_suggestion(conn, pending, streak=5, now=NOW, window=9 * 86400, limit=9) is not None
    assert repo_suggestion(conn, pending, streak=5, now=NOW, window=9 * 86400, limit=8) is None
    conn.close()


def test_the_query_reads_the_rule_index_newest_first(pod: Path) -> None:
    conn = connect(db_path(pod))
    plan = " | ".join(row[-1] for row in conn.execute("EXPLAIN QUERY PLAN " + REPO_DECISIONS_SQL,
                                                       (RULE, NOW - 86400, SHOP, 200)))
    conn.close()
    assert "USING INDEX gates_rule_decided (rule=? AND decided_at>?)" in plan, plan
    assert "TEMP B-TREE" not in plan and "SCAN g" not in plan, plan  # no sort, no scan of the gates
    assert "SEARCH a USING INTEGER PRIMARY KEY" in plan, plan


def test_pod_actions_suggest_for_the_repository_unless_the_agent_has_its_own(pod: Path) -> None:
    conn = connect(db_path(pod))
    agents = [new_agent(conn, f"db-{i}") for i in range(3)]
    me, veteran = new_agent(conn, "db-9"), new_agent(conn, "db-8")
    streak_of(conn, agents, 5)
    streak_of(conn, [veteran], 5, start=NOW - 300)  # its own streak, too
    mine, theirs = gate(conn, me, now=NOW - 5), gate(conn, veteran, now=NOW - 4)
    conn.close()
    actions = PodActions(pod, Config(), current_decider(), clock=lambda: NOW)
    found = {agent_id: why for agent_id, _, why, *_ in actions.suggestions([mine, theirs])}
    assert found[me] == ("approved 10 times in a row for 4 agents in shop, no rejection: "
                         "allow alembic upgrade head - for every agent in shop")
    assert found[veteran].startswith("5 approvals in a row")  # the agent's own wins
    off = PodActions(pod, Config(record=RecordConfig(suggest_repo_after=0)), current_decider(),
                     clock=lambda: NOW)
    assert [agent_id for agent_id, *_ in off.suggestions([mine, theirs])] == [veteran]


def test_config_reads_suggest_repo_after(tmp_path: Path) -> None:
    from loomtui.config import load_config

    pod = tmp_path / "pod"
    pod.mkdir()
    (pod / "config.toml").write_text("[grants]\nsuggest_repo_after = 0\n")
    assert load_config(pod).record.suggest_repo_after == 0
    (pod / "config.toml").write_text("[grants]\nsuggest_repo_after = -1\n")
    config = load_config(pod)
    assert config.record.suggest_repo_after == 5
    assert any("suggest_repo_after" in w for w in config.warnings)
    (pod / "config.toml").write_text("")
    assert load_config(pod).record.suggest_repo_after == 5


def test_the_grant_dialog_starts_from_the_suggested_scope_and_pattern(pod: Path) -> None:
    """A repository's suggestion carries its scope and pattern to the console: the grant
    dialog opens on `repo` with the calls the repository approved, for a gate whose call
    that pattern covers; another call of the same agent and rule opens on the agent and
    its own shape."""
    from loomtui.store.agents import fetch_agents
    from loomtui.tui.model import PodState

    conn = connect(db_path(pod))
    agents = [new_agent(conn, f"db-{i}") for i in range(3)]
    me = new_agent(conn, "db-9")
    streak_of(conn, agents, 5)
    mine, other = gate(conn, me, now=NOW - 5), gate(conn, me, "alembic downgrade base", now=NOW - 4)
    every = tuple(fetch_agents(conn))
    conn.close()
    found = PodActions(pod, Config(), current_decider(), clock=lambda: NOW).suggestions([mine])
    assert [(a, scope, pattern) for a, _, _, scope, pattern in found] == [(me, "repo", "alembic upgrade head")]
    state = PodState(every, NOW, 30.0, (mine, other), suggestions=tuple(found))
    assert state.suggested_grant(mine) == ("repo", "alembic upgrade head")
    assert state.suggested_grant(other) is None  # the repository approved another call
