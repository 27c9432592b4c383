"""Finding the memory entries that matter, and fitting them into a token budget.

**Ranking.** A query is cut into words (a few stop words dropped), each matched
by FTS5 with the Porter stemmer ("migrating" finds "migrations"), any word
sufficing. The best `CANDIDATES` matches by bm25 (title weighs 4, tags 2, body 1)
are then scored

    score = relevance * pin * scope * recency * kind

- relevance: -bm25 (higher is better);
- pin: 1.5 for a pinned entry;
- scope: 1.25 when the entry is scoped to the asker's repository or to the asker
  itself, 1.0 for the pod, 0.6 for another repository or another agent;
- recency: 1 + 0.25 * 0.5 ** (age_days / 30) (new entries up to 25 % ahead,
  the edge halving every 30 days);
- kind: 1.1 when a query word names the entry's kind ("warning", "todo", ...).

Bounded work: FTS5 scores every entry a query matches, so a word held by more
than COMMON_DF (2,000) entries would turn each search into a scan of a large
store. Such words are left out of the match while rarer words remain (an entry
holding them gets 5 % more per word); when every word is that common, entries
holding all of them are ranked, topped up with the newest 500 holding any.
Counting a word's entries stops at 2,001, so deciding costs little.

**Token estimate.** `estimate_tokens(text) = ceil(ascii_chars / 3) + other_chars`:
one token per three ASCII characters and one per any other character. Tokenizers
give about four characters per token on English prose, a little over three on
code, and about one per CJK character, so this errs high on purpose (prose by
about a third). It is an estimate, not the model's count: rare symbols and emoji
can take more than one token each.

**Budget.** `pack` takes whole items, most relevant first, while they fit; an
item that does not fit is skipped (never cut) and smaller ones after it may still
fit. The budget covers the whole text produced, headers included.

Stdlib + store only: the SessionStart hook imports this.
"""

# No `from __future__ import annotations`: the SessionStart hook loads this module, where
# NamedTuple would compile() each string annotation (see loomtui/policy/shell/__init__.py).
import json
import re
import sqlite3
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

from loomtui.memory.entries import COLUMNS, Entry, entry_from_row

CANDIDATES = 200
PIN_BOOST = 1.5
OWN_SCOPE_BOOST = 1.25
OTHER_SCOPE_FACTOR = 0.6
RECENCY_BOOST = 0.25
RECENCY_HALF_LIFE_DAYS = 30.0
KIND_BOOST = 1.1
COMMON_DF = 2000  # a word in more entries than this is "common" (see _candidates)
COMMON_WORD_BONUS = 0.05
NEWEST = 500

STOP_WORDS = frozenset("""
a an and are as at be by do does for from how i if in into is it its me my of on or our
should so that the their then there these this to use was we what when where which who
why will with you your about can not no all any
""".split())
_WORD = re.compile(r"\w+", re.UNICODE)


def estimate_tokens(text: str) -> int:
    """A conservative token count: ceil(ASCII characters / 3) + other characters."""
    if text.isascii():
        return -(-len(text) // 3)
    other = sum(1 for ch in text if ord(ch) > 127)
    return -(-(len(text) - other) // 3) + other


class Asker(NamedTuple):
    """Who is asking, for the scope match; all optional."""

    repo: str | None = None
    agent_names: tuple[str, ...] = ()  # the agent's name, session id, worktree


class Hit(NamedTuple):
    entry: Entry
    score: float
    relevance: float


def query_words(query: str) -> list[str]:
    words: list[str] = []
    for word in _WORD.findall(query.lower()):
        if word not in STOP_WORDS and word not in words and not word.startswith("_"):
            words.append(word)
    if not words:  # a query of stop words only: use them rather than nothing
        words = list(dict.fromkeys(_WORD.findall(query.lower())))
    return words[:32]


def fts_query(words: Sequence[str]) -> str:
    """Words as FTS5 strings (quoted, so no word is read as an operator), OR'ed."""
    return " OR ".join('"' + w.replace('"', '""') + '"' for w in words)


def rank(
    conn: sqlite3.Connection,
    query: str,
    *,
    now: float,
    asker: Asker | None = None,
    statuses: Sequence[str] = ("active",),
    limit: int = 50,
) -> list[Hit]:
    """The entries matching `query`, best first (see the module docstring)."""
    words = query_words(query)
    if not words:
        return []
    # `+m.status`: look rows up by id; the status index would scan every active entry.
    status_sql = f"AND +m.status IN ({', '.join('?' * len(statuses))})" if statuses else ""
    columns = ", ".join("m." + c.strip() for c in COLUMNS.split(","))
    candidates = max(CANDIDATES, limit * 4)
    try:
        common = _common_words(conn, words)
        found = _candidates(conn, words, common, candidates)
        if not found:
            return []
        # Statuses are filtered after FTS5 picked its candidates, from a list wide
        # enough for the usual mix of active and other entries.
        order = {rowid: i for i, (rowid, _) in enumerate(found)}
        ranks = dict(found)
        rows = conn.execute(
            f"SELECT {columns} FROM memory m WHERE m.id IN ({', '.join('?' * len(found))}) {status_sql}",
            (*order, *statuses)).fetchall()
    except sqlite3.OperationalError as exc:
        if "fts5" in str(exc).lower() or "syntax" in str(exc).lower():
            return []
        raise
    asker = asker or Asker()
    kinds = set(words)
    nudging = [w for w in words if w in common] if len(common) < len(words) else []
    hits = []
    for row in rows:
        entry = entry_from_row(row)
        relevance = -float(ranks[entry.id])
        score = relevance * boost(entry, asker, now)
        if entry.kind in kinds:
            score *= KIND_BOOST
        if nudging:  # common words left out of the match still count a little
            text = f"{entry.title} {' '.join(entry.tags)} {entry.body}".lower()
            score *= 1.0 + COMMON_WORD_BONUS * sum(1 for w in nudging if w[:5] in text)
        hits.append(Hit(entry, score, relevance))
    hits.sort(key=lambda h: (-h.score, -h.entry.updated_at, -h.entry.id))
    return hits[:limit]


def _doc_count(conn: sqlite3.Connection, word: str, cap: int) -> int:
    """Entries holding `word`, counted up to cap + 1 only (cheap at any size)."""
    return conn.execute("SELECT count(*) FROM (SELECT rowid FROM memory_fts WHERE memory_fts MATCH ? "
                        "LIMIT ?)", (fts_query([word]), cap + 1)).fetchone()[0]


def _common_words(conn: sqlite3.Connection, words: Sequence[str]) -> set[str]:
    return {w for w in words if _doc_count(conn, w, COMMON_DF) > COMMON_DF}


def _candidates(conn: sqlite3.Connection, words: Sequence[str], common: set[str],
                candidates: int) -> list[tuple[int, float]]:
    """(rowid, bm25 rank) of the best candidates; the work stays bounded as the store grows.

    FTS5 scores every row a query matches, so a word in many entries (more than
    COMMON_DF) would make each search cost a scan. Such words are left out of the
    match when rarer words remain (they only nudge the ranking, by COMMON_WORD_BONUS);
    when all the words are common, the entries holding all of them are ranked,
    topped up with the newest entries holding any (NEWEST) if that gives too few."""
    rare = [w for w in words if w not in common]
    query = "SELECT rowid, rank FROM memory_fts WHERE memory_fts MATCH ? ORDER BY rank LIMIT ?"
    if rare:
        return conn.execute(query, (fts_query(rare), candidates)).fetchall()
    found: list[tuple[int, float]] = []
    if len(words) > 1:
        found = conn.execute(query, (" AND ".join(fts_query([w]) for w in words), candidates)).fetchall()
    if len(found) < candidates:
        seen = {rowid for rowid, _ in found}
        newest = conn.execute(
            "SELECT rowid, bm25(memory_fts, 4.0, 1.0, 2.0) FROM memory_fts WHERE memory_fts MATCH ? "
            "ORDER BY rowid DESC LIMIT ?", (fts_query(words), NEWEST)).fetchall()
        found += sorted((r for r in newest if r[0] not in seen), key=lambda r: r[1])[: candidates - len(found)]
    return found


def boost(entry: Entry, asker: Asker, now: float) -> float:
    """pin * scope * recency for one entry."""
    factor = PIN_BOOST if entry.pinned else 1.0
    factor *= scope_factor(entry, asker)
    age_days = max(0.0, now - entry.updated_at) / 86400.0
    factor *= 1.0 + RECENCY_BOOST * 0.5 ** (age_days / RECENCY_HALF_LIFE_DAYS)
    return factor


def scope_factor(entry: Entry, asker: Asker) -> float:
    if entry.scope == "pod":
        return 1.0
    if entry.scope == "repo":
        return OWN_SCOPE_BOOST if asker.repo and entry.scope_ref == asker.repo else OTHER_SCOPE_FACTOR
    return OWN_SCOPE_BOOST if entry.scope_ref in asker.agent_names else OTHER_SCOPE_FACTOR


def pack(items: Sequence[Any], cost: Callable[[Any], int], budget: int,
         overhead: int = 0) -> tuple[list[Any], int]:
    """Whole items in order while they fit in `budget - overhead`: (chosen, skipped)."""
    room = budget - overhead
    chosen: list[Any] = []
    skipped = 0
    for item in items:
        c = cost(item)
        if c <= room:
            chosen.append(item)
            room -= c
        else:
            skipped += 1
    return chosen, skipped


# -- rendering ---------------------------------------------------------------------


def render_markdown(entry: Entry, repo_names: dict[str, str] | None = None) -> str:
    """An entry as agents and people read it: a heading, one line of facts, the body."""
    flags = " · pinned" if entry.pinned else ""
    if entry.status != "active":
        flags += f" · {entry.status}"
    head = f"### {entry.title}\n[{entry.kind} #{entry.id} v{entry.version}{flags}]"
    facts = []
    if entry.tags:
        facts.append("tags " + ", ".join(entry.tags))
    if entry.scope != "pod":
        ref = entry.scope_ref
        if entry.scope == "repo":
            ref = (repo_names or {}).get(ref) or ref.rstrip("/").rsplit("/", 1)[-1]
        facts.append(f"{entry.scope} {ref}")
    facts.append(f"by {entry.author}")
    text = head + " " + " · ".join(facts)
    return text + ("\n" + entry.body if entry.body else "")


MIN_BUDGET = 64


def search_result(conn: sqlite3.Connection, query: str, *, now: float, k: int = 8,
                  budget_tokens: int | None = None, asker: Asker | None = None,
                  statuses: Sequence[str] = ("active",)) -> dict[str, Any]:
    """What `memory_search` and `loomtui memory search --json` return: the best `k`
    entries, as many as fit so that the compact JSON document *as a whole* stays
    within `budget_tokens` (raised to MIN_BUDGET if lower; None: no budget):
    {"results": [Entry.brief() + "score"], "omitted", "budget_tokens", "tokens"}."""
    k = max(1, min(int(k), 100))
    hits = rank(conn, query, now=now, asker=asker, statuses=statuses, limit=k)
    items = [{**hit.entry.brief(), "score": round(hit.score, 4)} for hit in hits]
    if budget_tokens is None:
        return _finish({"results": items, "omitted": 0, "budget_tokens": None, "tokens": 0})
    budget = max(MIN_BUDGET, int(budget_tokens))
    doc: dict[str, Any] = {"results": [], "omitted": 0, "budget_tokens": budget, "tokens": 0}
    overhead = estimate_tokens(_compact(doc)) + 4  # room for the counts' digits
    chosen, skipped = pack(items, lambda item: estimate_tokens(_compact(item)) + 1, budget, overhead)
    doc = _finish({**doc, "results": chosen, "omitted": skipped})
    while doc["tokens"] > budget and doc["results"]:  # a guard: the sum above is an upper bound
        doc = _finish({**doc, "results": doc["results"][:-1], "omitted": doc["omitted"] + 1})
    return doc


def _finish(doc: dict[str, Any]) -> dict[str, Any]:
    """Set doc["tokens"] to the estimate of the document that carries it."""
    for _ in range(4):
        tokens = estimate_tokens(_compact(doc))
        if tokens == doc["tokens"]:
            break
        doc["tokens"] = tokens
    return doc


def _compact(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def dumps(value: Any) -> str:
    """The compact JSON agents receive (and whose tokens the budget counts)."""
    return _compact(value)
