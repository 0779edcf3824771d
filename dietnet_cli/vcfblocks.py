"""Gather VCF records into :class:`~dietnet_cli.genotypes.VariantBlock` s.

Records reach a block in one of two forms: the raw allele indices cyvcf2
gives for one record (``genotype.array()``), or a row of dosages already
decoded by :mod:`dietnet_cli.vcftext`. A block is cut every ``block_size``
kept records; the records passed over since the previous block are counted
in it by reason.

cyvcf2's ``gt_types`` reports a haploid ``1`` as homozygous ALT and a
partly missing ``./1`` as heterozygous, so the dosage is computed from the
raw allele indices instead: a call with any missing allele is missing
whatever its ploidy (``.``, ``./.``, ``./1``); a fully called one must be
diploid, with allele indices 0 or 1.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from typing import TypeVar

import numpy as np

from dietnet_cli.errors import InputError
from dietnet_cli.genotypes import (
    MISSING,
    SNP_PAIRS,
    VariantBlock,
    alt_alleles,
    snp_problem,
    transpose_into,
)

T = TypeVar("T")

# The shape cyvcf2 gives a diploid record's calls: two alleles and the
# phase flag per sample. Decoded dosage rows stand for records of this shape.
_DIPLOID_COLUMNS = 3


class BlockBuilder:
    """Collect kept records and records passed over, a block at a time.

    Parameters
    ----------
    display
        The input as named in error messages.
    keep_contig
        Records on contigs for which this is False are passed over, counted
        as ``contig``.
    block_size
        Kept records per block.
    """

    def __init__(
        self, display: str, keep_contig: Callable[[str], bool], block_size: int
    ) -> None:
        self.display = display
        self.block_size = block_size
        self._keep_contig = keep_contig
        self._contig_ok: dict[str, bool] = {}
        self.dropped: Counter = Counter()
        self._start()

    def _start(self) -> None:
        self.chroms: list[str] = []
        self.positions: list[int] = []
        self._ids: list[str] = []
        self._refs: list[str] = []
        self._alts: list[str] = []
        # The records kept as raw calls: their rows in the block, and calls.
        self._raw_rows: list[int] = []
        self._calls: list[np.ndarray] = []
        # Runs of decoded rows from one source: [source, block rows, rows].
        self._runs: list[list] = []
        self.dropped = Counter()

    def where(self) -> str:
        """`` after CHROM:POS`` of the last record kept in this block."""
        if not self.chroms:
            return ""
        return f" after {self.chroms[-1]}:{self.positions[-1]}"

    def passes_over(self, chrom: str, ref: str, alt: list[str]) -> bool:
        """Count the record as passed over and return True when it is on a
        contig not kept or not a biallelic SNP."""
        keep = self._contig_ok.get(chrom)
        if keep is None:
            keep = self._contig_ok[chrom] = self._keep_contig(chrom)
        if not keep:
            self.dropped["contig"] += 1
            return True
        reason = snp_problem(ref, alt)
        if reason:
            self.dropped[reason] += 1
            return True
        return False

    def add_calls(
        self,
        chrom: str,
        position: int,
        variant_id: str,
        ref: str,
        alt: str,
        calls: np.ndarray,
    ) -> VariantBlock | None:
        """Keep a record given as raw calls, (num_samples, ploidy + 1) int16;
        return the block it completes, if any."""
        self._raw_rows.append(len(self.chroms))
        self._calls.append(calls)
        self._add(chrom, position, variant_id, ref, alt)
        return self._full()

    def add_row(
        self,
        chrom: str,
        position: int,
        variant_id: str,
        ref: str,
        alt: str,
        source: np.ndarray,
        row: int,
    ) -> VariantBlock | None:
        """Keep a record whose dosages are ``source[row]``; return the block
        it completes, if any."""
        self._add_run(source, len(self.chroms), [row])
        self._add(chrom, position, variant_id, ref, alt)
        return self._full()

    def add_rows(
        self,
        chroms: list[str],
        positions: list[int],
        ids: list[str],
        refs: list[str],
        alts: list[str],
        source: np.ndarray,
    ) -> Iterator[VariantBlock]:
        """Pass over or keep, in order, the records whose dosages are the rows
        of ``source`` (ALT as written, see :func:`alt_alleles`), as
        :meth:`passes_over` and :meth:`add_row` would one at a time; yield the
        blocks they complete."""
        # Which records to keep: all of them, in the common case, found with
        # C-level passes; else each record's reason, as passes_over gives it.
        contig_ok = self._contig_ok
        for chrom in set(chroms).difference(contig_ok):
            contig_ok[chrom] = self._keep_contig(chrom)
        snp = list(map(SNP_PAIRS.__contains__, zip(refs, alts, strict=True)))
        kept: Sequence[int] = range(len(chroms))
        # (row, reason) of the records passed over, in order
        passed: list[tuple[int, str]] = []
        if not all(snp) or not all(contig_ok[chrom] for chrom in set(chroms)):
            kept = []
            for row, chrom in enumerate(chroms):
                if not contig_ok[chrom]:
                    passed.append((row, "contig"))
                elif snp[row]:
                    kept.append(row)
                else:
                    reason = snp_problem(refs[row], alt_alleles(alts[row]))
                    passed.append((row, reason or "not_snp"))
        # Fill blocks with the kept rows; a record passed over counts in the
        # block being filled when it comes, as it would one at a time.
        done = counted = 0
        while done < len(kept):
            rows = kept[done : done + self.block_size - len(self.chroms)]
            done += len(rows)
            while counted < len(passed) and passed[counted][0] < rows[-1]:
                self.dropped[passed[counted][1]] += 1
                counted += 1
            self._add_run(source, len(self.chroms), rows)
            self.chroms += _pick(chroms, rows)
            self.positions += _pick(positions, rows)
            self._ids += _pick(ids, rows)
            self._refs += map(str.upper, _pick(refs, rows))
            self._alts += map(str.upper, _pick(alts, rows))
            if len(self.chroms) >= self.block_size:
                yield self.flush()
        for _, reason in passed[counted:]:
            self.dropped[reason] += 1

    def _add_run(self, source: np.ndarray, index: int, rows: Sequence[int]) -> None:
        """Note that block rows from ``index`` on are ``source[rows]``."""
        if self._runs and self._runs[-1][0] is source:
            self._runs[-1][1].extend(range(index, index + len(rows)))
            self._runs[-1][2].extend(rows)
        else:
            self._runs.append(
                [source, list(range(index, index + len(rows))), list(rows)]
            )

    def _add(
        self, chrom: str, position: int, variant_id: str, ref: str, alt: str
    ) -> None:
        self.chroms.append(chrom)
        self.positions.append(position)
        self._ids.append(variant_id)
        self._refs.append(ref)
        self._alts.append(alt)

    def _full(self) -> VariantBlock | None:
        if len(self.chroms) < self.block_size:
            return None
        return self.flush()

    def pending(self) -> bool:
        """True when records are kept or counted since the last block."""
        return bool(self.chroms or self.dropped)

    def flush(self) -> VariantBlock:
        """The block of the records since the previous one."""
        raw = self._raw_rows
        if self._runs:
            num_samples = self._runs[0][0].shape[1]
        elif raw:
            num_samples = self._calls[0].shape[0]
        else:
            num_samples = 0
        # (num_samples, num_block_variants) int8, written a column range at a
        # time from the (num_rows, num_samples) decoded rows.
        dosage = np.empty((num_samples, len(self.chroms)), dtype=np.int8)
        for source, block_rows, rows in self._runs:
            for start, row, length in _stretches(block_rows, rows):
                transpose_into(
                    dosage[:, start : start + length], source[row : row + length]
                )
        if raw:
            dosage[:, raw] = self._decode_calls(num_samples, raw).T
        block = VariantBlock(
            chrom=self.chroms,
            position=np.asarray(self.positions, dtype=np.int64),
            variant_id=self._ids,
            ref=self._refs,
            alt=self._alts,
            dosage=dosage,
            dropped=self.dropped,
        )
        self._start()
        return block

    def _decode_calls(self, num_samples: int, raw: list[int]) -> np.ndarray:
        """Dosages of the records kept as raw calls, (num_raw, num_samples).

        Checked as if the whole block were raw calls: all at once when they
        have one shape (a decoded row counts as a diploid record), else one
        record at a time, so that the first problem reported is the same.
        """
        calls = self._calls
        chroms = [self.chroms[index] for index in raw]
        positions = [self.positions[index] for index in raw]
        shapes = {call.shape for call in calls}
        if self._runs:
            shapes.add((num_samples, _DIPLOID_COLUMNS))
        if len(shapes) == 1:
            # (num_raw, num_samples, ploidy + 1) int16: allele indices, then
            # the phase flag; -1 = missing allele, -2 = no allele (lower
            # ploidy).
            return _dosage(self.display, np.stack(calls), chroms, positions)
        dosage = np.empty((len(raw), num_samples), dtype=np.int8)
        for index, (call, chrom, position) in enumerate(
            zip(calls, chroms, positions, strict=True)
        ):
            dosage[index] = _dosage(self.display, call[None], [chrom], [position])[0]
        return dosage


def _stretches(
    block_rows: list[int], rows: list[int]
) -> Iterator[tuple[int, int, int]]:
    """(block row, source row, length) of each stretch where both run on."""
    if not rows:
        return
    block_at, row_at = np.asarray(block_rows), np.asarray(rows)
    breaks = np.flatnonzero((np.diff(block_at) != 1) | (np.diff(row_at) != 1)) + 1
    bounds = [0, *breaks.tolist(), len(rows)]
    for start, stop in zip(bounds[:-1], bounds[1:], strict=True):
        yield block_rows[start], rows[start], stop - start


def _pick(values: list[T], rows: Sequence[int]) -> list[T]:
    """``values`` at ``rows``: a slice when ``rows`` is a range."""
    if isinstance(rows, range):
        return values[rows.start : rows.stop]
    return [values[row] for row in rows]


def _dosage(
    display: str, calls: np.ndarray, chroms: list[str], positions: list[int]
) -> np.ndarray:
    """ALT copies from raw allele indices, (num_variants, num_samples) int8.

    A call with any missing allele is missing whatever its ploidy (``.``,
    ``./.``, ``./1``); a fully called one must be diploid.
    """
    if calls.shape[2] == 3:
        return _diploid_dosage(display, calls, chroms, positions)
    # (num_variants, num_samples, ploidy) int16, -1 = missing, -2 = no allele.
    alleles = calls[:, :, :-1]
    missing = (alleles == -1).any(axis=2)
    called = ~missing
    ploidy = (alleles != -2).sum(axis=2)
    _refuse_ploidy(display, called & (ploidy > 2), chroms, positions, "polyploid")
    _refuse_ploidy(display, called & (ploidy < 2), chroms, positions, "haploid")

    beyond = (alleles > 1).any(axis=2)
    if beyond.any():
        row, sample = np.argwhere(beyond)[0]
        raise InputError(
            f"Input file {display} has allele index {alleles[row, sample].max()} "
            f"at {chroms[row]}:{positions[row]}, where the record has only REF "
            "and one ALT; fix the GT values of that record."
        )
    dosage = np.where(called, alleles[:, :, :2].sum(axis=2), MISSING)
    return dosage.astype(np.int8)


def _diploid_dosage(
    display: str, calls: np.ndarray, chroms: list[str], positions: list[int]
) -> np.ndarray:
    """:func:`_dosage` for records of ploidy at most two, the common case.

    Working on the two allele columns as 2-D arrays, rather than reducing
    over a short third axis, makes this several times faster.
    """
    # (num_variants, num_samples) int16 each, -1 = missing, -2 = no allele.
    first, second = calls[:, :, 0], calls[:, :, 1]
    called = (first != -1) & (second != -1)
    _refuse_ploidy(
        display,
        called & ((first == -2) | (second == -2)),
        chroms,
        positions,
        "haploid",
    )
    beyond = (first > 1) | (second > 1)
    if beyond.any():
        row, sample = np.argwhere(beyond)[0]
        raise InputError(
            f"Input file {display} has allele index "
            f"{max(first[row, sample], second[row, sample])} at {chroms[row]}:"
            f"{positions[row]}, where the record has only REF and one ALT; fix "
            "the GT values of that record."
        )
    dosage = (first + second).astype(np.int8)
    dosage[~called] = MISSING
    return dosage


def _refuse_ploidy(
    display: str,
    mask: np.ndarray,
    chroms: list[str],
    positions: list[int],
    kind: str,
) -> None:
    if not mask.any():
        return
    row, _ = np.argwhere(mask)[0]
    raise InputError(
        f"Input file {display} has a {kind} genotype at {chroms[row]}:"
        f"{positions[row]}; dietnet reads diploid calls only, so make such calls "
        "diploid or missing first (bcftools +fixploidy, bcftools +setGT)."
    )
