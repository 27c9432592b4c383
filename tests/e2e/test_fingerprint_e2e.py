"""The real Claude Code's SessionStart makes a configuration fingerprint (issue 14, item 4):
its version (AI_AGENT in the hook's environment, or its transcript), the permission mode of
its payload, the hooks `loomtui init claude` wrote, and the hashes of the files it reads."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import pytest

from loomtui.store.db import connect, db_path
from loomtui.store.fingerprint import parse
from tests.e2e.conftest import base_env, loomtui_init
from tests.e2e.test_claude_e2e import run_claude

pytestmark = pytest.mark.e2e


def test_the_real_claude_codes_session_has_a_fingerprint(claude_bin, repo: Path, loom_home: Path,
                                                         tmp_path: Path) -> None:
    loomtui_init("claude", repo, loom_home)
    (repo / "CLAUDE.md").write_text("# e2e\nRun the tests first.\n")
    config_dir = tmp_path / "claude-config"
    config_dir.mkdir()
    result, _, _, context = run_claude(claude_bin, repo, loom_home, config_dir, approve=True)
    conn = connect(db_path(loom_home))
    try:
        row = conn.execute("SELECT fingerprint, fingerprint_hash FROM agents WHERE session_id = ?",
                           (result["session_id"],)).fetchone()
    finally:
        conn.close()
    assert row is not None and row[1], context
    fp = parse(row[0])
    context += f"\nfingerprint: {json.dumps(fp, indent=1)}"
    assert fp["kind"] == "claude", context
    assert fp["cli_version"] == claude_bin.version.split()[0], context  # "2.1.332 (Claude Code)"
    assert fp.get("permission_mode") == "default", context
    # 2.1.332's SessionStart carries no model: the transcript says it, once ingested.
    assert "model" not in fp or fp["model"], context
    env = {**base_env(loom_home), "CLAUDE_CONFIG_DIR": str(config_dir)}
    done = subprocess.run([sys.executable, "-m", "loomtui", "ingest", "--once"], env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    conn = connect(db_path(loom_home))
    try:
        after = parse(conn.execute("SELECT fingerprint FROM agents WHERE session_id = ?",
                                   (result["session_id"],)).fetchone()[0])
        audited = conn.execute("SELECT count(*) FROM audit WHERE action = 'agent.fingerprint'").fetchone()[0]
    finally:
        conn.close()
    assert after["model"] and after["cli_version"] == fp["cli_version"], f"{context}\nafter: {after}"
    assert audited == 0, context  # learnt, not changed
    assert {"PreToolUse", "PermissionRequest", "SessionStart"} <= set(fp["hooks"].split(",")), context
    settings = repo / ".claude" / "settings.json"
    assert fp["settings_project"] == hashlib.sha256(settings.read_bytes()).hexdigest()[:12], context
    assert fp["instructions"] == hashlib.sha256((repo / "CLAUDE.md").read_bytes()).hexdigest()[:12], context
    assert fp["files"]["settings_user"] == str(config_dir / "settings.json"), context
    assert "loom" in fp["mcp_servers"].split(","), context  # init claude configures the memory server


def test_the_real_codexs_session_has_a_fingerprint(codex_bin, repo: Path, loom_home: Path,
                                                   tmp_path: Path) -> None:
    from tests.e2e.test_codex_e2e import run_codex

    loomtui_init("codex", repo, loom_home)
    (repo / "AGENTS.md").write_text("# e2e\nRun the tests first.\n")
    _, _, _, _, context = run_codex(codex_bin, repo, loom_home, tmp_path, approve=True)
    conn = connect(db_path(loom_home))
    try:
        rows = conn.execute("SELECT fingerprint FROM agents WHERE kind = 'codex'").fetchall()
    finally:
        conn.close()
    assert len(rows) == 1, context
    fp = parse(rows[0][0])
    context += f"\nfingerprint: {json.dumps(fp, indent=1)}"
    assert fp["kind"] == "codex" and fp["model"] == "gpt-5-codex", context  # Codex's payload names it
    assert fp["sandbox"] == "off", context  # danger-full-access in its config.toml
    config = tmp_path / "codex-home" / "config.toml"
    assert fp["settings_user"] == hashlib.sha256(config.read_bytes()).hexdigest()[:12], context
    assert fp["instructions"] == hashlib.sha256((repo / "AGENTS.md").read_bytes()).hexdigest()[:12], context
    assert {"PreToolUse", "PermissionRequest"} <= set(fp["hooks"].split(",")), context
    # Its version: the rollout's session_meta (0.169.0 writes it before SessionStart).
    assert fp["cli_version"] == codex_bin.version.split()[-1], context  # "codex-cli 0.169.0"
