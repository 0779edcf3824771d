"""Decode VCF text in bulk with numpy: the common case of :mod:`dietnet_cli.vcf`.

Most VCF files dietnet reads are text (plain, gzip or BGZF) whose records
carry diploid genotypes written with one digit per allele, ``0/1`` or
``1|1``, every sample field of a record the same width. For such records
the sample columns of many records are copied into one array and turned
into dosages with table look-ups, instead of building a record object per
line. Any line this module cannot decode exactly as htslib would (another
FORMAT layout, haploid or multi-digit alleles, odd widths, characters
htslib might refuse, ...) is handed back untouched, and :mod:`dietnet_cli.vcf`
parses it with htslib through cyvcf2, so every input reads as it always has.

BGZF blocks are independent gzip members; with ``threads`` > 1 they are
inflated with ISA-L by a thread pool (it releases the GIL) while the main thread
decodes the text already inflated.
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from itertools import repeat
from typing import BinaryIO

import numpy as np

from dietnet_cli.bgzf import (
    GZIP_MAGIC,
    DamagedTextError,
    block_size,
    inflate,
    read_raw,
    span_text,
)
from dietnet_cli.genotypes import MISSING

# Text handed to the decoder at a time, for plain and gzip input.
TEXT_PIECE = 4 << 20
# Records decoded together by the table look-ups (cache-sized pieces).
ROWS_PER_STEP = 32

# Per-allele codes of the look-up tables: an allele index, a missing allele
# or a byte pair the fast path does not take. A call's two codes are added:
# 0..2 is a dosage, -16..-7 a call with a missing allele, below -20 a call
# the fast path cannot decode.
_MISSING_ALLELE = -8
_NOT_TAKEN = -64
_NOT_TAKEN_BELOW = -20

# First half of a 4-byte call ``a/b<TAB>``: allele and separator.
_FIRST = np.full(1 << 16, _NOT_TAKEN, dtype=np.int8)
# Second half: allele and the tab that ends the sample field.
_SECOND = np.full(1 << 16, _NOT_TAKEN, dtype=np.int8)
# One allele byte.
_ALLELE = np.full(256, _NOT_TAKEN, dtype=np.int8)
# Whole 4-byte calls as little-endian words: the low bit of each allele
# byte, and ``0/0<TAB>`` / ``0|0<TAB>`` (what calls of 0 and 1 alleles
# become with those bits cleared).
_ALLELE_BITS = np.uint32(0x00010001)
_UNPHASED = np.uint32(int.from_bytes(b"0/0\t", "little"))
_PHASED = np.uint32(int.from_bytes(b"0|0\t", "little"))
for _byte, _value in ((ord("0"), 0), (ord("1"), 1), (ord("."), _MISSING_ALLELE)):
    for _separator in b"/|":
        _FIRST[_byte | _separator << 8] = _value
    _SECOND[_byte | ord("\t") << 8] = _value
    _ALLELE[_byte] = _value
del _byte, _value, _separator

# The bytes fixed columns (with their tabs) may hold here, printable ASCII
# (``text.translate(None, _PRINTABLE)`` is empty): htslib stores them as C
# strings and cyvcf2 decodes them as UTF-8.
_PRINTABLE = bytes([9, *range(0x20, 0x7F)])
# Names htslib can add to its header when a record uses an undeclared one.
_NAME = re.compile(rb"[A-Za-z0-9_][A-Za-z0-9_.\-]*\Z")
_INFO_KEY = re.compile(rb"(?:^|;)([^;=]*)")
_INFO_KEY_TEXT = re.compile(_INFO_KEY.pattern.decode())
# Values of the non-GT FORMAT fields that htslib parses without complaint.
_INTEGER = re.compile(rb"(?:|\.|[-+]?[0-9]+)(?:,(?:|\.|[-+]?[0-9]+))*\Z")
_FLOAT = re.compile(
    rb"(?:|\.|[-+]?[0-9]+(?:\.[0-9]+)?(?:[eE][-+]?[0-9]+)?)"
    rb"(?:,(?:|\.|[-+]?[0-9]+(?:\.[0-9]+)?(?:[eE][-+]?[0-9]+)?))*\Z"
)
_STRING = re.compile(rb"[\x20-\x39\x3b-\x7e]*\Z")
_VALUE_PATTERN = {
    "Integer": _INTEGER,
    "Float": _FLOAT,
    "String": _STRING,
    "Character": _STRING,
}
# Longest ALT and INFO htslib takes without hitting its 65,535 limits.
_MAX_LIST_BYTES = 60_000


@dataclass(frozen=True)
class HeaderFacts:
    """What the decoder needs from the header, as htslib parsed it."""

    num_samples: int
    # Sample columns to return, in file order; None for all.
    columns: np.ndarray | None
    contigs: frozenset[str]
    filters: frozenset[str]
    infos: frozenset[str]
    # FORMAT ID -> declared Type.
    formats: dict[str, str]


@dataclass
class DecodedLines:
    """A run of complete lines: the records decoded here, in file order,
    and the lines left for htslib."""

    # Per line: the row of the decoded records, or -1 for a line in
    # ``fallback``.
    row_of_line: Sequence[int]
    fallback: list[bytes]
    chrom: list[str] = field(default_factory=list)
    position: list[int] = field(default_factory=list)
    variant_id: list[str] = field(default_factory=list)
    ref: list[str] = field(default_factory=list)
    # The ALT column as written (see :func:`dietnet_cli.genotypes.alt_alleles`).
    alt: list[str] = field(default_factory=list)
    # (num_rows, num_selected_samples) int8: ALT copies, -1 = missing.
    dosage: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), np.int8))


@dataclass(frozen=True)
class _Layout:
    """How the sample fields of one FORMAT are laid out: GT, then the
    declared types of the other fields (empty for FORMAT ``GT``)."""

    types: tuple[str, ...]


_GT_ONLY = _Layout(types=())
# The layout key of FORMAT ``GT`` with 4-byte sample fields.
_GT_KEY = (_GT_ONLY, 4)


def _info_keys(infos: list[str]) -> set[str]:
    """The keys of INFO columns other than ``.``, as :meth:`Decoder._info_ok`
    finds them (a column ending in ``;`` adds an empty key)."""
    text = ";".join(filter(".".__ne__, infos))
    keys = set(_INFO_KEY_TEXT.findall(text)) if text else set()
    if "" in infos:  # an empty column, whose only key is empty
        keys.add("")
    return keys


def _rows_by_key(
    keys: list[tuple[_Layout, int]],
) -> dict[tuple[_Layout, int], list[int] | None]:
    """The rows of each layout key; {key: None} when all rows share one."""
    if not keys or keys.count(keys[0]) == len(keys):
        return {keys[0]: None} if keys else {}
    rows: dict[tuple[_Layout, int], list[int] | None] = {}
    for row, key in enumerate(keys):
        rows.setdefault(key, []).append(row)
    return rows


def kind_of(head: bytes) -> str:
    """``bgzf``, ``gzip`` or ``plain`` for the first bytes of a file.

    A gzip file is BGZF when its first member carries the ``BC`` extra
    subfield; the decompressed content is not looked at here.
    """
    if head[:2] != GZIP_MAGIC:
        return "plain"
    if len(head) >= 18 and head[3] & 4 and block_size(head, 0) is not None:
        return "bgzf"
    return "gzip"


def starts_as_text(head: bytes) -> bool:
    """True when the first bytes of a file are (compressed) VCF text rather
    than BCF or something else: the text starts with ``#``."""
    if kind_of(head) == "plain":
        return head.startswith(b"#")
    try:
        return zlib.decompressobj(31).decompress(head, 1) == b"#"
    except zlib.error:
        return False


class TextStream:
    """The decompressed text of a VCF file or pipe, in large pieces.

    Parameters
    ----------
    handle
        The open binary file, positioned at its start (less ``prefix``).
    prefix
        Bytes already read from ``handle`` (a pipe cannot be rewound).
    threads
        Threads inflating BGZF blocks; 1 inflates in the calling thread.
    span
        For a BGZF file: the (start, stop) offsets of the blocks whose
        records :meth:`lines` yields (see :func:`dietnet_cli.bgzf.span_text`);
        None for all records.
    """

    def __init__(
        self,
        handle: BinaryIO,
        *,
        prefix: bytes = b"",
        threads: int = 1,
        span: tuple[int, int | None] | None = None,
    ):
        self._handle = handle
        self._prefix = prefix
        self._threads = max(1, threads)
        self._span = span
        self._pieces: Iterator[bytes] | None = None
        self._pending = b""
        self._header_bytes = 0

    def _all_pieces(self) -> Iterator[bytes]:
        raw = read_raw(self._handle, 0, None, self._prefix)
        first = next(raw, b"")
        kind = kind_of(first)
        raw = _chain(first, raw)
        if kind == "bgzf":
            yield from inflate(raw, self._threads)
        elif kind == "gzip":
            yield from _gzip_pieces(raw)
        else:
            yield from raw

    def read_header(self) -> tuple[bytes, bool]:
        """Read the header lines, up to and including the ``#CHROM`` line.

        Returns the header bytes and whether the header ended as htslib's
        does: with a ``#`` line after only ``##`` and empty lines.
        """
        self._pieces = self._all_pieces()
        buffer = bytearray()
        at = 0
        while True:
            newline = buffer.find(b"\n", at)
            while newline < 0:
                piece = next(self._pieces, None)
                if piece is None:
                    self._pending = b""
                    return bytes(buffer), False
                buffer += piece
                newline = buffer.find(b"\n", at)
            line = buffer[at:newline].rstrip(b"\r")
            at = newline + 1
            if not line or line.startswith(b"##"):
                continue
            self._pending = bytes(buffer[at:])
            self._header_bytes = at
            return bytes(buffer[:at]), line.startswith(b"#")

    def lines(self) -> Iterator[tuple[bytes, int, int]]:
        """Yield ``(text, start, end)``: ``text[start:end]`` holds whole
        lines, each ending with a newline (one is added to a last line
        that lacks it). Call after :meth:`read_header`."""
        assert self._pieces is not None, "read_header() first"
        carry = b""
        first, pieces = self._pending, self._pieces
        self._pending = b""
        if self._span is not None:
            # The header was read from the start; the records come from the
            # span (whose first lines are the header when it starts at 0).
            self._pieces.close()
            skip = self._header_bytes if self._span[0] == 0 else 0
            first = b""
            pieces = _skip(
                span_text(self._handle, self._span, threads=self._threads), skip
            )
        for piece in _chain(first, pieces):
            start = 0
            if carry:
                newline = piece.find(b"\n")
                if newline < 0:
                    carry += piece
                    continue
                joined = carry + piece[: newline + 1]
                yield joined, 0, len(joined)
                start = newline + 1
            last = piece.rfind(b"\n")
            if last >= start:
                yield piece, start, last + 1
                carry = piece[last + 1 :]
            else:
                carry = piece[start:]
        if carry:
            yield carry + b"\n", 0, len(carry) + 1


def _skip(pieces: Iterator[bytes], count: int) -> Iterator[bytes]:
    """``pieces`` less their first ``count`` bytes."""
    for piece in pieces:
        if count >= len(piece):
            count -= len(piece)
            continue
        yield piece[count:] if count else piece
        count = 0


def _chain(first: bytes, rest: Iterator[bytes]) -> Iterator[bytes]:
    if first:
        yield first
    yield from rest


def _gzip_pieces(raw: Iterator[bytes]) -> Iterator[bytes]:
    """Inflate a (multi-member) gzip stream in bounded pieces."""
    inflater = zlib.decompressobj(31)
    started = False
    try:
        for chunk in raw:
            data = chunk
            while data:
                if inflater.eof:
                    if data[:2] != GZIP_MAGIC:
                        raise DamagedTextError("bytes follow the last gzip member")
                    inflater = zlib.decompressobj(31)
                started = True
                piece = inflater.decompress(data, TEXT_PIECE)
                if piece:
                    yield piece
                data = inflater.unconsumed_tail or inflater.unused_data
        if tail := inflater.flush():
            yield tail
        if started and not inflater.eof:
            raise DamagedTextError("the gzip stream ends early")
    except zlib.error as error:
        raise DamagedTextError(f"the gzip stream does not inflate: {error}") from None


class Decoder:
    """Decode runs of record lines; holds the per-file caches.

    With ``take`` False every line is left for htslib (a reference for
    tests, and the way to read piped text without this decoder).
    """

    def __init__(self, facts: HeaderFacts, *, take: bool = True) -> None:
        self.facts = facts
        self._take = take
        self._gt_width = 4 * facts.num_samples
        self._chrom: dict[bytes, str | None] = {}
        self._filter: dict[bytes, bool] = {}
        self._layout: dict[bytes, _Layout | None] = {}
        self._other_ids = facts.infos | frozenset(facts.formats)

    def decode(self, text: bytes, start: int, end: int) -> DecodedLines:
        """Decode the whole lines of ``text[start:end]``."""
        line_start: list[int] = []
        # Lines this decoder may take: their index, fixed columns, layout and
        # where their sample columns start.
        candidates: list[int] = []
        heads: list[bytes] = []
        keys: list[tuple[_Layout, int]] = []
        sample_start: list[int] = []
        gt_width = self._gt_width
        position = start
        while position < end:
            newline = text.find(b"\n", position, end)
            samples_at = newline + 1 - gt_width
            if samples_at - 4 > position and text.startswith(b"\tGT\t", samples_at - 4):
                head, key = text[position : samples_at - 4], _GT_KEY
            else:
                head, key, samples_at = self._general(text, position, newline)
            if key is not None and self._take:
                candidates.append(len(line_start))
                heads.append(head)
                keys.append(key)
                sample_start.append(samples_at)
            line_start.append(position)
            position = newline + 1

        out = DecodedLines(row_of_line=range(len(line_start)), fallback=[])
        taken = self._fixed_columns(heads, out)
        if taken is not None:
            keys = [key for key, ok in zip(keys, taken, strict=True) if ok]
            sample_start = [
                at for at, ok in zip(sample_start, taken, strict=True) if ok
            ]
            candidates = [
                line for line, ok in zip(candidates, taken, strict=True) if ok
            ]
        if len(candidates) < len(line_start):
            row_of_line = [-1] * len(line_start)
            for row, line in enumerate(candidates):
                row_of_line[line] = row
            out.row_of_line = row_of_line

        # Decode the sample columns of each layout; refused rows fall back.
        num_rows = len(candidates)
        columns = self.facts.columns
        width = self.facts.num_samples if columns is None else len(columns)
        out.dosage = np.empty((num_rows, width), dtype=np.int8)
        refused = np.zeros(num_rows, dtype=bool)
        for key, rows in _rows_by_key(keys).items():
            starts = sample_start if rows is None else [sample_start[r] for r in rows]
            dosage, bad = self._decode_samples(text, starts, key)
            if columns is not None:
                dosage = np.take(dosage, columns, axis=1)
            if rows is None:
                out.dosage = dosage
                refused = bad
            else:
                out.dosage[rows] = dosage
                refused[rows] = bad
        if refused.any() or num_rows < len(line_start):
            self._fall_back(text, end, out, line_start, refused)
        return out

    def _fixed_columns(
        self, heads: list[bytes], out: DecodedLines
    ) -> list[bool] | None:
        """Parse the eight fixed columns of each line into ``out``.

        Returns None when every line was taken, else whether each was (see
        :meth:`_fixed`). Lines are checked together, with a few passes of
        C loops over all of them; when any line fails a check, each line is
        parsed on its own to tell which.
        """
        if not heads:
            return None
        joined = b"\t".join(heads)
        if joined.translate(None, _PRINTABLE) or set(
            map(bytes.count, heads, repeat(b"\t"))
        ) != {7}:
            return self._fixed_each(heads, out)
        fields = joined.decode("ascii").split("\t")
        chroms, positions, ids, refs, alts = (fields[i::8] for i in range(5))
        filters, infos = fields[6::8], fields[7::8]
        digits = "".join(positions)
        lengths = set(map(len, positions))
        if not (
            digits.isdigit()
            and min(lengths) > 0
            and max(lengths) <= 18
            and max(map(len, alts)) <= _MAX_LIST_BYTES
            and max(map(len, infos)) <= _MAX_LIST_BYTES
            and all(self._chrom_ok(chrom) for chrom in set(chroms))
            and all(self._filter_text_ok(value) for value in set(filters))
            and all(map(self._info_key_ok, _info_keys(infos)))
        ):
            return self._fixed_each(heads, out)
        out.chrom.extend(chroms)
        out.position.extend(map(int, positions))
        # htslib keeps an empty ID or allele as ".".
        out.variant_id.extend([value or "." for value in ids] if "" in ids else ids)
        out.ref.extend([value or "." for value in refs] if "" in refs else refs)
        out.alt.extend(alts)
        return None

    def _fixed_each(self, heads: list[bytes], out: DecodedLines) -> list[bool]:
        return [self._fixed(head, out) for head in heads]

    def _chrom_ok(self, chrom: str) -> bool:
        name = self._chrom.get(chrom.encode(), "")
        if name == "":
            name = self._chrom[chrom.encode()] = self._chrom_name(chrom.encode())
        return name is not None

    def _filter_text_ok(self, filters: str) -> bool:
        encoded = filters.encode()
        ok = self._filter.get(encoded)
        if ok is None:
            ok = self._filter[encoded] = self._filter_ok(encoded)
        return ok

    def _info_key_ok(self, key: str) -> bool:
        if key in self.facts.infos:
            return True
        return bool(_NAME.match(key.encode())) and key not in self.facts.formats

    def _general(
        self, text: bytes, position: int, newline: int
    ) -> tuple[bytes, tuple[_Layout, int] | None, int]:
        """Split off the fixed columns of a line that is not GT-only with
        3-byte calls; find its FORMAT layout and sample-field width."""
        at = position
        for _ in range(8):
            at = text.find(b"\t", at, newline) + 1
            if at == 0:
                return b"", None, 0
        format_end = text.find(b"\t", at, newline)
        if format_end < 0:
            return b"", None, 0
        layout = self._layout_of(text[at:format_end])
        if layout is None:
            return b"", None, 0
        samples_at = format_end + 1
        first_end = text.find(b"\t", samples_at, newline)
        field_width = (newline if first_end < 0 else first_end) + 1 - samples_at
        if field_width < 5 or field_width * self.facts.num_samples != (
            newline + 1 - samples_at
        ):
            return b"", None, 0
        return text[position : at - 1], (layout, field_width), samples_at

    def _layout_of(self, format_text: bytes) -> _Layout | None:
        """The layout of a FORMAT ``GT:...``, None when not decoded here."""
        if format_text in self._layout:
            return self._layout[format_text]
        keys = format_text.split(b":")
        layout = None
        names = [key.decode("ascii", "replace") for key in keys[1:]]
        types = tuple(self.facts.formats.get(name, "") for name in names)
        if (
            keys[0] == b"GT"
            and len(keys) > 1
            and len(keys) <= 255
            and len(set(keys)) == len(keys)
            and all(kind in _VALUE_PATTERN for kind in types)
        ):
            layout = _Layout(types=types)
        self._layout[format_text] = layout
        return layout

    def _fixed(self, head: bytes, out: DecodedLines) -> bool:
        """Parse the eight fixed columns into ``out``; False when htslib
        might refuse them or read them differently."""
        if head.translate(None, _PRINTABLE):
            return False
        fields = head.split(b"\t")
        if len(fields) != 8:
            return False
        chrom_text, pos_text, id_text, ref_text, alt_text, _, filters, info = fields
        chrom = self._chrom.get(chrom_text, "")
        if chrom == "":
            chrom = self._chrom[chrom_text] = self._chrom_name(chrom_text)
        if chrom is None:
            return False
        if not (pos_text.isdigit() and len(pos_text) <= 18):
            return False
        if len(alt_text) > _MAX_LIST_BYTES or not self._info_ok(info):
            return False
        filter_ok = self._filter.get(filters)
        if filter_ok is None:
            filter_ok = self._filter[filters] = self._filter_ok(filters)
        if not filter_ok:
            return False
        out.chrom.append(chrom)
        out.position.append(int(pos_text))
        out.variant_id.append(id_text.decode() or ".")
        # htslib keeps an empty allele as ".".
        out.ref.append(ref_text.decode() or ".")
        out.alt.append(alt_text.decode())
        return True

    def _chrom_name(self, chrom: bytes) -> str | None:
        name = chrom.decode()
        if name in self.facts.contigs or _NAME.match(chrom):
            return name
        return None

    def _filter_ok(self, filters: bytes) -> bool:
        if filters == b".":
            return True
        names = filters[:-1] if filters.endswith(b";") else filters
        for name in names.split(b";"):
            text = name.decode()
            if text in self.facts.filters:
                continue
            if not _NAME.match(name) or text in self._other_ids:
                return False
        return True

    def _info_ok(self, info: bytes) -> bool:
        if info == b".":
            return True
        if len(info) > _MAX_LIST_BYTES:
            return False
        for key in _INFO_KEY.findall(info[:-1] if info.endswith(b";") else info):
            text = key.decode()
            if text in self.facts.infos:
                continue
            if not _NAME.match(key) or text in self.facts.formats:
                return False
        return True

    def _decode_samples(
        self, text: bytes, starts: list[int], key: tuple[_Layout, int]
    ) -> tuple[np.ndarray, np.ndarray]:
        """Dosages of the sample columns of rows of one layout.

        Returns (num_rows, num_samples) int8 dosages and (num_rows,) bool,
        True for a row the fast path does not take.
        """
        layout, field_width = key
        num_samples = self.facts.num_samples
        section = field_width * num_samples
        view = memoryview(text)
        # (num_rows, section) uint8: the sample columns of each row, the
        # newline that ends the line made a tab like the others.
        buffer = bytearray().join(view[s : s + section] for s in starts)
        calls = np.frombuffer(buffer, dtype=np.uint8).reshape(len(starts), section)
        calls[:, -1] = ord("\t")
        if layout is _GT_ONLY:
            return _gt_only(calls, num_samples)
        return self._with_fields(calls, layout, field_width)

    def _with_fields(
        self, calls: np.ndarray, layout: _Layout, field_width: int
    ) -> tuple[np.ndarray, np.ndarray]:
        """Rows whose sample fields are ``a/b:...`` of one width.

        Besides the call, every sample must show the first sample's bytes
        where that one has no digit and a digit where it has one, and the
        first sample's values must be ones htslib parses without complaint:
        then htslib takes every sample's values.
        """
        num_rows = calls.shape[0]
        # (num_rows, num_samples, field_width) uint8
        fields = calls.reshape(num_rows, -1, field_width)
        first = _ALLELE[fields[:, :, 0]]
        second = _ALLELE[fields[:, :, 2]]
        separator = fields[:, :, 1]
        total = first + second
        bad = (
            (total < _NOT_TAKEN_BELOW).any(axis=1)
            | ~((separator == ord("/")) | (separator == ord("|"))).all(axis=1)
            | (fields[:, :, 3] != ord(":")).any(axis=1)
            | (fields[:, :, -1] != ord("\t")).any(axis=1)
        )
        rest = fields[:, :, 4:-1]
        digit = (rest - np.uint8(ord("0"))) < 10
        same = np.where(digit[:, :1], digit, rest == rest[:, :1])
        bad |= ~same.all(axis=(1, 2))
        for row in np.flatnonzero(~bad):
            values = bytes(rest[row, 0]).split(b":")
            if len(values) != len(layout.types) or not all(
                _VALUE_PATTERN[kind].match(value)
                for kind, value in zip(layout.types, values, strict=True)
            ):
                bad[row] = True
        return np.maximum(total, MISSING).astype(np.int8), bad

    def _fall_back(
        self,
        text: bytes,
        end: int,
        out: DecodedLines,
        line_start: list[int],
        refused: np.ndarray,
    ) -> None:
        """Hand htslib the lines not decoded here, in order."""
        bounds = line_start[1:] + [end]
        out.row_of_line = list(out.row_of_line)
        for index, row in enumerate(out.row_of_line):
            if row >= 0 and not refused[row]:
                continue
            out.row_of_line[index] = -1
            out.fallback.append(text[line_start[index] : bounds[index]])


def _gt_only(calls: np.ndarray, num_samples: int) -> tuple[np.ndarray, np.ndarray]:
    """Rows of FORMAT ``GT`` with 4-byte fields ``a/b<TAB>``.

    A row of fully called ``0/1``-style calls, all ``/`` or all ``|``, is
    recognised by one masked comparison per call and its dosages are the
    low bits of the two allele bytes added. Other rows (missing calls,
    mixed phasing, anything else) are looked up in two tables, one per
    16-bit half of a call: allele+separator and allele+tab.
    """
    num_rows = calls.shape[0]
    # (num_rows, num_samples) little-endian uint32: one call per word.
    words = calls.view("<u4").reshape(num_rows, num_samples)
    dosage = np.empty((num_rows, num_samples), dtype=np.int8)
    bad = np.zeros(num_rows, dtype=bool)
    scratch = np.empty((ROWS_PER_STEP, num_samples), dtype=np.uint32)
    for step in range(0, num_rows, ROWS_PER_STEP):
        part = words[step : step + ROWS_PER_STEP]
        work = scratch[: len(part)]
        np.bitwise_and(part, ~_ALLELE_BITS, out=work)
        plain = (work == _UNPHASED).all(axis=1)
        if not plain.all():
            plain |= (work == _PHASED).all(axis=1)
        # Bit 0 of each allele byte is its index; the product adds them.
        np.bitwise_and(part, _ALLELE_BITS, out=work)
        work *= _ALLELE_BITS
        work >>= np.uint32(16)
        np.copyto(dosage[step : step + ROWS_PER_STEP], work, casting="unsafe")
        if plain.all():
            continue
        rows = step + np.flatnonzero(~plain)
        # (num_other_rows, num_samples, 2) uint16
        halves = calls[rows].view("<u2").reshape(len(rows), num_samples, 2)
        total = np.take(_FIRST, halves[:, :, 0])
        total += np.take(_SECOND, halves[:, :, 1])
        bad[rows] = total.min(axis=1) < _NOT_TAKEN_BELOW
        dosage[rows] = np.maximum(total, MISSING)
    return dosage, bad
