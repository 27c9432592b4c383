"""git's rename similarity score (diffcore-delta.c, diffcore-rename.c), in Python.

The diff counts untracked files itself, which is exact unless git would pair an
untracked file with a deleted (or renamed-away) one as a rename. This module
answers "could it?" the way git decides it: the same size filter, the same
64-byte/line chunks and hash, the same score. A pair that scores at least the
`-M` threshold sends the diff down the exact (temporary index) path.
"""

from __future__ import annotations

HASHBASE = 107927  # diffcore-delta.c
MAX_SCORE = 60000  # diffcore.h
MIN_SCORE = 30000  # -M's default, 50%
FIRST_FEW_BYTES = 8000
_M = 0xFFFFFFFF


def size_compatible(a: int, b: int, minimum: int = MIN_SCORE) -> bool:
    """git's first filter: sizes too far apart never pair (estimate_similarity)."""
    big, small = max(a, b), min(a, b)
    return not big * (MAX_SCORE - minimum) < (big - small) * MAX_SCORE


def spans(data: bytes) -> dict[int, int]:
    """git's hash_chars(): bytes per chunk hash, chunks ending at a newline or at
    64 bytes; a CR before LF is skipped in text."""
    is_text = b"\0" not in data[:FIRST_FEW_BYTES]
    counts: dict[int, int] = {}
    a1 = a2 = n = 0
    last = len(data) - 1
    for i, c in enumerate(data):
        if c == 13 and is_text and i < last and data[i + 1] == 10:
            continue
        old = a1
        # unsigned 32-bit arithmetic, as in C
        a1 = (((a1 << 7) ^ (a2 >> 25)) + c) & _M
        a2 = ((a2 << 7) ^ (old >> 25)) & _M
        n += 1
        if n < 64 and c != 10:
            continue
        h = ((a1 + a2 * 0x61) & _M) % HASHBASE
        counts[h] = counts.get(h, 0) + n
        n = a1 = a2 = 0
    if n:
        h = ((a1 + a2 * 0x61) & _M) % HASHBASE
        counts[h] = counts.get(h, 0) + n
    return counts


def score(src_size: int, src: dict[int, int], dst_size: int, dst: dict[int, int]) -> int:
    """estimate_similarity(): 0..MAX_SCORE, how much of the larger file is copied."""
    if not size_compatible(src_size, dst_size) or not dst_size:
        return 0
    copied = 0
    for h, count in src.items():
        other = dst.get(h)
        if other:
            copied += min(other, count)
    return copied * MAX_SCORE // max(src_size, dst_size)


def percent(value: int) -> int:
    """As git prints it in `similarity index N%` and `R0NN`."""
    return value * 100 // MAX_SCORE
