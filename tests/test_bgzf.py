"""BGZF blocks: finding them, and spans of them that share no line."""

from __future__ import annotations

import io
import struct
import zlib

import numpy as np
import pytest

from dietnet_cli import bgzf

EOF_BLOCK = bytes.fromhex("1f8b08040000000000ff0600424302001b0003000000000000000000")
HEADER = b"##fileformat=VCFv4.2\n##source=test\n#CHROM\tPOS\tID\n"


def block(text: bytes, level: int = 6) -> bytes:
    """One BGZF block holding ``text`` (level 0 stores it uncompressed)."""
    deflater = zlib.compressobj(level, zlib.DEFLATED, -15)
    data = deflater.compress(text) + deflater.flush()
    size = 18 + len(data) + 8
    head = b"\x1f\x8b\x08\x04\x00\x00\x00\x00\x00\xff\x06\x00BC\x02\x00"
    tail = struct.pack("<II", zlib.crc32(text), len(text))
    return head + struct.pack("<H", size - 1) + data + tail


def bgzf_file(pieces: list[bytes], level: int = 6) -> tuple[bytes, list[int]]:
    """A BGZF file of one block per piece, and the offset of each block."""
    offsets, data = [], b""
    for piece in pieces:
        offsets.append(len(data))
        data += block(piece, level)
    return data + EOF_BLOCK, offsets


def random_lines(rng, count: int) -> bytes:
    """Record lines of very different lengths, some ending in CR LF."""
    lines = []
    for number in range(count):
        width = int(rng.choice([0, 3, 40, 300]))
        ending = b"\r\n" if number % 7 == 0 else b"\n"
        lines.append(b"1\t%d\t" % number + b"x" * width + ending)
    return b"".join(lines)


def cut(rng, text: bytes, count: int) -> list[bytes]:
    """``text`` cut at random places, some of them just after a newline."""
    newlines = [i + 1 for i, byte in enumerate(text) if byte == ord("\n")]
    places = set(rng.choice(len(text), count // 2, replace=False).tolist())
    places |= set(rng.choice(newlines, count - count // 2, replace=False).tolist())
    bounds = sorted(places - {0, len(text)})
    return [text[a:b] for a, b in zip([0, *bounds], [*bounds, len(text)], strict=True)]


def span_lines(data: bytes, span) -> bytes:
    return b"".join(bgzf.span_text(io.BytesIO(data), span))


class TestSpanText:
    @pytest.mark.parametrize("seed", range(6))
    def test_spans_share_and_lose_no_line(self, seed):
        rng = np.random.default_rng(seed)
        records = random_lines(rng, 200)
        if seed % 2:
            records = records.rstrip(b"\n")  # a last line without its newline
        pieces = [HEADER, *cut(rng, records, 30)]
        data, offsets = bgzf_file(pieces)
        whole = HEADER + records
        # Every way of cutting the blocks after the header into three spans.
        after_header = offsets[1:]
        for first in after_header:
            for second in [o for o in after_header if o > first]:
                spans = [(0, first), (first, second), (second, None)]
                texts = [span_lines(data, span) for span in spans]
                assert b"".join(texts) == whole, (first, second)
                for text in texts[:-1]:
                    # whole lines, but for the file's last line
                    assert text.endswith(b"\n") or whole.endswith(text)

    def test_a_span_inside_one_line_owns_no_line(self):
        long_line = b"1\t5\t" + b"y" * 500 + b"\n"
        pieces = [HEADER, b"1\t1\tz\n1\t2\t", long_line[:200], long_line[200:], b"3\n"]
        data, offsets = bgzf_file(pieces)
        assert span_lines(data, (offsets[2], offsets[3])) == b""
        assert span_lines(data, (offsets[1], offsets[2])) == b"1\t2\t" + long_line
        assert span_lines(data, (offsets[3], None)) == b"3\n"

    def test_damaged_block(self):
        data, offsets = bgzf_file([HEADER, b"1\t1\n" * 50, b"1\t2\n" * 50])
        damaged = bytearray(data)
        damaged[offsets[2] + 20] ^= 0xFF
        with pytest.raises(bgzf.DamagedTextError, match="does not inflate"):
            span_lines(bytes(damaged), (offsets[1], None))


class TestPlanSpans:
    def test_spans_start_at_blocks_after_the_header(self):
        rng = np.random.default_rng(1)
        header_pieces = [HEADER[:10], HEADER[10:30], HEADER[30:]]
        pieces = header_pieces + cut(rng, random_lines(rng, 3000), 60)
        data, offsets = bgzf_file(pieces)
        for parts in (2, 3, 5):
            spans = bgzf.plan_spans(io.BytesIO(data), parts, 1)
            assert len(spans) == parts
            starts = [start for start, _ in spans]
            assert starts[0] == 0
            assert all(start in offsets[3:] for start in starts[1:])
            assert [stop for _, stop in spans] == [*starts[1:], None]
            sizes = np.diff([*starts, len(data)])
            assert sizes.max() - sizes.min() <= 2 * max(np.diff(offsets))
            text = b"".join(span_lines(data, span) for span in spans)
            assert text == b"".join(pieces)

    def test_head_start(self):
        rng = np.random.default_rng(2)
        data, _ = bgzf_file([HEADER, *cut(rng, random_lines(rng, 3000), 60)])
        even = bgzf.plan_spans(io.BytesIO(data), 2, 1)
        ahead = bgzf.plan_spans(io.BytesIO(data), 2, 1, head_start=len(data) // 4)
        assert ahead[1][0] > even[1][0] + len(data) // 10

    def test_no_more_parts_than_the_records_fill(self):
        rng = np.random.default_rng(3)
        data, offsets = bgzf_file([HEADER, *cut(rng, random_lines(rng, 3000), 60)])
        records = len(data) - offsets[1]
        spans = bgzf.plan_spans(io.BytesIO(data), 8, records // 3)
        assert len(spans) == 3

    def test_not_worth_splitting(self):
        data, _ = bgzf_file([HEADER, b"1\t1\n" * 100, b"1\t2\n" * 100])
        assert bgzf.plan_spans(io.BytesIO(data), 2, len(data)) == []
        assert bgzf.plan_spans(io.BytesIO(data), 1, 1) == []
        # Nothing but the header.
        data, _ = bgzf_file([HEADER])
        assert bgzf.plan_spans(io.BytesIO(data), 2, 1) == []

    def test_block_magic_inside_a_block_is_passed_over(self):
        # Stored (level 0) blocks carry their text as is, so text that looks
        # like a block header appears in the compressed file.
        fake = block(b"fake")[:18] + b"\x00" * 40
        lines = [b"1\t%d\t" % i + fake.hex().encode() + b"\n" for i in range(3)]
        trap = b"1\t9\t" + fake + b"\n"
        pieces = [HEADER] + [trap + b"".join(lines)] * 12
        data, offsets = bgzf_file(pieces, level=0)
        assert data.count(fake[:4]) > len(pieces)
        handle = io.BytesIO(data)
        for target in range(offsets[1], len(data) - 100, 37):
            found = bgzf._next_block(handle, target, len(data))
            assert found in offsets or found == len(data) - len(EOF_BLOCK)
            assert found >= target
