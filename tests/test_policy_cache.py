"""The policy cache that spares the hook tomllib and hashlib on every call: it
must give exactly what parsing gives, and can never serve a stale policy."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from loomtui.policy import CACHE_NAME, classify, load_policy, parse_policy

GATE_LS = '[[rule]]\nname = "ls"\naction = "gate"\nrisk = "low"\ntool = "Bash"\ncommand = "ls"\n'
DENY_LS = '[[rule]]\nname = "ls"\naction = "deny"\nrisk = "low"\ntool = "Bash"\ncommand = "ls"\n'


def test_a_cache_hit_gives_what_parsing_gives(tmp_path: Path) -> None:
    (tmp_path / "policy.toml").write_text(GATE_LS)
    first = load_policy(tmp_path)  # miss: parses and writes the cache
    assert (tmp_path / CACHE_NAME).exists()
    second = load_policy(tmp_path)  # hit
    assert second == first == parse_policy(GATE_LS, str(tmp_path / "policy.toml"))


def test_an_edit_of_the_same_size_is_seen_at_once(tmp_path: Path) -> None:
    policy = tmp_path / "policy.toml"
    policy.write_text(GATE_LS)
    stat = policy.stat()
    assert classify(load_policy(tmp_path), "Bash", {"command": "ls"}).action == "gate"
    policy.write_text(DENY_LS)  # same length
    os.utime(policy, ns=(stat.st_atime_ns, stat.st_mtime_ns))  # and the same mtime
    assert len(GATE_LS) == len(DENY_LS)
    assert classify(load_policy(tmp_path), "Bash", {"command": "ls"}).action == "deny"


def test_a_broken_or_foreign_cache_is_ignored(tmp_path: Path) -> None:
    (tmp_path / "policy.toml").write_text(GATE_LS)
    for junk in ("{not json", "[]", json.dumps({"format": 1, "text": "other", "hash": "x", "data": {}})):
        (tmp_path / CACHE_NAME).write_text(junk)
        assert classify(load_policy(tmp_path), "Bash", {"command": "ls"}).action == "gate"


def test_defaults_are_cached_too_and_a_bad_policy_still_errors(tmp_path: Path) -> None:
    defaults = load_policy(tmp_path)
    assert defaults.source == "<defaults>" and load_policy(tmp_path) == defaults
    (tmp_path / "policy.toml").write_text("[[rule]]\nname = 1\n")
    try:
        load_policy(tmp_path)
    except Exception as exc:
        assert "policy.toml" in str(exc)
    else:
        raise AssertionError("a bad policy must not load")


def test_the_hook_with_a_warm_cache_imports_neither_tomllib_nor_hashlib(tmp_path: Path) -> None:
    (tmp_path / "policy.toml").write_text(GATE_LS)
    load_policy(tmp_path)
    probe = ("import sys, json; from loomtui.policy import load_policy; "
             f"load_policy({str(tmp_path)!r}); "
             "print(json.dumps(sorted(m for m in ('tomllib', 'hashlib') if m in sys.modules)))")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert json.loads(done.stdout) == []
