"""BGZF, the blocked gzip of ``.vcf.gz`` files: inflating it, and cutting it
into spans that several processes decode side by side.

A BGZF file is a series of gzip members of at most 64 KiB of text each,
every one naming its own compressed size in a ``BC`` extra subfield, so a
block boundary can be found from any offset by looking for a member header
whose sizes chain up. A span is a range of whole blocks; the records it
holds are the lines that *start* in it, counted as follows so that two
neighbouring spans never share or lose a line: a span other than the first
skips its text up to and including the first newline, and every span reads
on past its end, into the next span's first block, up to the first newline
there.
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import BinaryIO

from isal import isal_zlib

# Compressed bytes read at a time, and BGZF blocks inflated per task (each
# block holds at most 64 KiB of text).
RAW_READ = 1 << 20
BLOCKS_PER_TASK = 64
# The start of every BGZF block: gzip magic, deflate, FEXTRA set.
_BLOCK_MAGIC = b"\x1f\x8b\x08\x04"
GZIP_MAGIC = _BLOCK_MAGIC[:2]
# A block header is 18 bytes; the largest block is 64 KiB.
_HEADER_BYTES = 18
_MAX_BLOCK = 1 << 16
# Consecutive blocks whose sizes must chain up before an offset is taken
# for a block boundary (compressed data can hold the magic bytes by chance).
_CHAIN = 4
# Give up looking for the end of the header after this much text.
_MAX_HEADER_TEXT = 256 << 20


class DamagedTextError(Exception):
    """The compressed stream cannot be inflated; the reason is the message."""


def block_size(data: bytes, at: int) -> int | None:
    """The total size of the BGZF block at ``at``, None when the gzip member
    there has no ``BC`` subfield (or the header is cut short)."""
    if len(data) < at + 12:
        return None
    extra_length = int.from_bytes(data[at + 10 : at + 12], "little")
    sub = at + 12
    stop = sub + extra_length
    if len(data) < stop:
        return None
    while sub + 4 <= stop:
        length = int.from_bytes(data[sub + 2 : sub + 4], "little")
        if data[sub : sub + 2] == b"BC" and length == 2:
            return int.from_bytes(data[sub + 4 : sub + 6], "little") + 1
        sub += 4 + length
    return None


def inflate(raw: Iterator[bytes], threads: int = 1) -> Iterator[bytes]:
    """Inflate a BGZF stream, ``threads`` groups of blocks at a time."""
    executor = ThreadPoolExecutor(threads) if threads > 1 else None
    pending: deque = deque()
    try:
        data = b""
        for chunk in raw:
            data = data + chunk if data else chunk
            bounds, used = _split_blocks(data)
            for group in range(0, len(bounds), BLOCKS_PER_TASK):
                part = bounds[group : group + BLOCKS_PER_TASK]
                if executor is None:
                    yield _inflate_blocks(data, part)
                    continue
                pending.append(executor.submit(_inflate_blocks, data, part))
                while len(pending) > 2 * threads:
                    yield pending.popleft().result()
            data = data[used:]
        while pending:
            yield pending.popleft().result()
        if data:
            raise DamagedTextError("the BGZF stream ends inside a block")
    finally:
        for future in pending:
            future.cancel()
        if executor is not None:
            executor.shutdown(wait=True)


def _inflate_blocks(data: bytes, bounds: list[tuple[int, int]]) -> bytes:
    """Inflate consecutive BGZF blocks, checking each one's CRC and size.

    With ISA-L (python-isal), which inflates about 2.5 times as fast as
    zlib here and, like it, lets go of the GIL.
    """
    try:
        return b"".join(isal_zlib.decompress(data[a:b], 31) for a, b in bounds)
    except isal_zlib.error as error:
        raise DamagedTextError(f"a BGZF block does not inflate: {error}") from None


def _split_blocks(data: bytes) -> tuple[list[tuple[int, int]], int]:
    """The (start, end) of each whole BGZF block in ``data``, and the bytes
    they cover."""
    bounds = []
    at = 0
    while len(data) - at >= _HEADER_BYTES:
        if data[at : at + 2] != GZIP_MAGIC:
            raise DamagedTextError("a BGZF block does not start with the gzip magic")
        size = block_size(data, at)
        if size is None:
            raise DamagedTextError("a gzip member of the BGZF stream has no BC field")
        if at + size > len(data):
            break
        bounds.append((at, at + size))
        at += size
    return bounds, at


def read_raw(
    handle: BinaryIO, start: int, stop: int | None, prefix: bytes = b""
) -> Iterator[bytes]:
    """The bytes of ``handle`` from ``start`` to ``stop`` (the end when None).

    ``prefix`` holds bytes already read from the start of a file that cannot
    be rewound (a pipe); it is used only with ``start`` 0, and the handle
    is then read on from where it is.
    """
    if start == 0 and prefix:
        at = len(prefix)
        yield prefix if stop is None else prefix[:stop]
    else:
        handle.seek(start)
        at = start
    while stop is None or at < stop:
        chunk = handle.read(RAW_READ if stop is None else min(RAW_READ, stop - at))
        if not chunk:
            return
        at += len(chunk)
        yield chunk


def span_text(
    handle: BinaryIO, span: tuple[int, int | None], *, threads: int = 1
) -> Iterator[bytes]:
    """The text of the lines that start in ``span``, (start, stop) offsets
    of BGZF blocks (stop None for the end of the file), in pieces.

    A span that starts at 0 begins with the file's header.
    """
    start, stop = span
    inside = inflate(read_raw(handle, start, stop), threads)
    skipping = start > 0
    for piece in inside:
        if skipping:
            newline = piece.find(b"\n")
            if newline < 0:
                continue
            piece = piece[newline + 1 :]
            skipping = False
        if piece:
            yield piece
    if skipping or stop is None:
        return  # a span inside one line holds no line of its own
    for piece in inflate(read_raw(handle, stop, None)):
        newline = piece.find(b"\n")
        if newline >= 0:
            yield piece[: newline + 1]
            return
        yield piece


def plan_spans(
    handle: BinaryIO, num_parts: int, min_bytes: int, head_start: int = 0
) -> list[tuple[int, int | None]]:
    """Cut an open BGZF file into up to ``num_parts`` spans for
    :func:`span_text`, none of them starting inside the header, and each
    with at least ``min_bytes`` of records; [] when fewer than two would.

    The spans are of about equal compressed size, except that the first
    one has up to ``head_start`` bytes more (its reader starts earlier).
    """
    handle.seek(0, os.SEEK_END)
    size = handle.tell()
    first = _after_header(handle)
    if first is None:
        return []
    num_parts = min(num_parts, (size - first) // max(min_bytes, 1))
    if num_parts < 2:
        return []
    head_start = min(head_start, (size - first) // num_parts)
    share = (size - first - head_start) // num_parts
    starts = [0]
    for part in range(1, num_parts):
        target = first + head_start + share * part
        boundary = _next_block(handle, target, size)
        if boundary is not None and boundary > starts[-1] and boundary < size:
            starts.append(boundary)
    if len(starts) < 2:
        return []
    return list(zip(starts, [*starts[1:], None], strict=True))


def _after_header(handle: BinaryIO) -> int | None:
    """The offset of the first block after the one in which the header
    (``##`` and empty lines, then one ``#`` line) ends; None when the file
    ends first or is not BGZF."""
    text = bytearray()
    at = 0
    offset = 0
    data = b""
    for chunk in read_raw(handle, 0, None):
        data += chunk
        try:
            bounds, used = _split_blocks(data)
        except DamagedTextError:
            return None
        for block_start, block_end in bounds:
            try:
                text += isal_zlib.decompress(data[block_start:block_end], 31)
            except isal_zlib.error:
                return None
            while (newline := text.find(b"\n", at)) >= 0:
                line = text[at:newline].rstrip(b"\r")
                at = newline + 1
                if line and not line.startswith(b"##"):
                    return offset + block_end
            if len(text) > _MAX_HEADER_TEXT:
                return None
        data = data[used:]
        offset += used
    return None


def _next_block(handle: BinaryIO, target: int, size: int) -> int | None:
    """The offset of the first BGZF block that starts at or after
    ``target``, checked by the sizes of ``_CHAIN`` blocks chaining up (or
    reaching the end of the file); None when there is none."""
    handle.seek(target)
    data = handle.read((_CHAIN + 1) * _MAX_BLOCK)
    at = data.find(_BLOCK_MAGIC)
    while 0 <= at < _MAX_BLOCK + 1:
        if _chains(data, at, size - target):
            return target + at
        at = data.find(_BLOCK_MAGIC, at + 1)
    return None


def _chains(data: bytes, at: int, remaining: int) -> bool:
    """Whether ``_CHAIN`` well-formed blocks follow one another from ``at``
    in ``data`` (the last ``remaining`` bytes of the file, or their start)."""
    for _ in range(_CHAIN):
        if at == remaining:
            return True
        if data[at : at + 4] != _BLOCK_MAGIC:
            return False
        size = block_size(data, at)
        if size is None or size < _HEADER_BYTES + 8:
            return False
        at += size
        if at > remaining:
            return False
    return True
