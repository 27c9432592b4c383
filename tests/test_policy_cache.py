"""No derived file holds policy: the hook reads policy.toml on every
call and obeys nothing else. A `.policy-cache.json` an agent wrote (the old cache's
format, with the exact text of policy.toml and a loosened policy as its data) is
ignored; the fast subset reader that keeps tomllib off the hook path gives exactly
what tomllib gives, or hands over to it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from loomtui.policy import classify, default_policy_text, load_policy, parse_policy
from loomtui.policy.quicktoml import Unsupported, loads
from loomtui.sim.pod import demo_policy_text
from tests import hook_fixtures
from tests.test_hook import bash
from tests.test_hook import hook as run

pod, repo = hook_fixtures.pod, hook_fixtures.repo

GATE_LS = '[[rule]]\nname = "ls"\naction = "gate"\nrisk = "low"\ntool = "Bash"\ncommand = "ls"\n'
DENY_LS = '[[rule]]\nname = "ls"\naction = "deny"\nrisk = "low"\ntool = "Bash"\ncommand = "ls"\n'
OLD_CACHE = ".policy-cache.json"


def forged_cache(pod: Path) -> None:
    """What an agent would write: the old cache format, policy.toml's own text, a loose policy."""
    text = (pod / "policy.toml").read_text()
    (pod / OLD_CACHE).write_text(json.dumps({"format": 1, "text": text, "hash": "0" * 64,
                                             "data": {"default_action": "allow"}}))


def test_a_forged_cache_is_not_obeyed(tmp_path: Path) -> None:
    (tmp_path / "policy.toml").write_text(default_policy_text())
    forged_cache(tmp_path)
    policy = load_policy(tmp_path)
    assert policy.default_action == "pass" and policy.rules
    assert classify(policy, "Bash", {"command": "git push --force"}, cwd="/w", repo="/w").action == "gate"
    assert classify(policy, "Bash", {"command": "rm -rf /"}, cwd="/w", repo="/w").action == "deny"


def test_a_forged_cache_is_not_obeyed_by_the_real_hook(pod: Path, repo: Path) -> None:
    (pod / "policy.toml").write_text(default_policy_text())
    forged_cache(pod)
    code, out, _ = run(pod, bash("rm -rf /", repo))
    answer = json.loads(out)["hookSpecificOutput"]
    assert code == 0 and answer["permissionDecision"] == "deny" and "rm-root" in answer["permissionDecisionReason"]


def test_loading_writes_nothing_in_the_pod(tmp_path: Path) -> None:
    (tmp_path / "policy.toml").write_text(GATE_LS)
    before = sorted(os.listdir(tmp_path))
    load_policy(tmp_path)
    load_policy(tmp_path)
    assert sorted(os.listdir(tmp_path)) == before


def test_an_edit_of_the_same_size_and_mtime_is_seen_at_once(tmp_path: Path) -> None:
    policy = tmp_path / "policy.toml"
    policy.write_text(GATE_LS)
    stat = policy.stat()
    assert classify(load_policy(tmp_path), "Bash", {"command": "ls"}).action == "gate"
    policy.write_text(DENY_LS)
    os.utime(policy, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert len(GATE_LS) == len(DENY_LS)
    assert classify(load_policy(tmp_path), "Bash", {"command": "ls"}).action == "deny"


def test_the_hash_is_the_sha256_of_the_text(tmp_path: Path) -> None:
    import hashlib

    (tmp_path / "policy.toml").write_text(GATE_LS)
    assert load_policy(tmp_path).hash == hashlib.sha256(GATE_LS.encode()).hexdigest()


def test_loading_the_shipped_policies_imports_neither_tomllib_nor_hashlib(tmp_path: Path) -> None:
    for name, text in (("default", default_policy_text()), ("demo", demo_policy_text())):
        pod = tmp_path / name
        pod.mkdir()
        (pod / "policy.toml").write_text(text)
        probe = ("import sys, json; from loomtui.policy import load_policy; "
                 f"p = load_policy({str(pod)!r}); assert p.rules; "
                 "print(json.dumps(sorted(m for m in ('tomllib', 'hashlib') if m in sys.modules)))")
        done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
        assert json.loads(done.stdout) == [], name


def test_a_bad_policy_still_errors_with_tomllibs_message(tmp_path: Path) -> None:
    (tmp_path / "policy.toml").write_text('[[rule]]\nname = "x"\naction = "gate"\ncommand = [1, \n')
    with pytest.raises(Exception, match="policy.toml is not valid TOML"):
        load_policy(tmp_path)
    (tmp_path / "policy.toml").write_text("[[rule]]\nname = 1\n")
    with pytest.raises(Exception, match="policy.toml"):
        load_policy(tmp_path)


# -- the subset reader against tomllib --------------------------------------------------

SHIPPED = [default_policy_text(), demo_policy_text(), GATE_LS, DENY_LS, ""]
ODD = [
    'a = 1.5\n', 'a = 1_000\n', 'a = 0x10\n', 'a = 2024-01-01\n', '[table]\na = 1\n', 'a.b = 1\n',
    '"a" = 1\n', 'a = """x"""\n', "a = '''x'''\n", 'a = 1\na = 2\n', 'a = {b = 1}\n', 'a = [1, 2]\n',
    'a = "x\x01"\n', '[[ rule ]]\nname = "x"\n', 'a = "\\q"\n', 'rule = 1\n[[rule]]\n', 'a = inf\n',
    'a = truex\n', 'a = "x" b\n', 'a = [\n"x"\n', 'a = 01\n',
]


@pytest.mark.parametrize("text", SHIPPED)
def test_the_subset_reader_reads_the_shipped_policies_as_tomllib_does(text: str) -> None:
    assert loads(text) == tomllib.loads(text)


@pytest.mark.parametrize("text", ODD)
def test_the_subset_reader_hands_anything_else_to_tomllib(text: str) -> None:
    with pytest.raises(Unsupported):
        loads(text)


MUTATIONS = list('"\'[]=#,\n \t\\abcxyz019-+.{}_') + ["\\u00e9", "\\n", "true", "false", "[[rule]]\n"]


def test_the_subset_reader_agrees_with_tomllib_on_mutated_policies() -> None:
    """Random edits of the default policy (drawn by hypothesis, which shrinks a failure to
    its smallest edit): the reader either bails out or gives what tomllib gives (tomllib
    rejecting a text the reader accepts would be a bug too)."""
    base = default_policy_text()
    accepted = []
    edit = st.tuples(st.integers(0, len(base) - 1), st.integers(0, 3), st.sampled_from(MUTATIONS))

    @settings(max_examples=1500, deadline=None, database=None)
    @given(st.lists(edit, min_size=1, max_size=3))
    def reader_agrees(edits) -> None:
        text = base
        for at, cut, piece in edits:
            at = min(at, len(text) - 1)
            text = text[:at] + piece + text[at + cut:]
        try:
            mine = loads(text)
        except Unsupported:
            return
        accepted.append(text)
        assert mine == tomllib.loads(text), text

    reader_agrees()
    assert len(accepted) > 150  # the comparison really ran on many accepted texts


def test_parse_policy_gives_the_same_policy_either_way(monkeypatch) -> None:
    fast = parse_policy(default_policy_text())

    def bail(_text):
        raise Unsupported("forced")

    monkeypatch.setattr("loomtui.policy.quicktoml.loads", bail)
    assert parse_policy(default_policy_text()) == fast


def test_a_long_lived_process_reparses_the_moment_the_bytes_change(tmp_path: Path) -> None:
    """The pod service keeps the last parse in memory, keyed by the file's exact bytes:
    any edit (even one that keeps the size and the mtime) is read and obeyed at once."""
    path = tmp_path / "policy.toml"
    path.write_text(GATE_LS)
    first = load_policy(tmp_path)
    assert load_policy(tmp_path) is first  # same bytes: the same parse
    stamp = os.stat(path)
    path.write_text(DENY_LS)  # the same length as GATE_LS
    os.utime(path, ns=(stamp.st_atime_ns, stamp.st_mtime_ns))
    assert len(path.read_bytes()) == len(GATE_LS.encode())
    second = load_policy(tmp_path)
    assert second is not first
    assert classify(second, "Bash", {"command": "ls"}).action == "deny"
    assert classify(first, "Bash", {"command": "ls"}).action == "gate"
