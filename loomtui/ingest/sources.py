"""Where transcripts live, and which session a file belongs to (stdlib only).

Claude Code: `$CLAUDE_CONFIG_DIR` (comma-separated, as ccusage reads it), else `~/.claude`
and `$XDG_CONFIG_HOME/claude` (`~/.config/claude`); files are `projects/**/*.jsonl`,
subagent transcripts (`<session>/subagents/agent-*.jsonl`) included.
Codex: `$CODEX_HOME`, else `~/.codex`; files are `sessions/**/rollout-*.jsonl` and the
directory layout `sessions/**/rollout-*/rollout.jsonl`.
Config adds roots of either kind (`[ingest] claude_roots`, `codex_roots`).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import NamedTuple

_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")


class Source(NamedTuple):
    agent: str  # "claude" or "codex"
    path: str


class Roots(NamedTuple):
    claude: tuple[Path, ...]
    codex: tuple[Path, ...]

    def watched(self) -> list[Path]:
        """The directories to watch: the part of each root that holds transcripts."""
        return [r / "projects" for r in self.claude] + [r / "sessions" for r in self.codex]


def default_roots(environ: Mapping[str, str] | None = None, claude_extra: Iterable[str] = (),
                  codex_extra: Iterable[str] = ()) -> Roots:
    env = os.environ if environ is None else environ
    home = Path(env.get("HOME") or Path.home())
    claude: list[Path] = []
    configured = env.get("CLAUDE_CONFIG_DIR", "").strip()
    if configured:
        claude += [Path(p.strip()).expanduser() for p in configured.split(",") if p.strip()]
    else:
        xdg = env.get("XDG_CONFIG_HOME") or str(home / ".config")
        claude += [home / ".claude", Path(xdg) / "claude"]
    codex = [Path(env["CODEX_HOME"]).expanduser()] if env.get("CODEX_HOME") else [home / ".codex"]
    claude += [Path(p).expanduser() for p in claude_extra]
    codex += [Path(p).expanduser() for p in codex_extra]
    return Roots(tuple(_unique(claude)), tuple(_unique(codex)))


def _unique(paths: list[Path]) -> list[Path]:
    seen: set[str] = set()
    out = []
    for p in paths:
        key = os.path.realpath(p)
        if key not in seen:
            seen.add(key)
            out.append(p)
    return out


def classify(path: str, roots: Roots) -> Source | None:
    """The source a changed path is, or None when it is not a transcript of a root."""
    p = Path(path)
    if p.suffix != ".jsonl":
        return None
    for root in roots.claude:
        if _under(p, root / "projects"):
            return Source("claude", path)
    for root in roots.codex:
        if _under(p, root / "sessions") and (p.name.startswith("rollout-") or (
                p.name == "rollout.jsonl" and p.parent.name.startswith("rollout-"))):
            return Source("codex", path)
    return None


def _under(path: Path, folder: Path) -> bool:
    try:
        path.relative_to(folder)
    except ValueError:
        return False
    return True


def discover(roots: Roots) -> list[Source]:
    """Every transcript under the roots, in a stable order (parents before subagents)."""
    found: list[Source] = []
    for root in roots.claude:
        found += [Source("claude", p) for p in _walk(root / "projects", lambda name: name.endswith(".jsonl"))]
    for root in roots.codex:
        found += [Source("codex", p) for p in _walk(
            root / "sessions", lambda name: name.startswith("rollout-") and name.endswith(".jsonl")
            or name == "rollout.jsonl")]
    return found


def _walk(top: Path, wanted) -> list[str]:
    out: list[str] = []
    for folder, dirs, files in os.walk(top, onerror=lambda _e: None):
        dirs.sort()
        out += [os.path.join(folder, f) for f in sorted(files) if wanted(f)]
    return out


def session_of(source: Source) -> str:
    """The session id a file's name gives (a line's own id wins over it)."""
    p = Path(source.path)
    if source.agent == "claude":
        if p.parent.name == "subagents":
            return p.parent.parent.name
        return p.stem
    name = p.parent.name if p.name == "rollout.jsonl" else p.stem
    match = _UUID.search(name)
    return match.group(0) if match else name
