"""Byte streams shared by every reader: gzip detected by its magic bytes, bounded gunzip.

Metric dumps and kubelet logs both arrive as chunks of bytes that may be gzip (a `.gz` file,
`kubectl ... | gzip`, concatenated members from `cat a.gz b.gz`). Detection is by content, not
by name, so standard input can carry gzip too; output comes in pieces of at most 1 MiB so a
100 MB dump or a 1 GB log never sits in memory whole.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable, Iterator
from typing import Literal

GZIP_MAGIC = b"\x1f\x8b"
GUNZIP_PIECE = 1 << 20
"""Largest decompressed piece: a 1 MiB compressed chunk can expand to ~6 MiB of text."""


class GzipProblem(Exception):
    """The gzip stream is damaged (`kind="damaged"`) or cut off before its end (`"truncated"`)."""

    def __init__(self, kind: Literal["damaged", "truncated"], detail: str = "") -> None:
        super().__init__(detail or kind)
        self.kind = kind
        self.detail = detail


class GzipBomb(Exception):
    """The gzip stream expands past `max_ratio` times its compressed size (and the floor)."""

    def __init__(self, *, compressed_bytes: int, decompressed_bytes: int) -> None:
        super().__init__(f"{compressed_bytes} bytes expand to over {decompressed_bytes}")
        self.compressed_bytes = compressed_bytes
        self.decompressed_bytes = decompressed_bytes


def decompressed(
    chunks: Iterable[bytes], *, max_ratio: float | None = None, floor_bytes: int = 0
) -> Iterator[bytes]:
    """`chunks` as they are, or gunzipped when they start with the gzip magic bytes.

    Raises `GzipProblem` after yielding what could be read; callers decide whether that is an
    error (a metrics dump) or a note (a log read up to the damage). With `max_ratio`, raises
    `GzipBomb` as soon as the output passes `max_ratio` times the compressed bytes read so far
    and `floor_bytes`: 1 MB of gzipped newlines expands to 1 GB, which no dump or log does.
    """
    iterator = iter(chunks)
    first = b""
    for first in iterator:
        if first:
            break
    if not first:
        return
    if not first.startswith(GZIP_MAGIC):
        yield first
        yield from iterator
        return
    decoder = zlib.decompressobj(wbits=31)
    mid_member = False  # True while a member has started and not reached its end
    compressed = produced = 0
    try:
        for data in _prepend(first, iterator):
            compressed += len(data)
            while data:
                mid_member = True
                out = decoder.decompress(data, GUNZIP_PIECE)
                if out:
                    produced += len(out)
                    if max_ratio is not None and produced > max(
                        floor_bytes, max_ratio * compressed
                    ):
                        raise GzipBomb(compressed_bytes=compressed, decompressed_bytes=produced)
                    yield out
                if decoder.eof:
                    # Concatenated gzip members (`cat a.gz b.gz`): start a new decoder.
                    data = decoder.unused_data
                    decoder = zlib.decompressobj(wbits=31)
                    mid_member = False
                else:
                    data = decoder.unconsumed_tail
        tail = decoder.flush()
        if tail:
            yield tail
    except zlib.error as exc:
        raise GzipProblem("damaged", str(exc)) from exc
    if mid_member:
        raise GzipProblem("truncated")


def _prepend(first: bytes, rest: Iterator[bytes]) -> Iterator[bytes]:
    yield first
    yield from rest
