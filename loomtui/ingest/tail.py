"""Reading what was appended to a transcript since the stored offset (stdlib only).

A file is identified by its inode and a hash of its first bytes. When either differs
from what the store recorded, or the file is now shorter than the stored offset, it was
replaced or truncated: it is read again from the start (the store's unique dedupe keys
make that harmless). Only whole lines are returned: a last line without its newline is
left for the next read, so a line being written is never parsed half-way.
"""

from __future__ import annotations

import hashlib
import os
from typing import NamedTuple

HEAD_BYTES = 512  # how much of the file's start identifies it
CHUNK_BYTES = 8 << 20  # read (and commit) at most this much at a time


class Position(NamedTuple):
    """What the store remembers about one file."""

    inode: int | None
    size: int
    offset: int
    head_hash: str  # "<n>:<hex>": the hash of the file's first n bytes


class Chunk(NamedTuple):
    data: bytes  # what was read: the whole lines are data[:cut] (maybe a partial one after)
    cut: int  # where the last whole line's newline is in `data`
    start: int  # offset of the first line
    end: int  # offset after the last whole line
    restarted: bool  # the file was read from the start because it was replaced or truncated
    position: Position  # what to store once these lines are committed
    more: bool  # there is more to read after `end`

    @property
    def lines(self) -> list[bytes]:
        return self.data[:self.cut].split(b"\n")


def head_hash(data: bytes) -> str:
    head = data[:HEAD_BYTES]
    return f"{len(head)}:" + hashlib.blake2b(head, digest_size=12).hexdigest()


def _same_head(fd: int, stored: str) -> bool:
    n_text, _, _ = stored.partition(":")
    try:
        n = int(n_text)
    except ValueError:
        return False
    return head_hash(os.pread(fd, n, 0)) == stored


def read_chunk(path: str, prev: Position | None, limit: int = CHUNK_BYTES) -> Chunk | None:
    """The whole lines appended since `prev` (at most about `limit` bytes), or None when
    there is nothing new. Raises OSError when the file cannot be read."""
    fd = os.open(path, os.O_RDONLY)
    try:
        st = os.fstat(fd)
        size = st.st_size
        start, restarted = 0, prev is not None
        if prev is not None and prev.inode == st.st_ino and prev.offset <= size \
                and (not prev.head_hash or _same_head(fd, prev.head_hash)):
            start, restarted = prev.offset, False
        if start >= size:
            return None
        # no more than is there: a buffer of `limit` bytes costs more than the read
        data = os.pread(fd, min(limit, size - start), start)
        cut = data.rfind(b"\n")
        while cut < 0 and start + len(data) < size:  # one line longer than `limit`
            more = os.pread(fd, min(limit, size - start - len(data)), start + len(data))
            if not more:
                break
            data += more
            cut = data.rfind(b"\n")
        if cut < 0:
            return None  # only a partial line so far: wait for its newline
        end = start + cut + 1
        head = prev.head_hash if (prev is not None and not restarted and prev.head_hash
                                  and int(prev.head_hash.partition(":")[0]) >= HEAD_BYTES) \
            else head_hash(os.pread(fd, HEAD_BYTES, 0) if start else data)
        return Chunk(data=data, cut=cut, start=start, end=end, restarted=restarted,
                     position=Position(st.st_ino, size, end, head), more=end < size)
    finally:
        os.close(fd)
