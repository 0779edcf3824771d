"""The in-memory form every reader produces: blocks of biallelic SNPs.

A genotype is a dosage, the number of copies of the ALT allele carried by a
diploid sample: 0, 1 or 2, and -1 (:data:`MISSING`) when the call is missing
or only half called. The same encoding is used in memory, in a dataset's
``genotypes.npy`` and by every later stage.
"""

from __future__ import annotations

import os
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np

MISSING = -1
BASES = frozenset("ACGT")
# Side of the square tiles transpose_into copies at a time. Not a power of
# two: blocks are 4,096 or 8,192 variants wide, and a tile of 512 rows that
# far apart crowds the same cache sets; 384 transposed 2,504-sample blocks
# 16-34 % faster than 512 (and than 256) here.
_TILE = 384


@dataclass
class VariantBlock:
    """Consecutive biallelic SNPs and their genotypes."""

    chrom: list[str]
    position: np.ndarray  # (num_variants,) int64, 1-based
    variant_id: list[str]
    ref: list[str]
    alt: list[str]
    # (num_samples, num_variants) int8: ALT copies 0/1/2, -1 = missing.
    dosage: np.ndarray
    # Records passed over since the previous block, by reason.
    dropped: Counter = field(default_factory=Counter)

    @property
    def num_variants(self) -> int:
        return len(self.chrom)


def empty_block(dropped: Counter, num_samples: int = 0) -> VariantBlock:
    """A block that only reports records passed over."""
    return VariantBlock(
        chrom=[],
        position=np.zeros(0, dtype=np.int64),
        variant_id=[],
        ref=[],
        alt=[],
        dosage=np.zeros((num_samples, 0), dtype=np.int8),
        dropped=dropped,
    )


def to_sample_major(
    variant_major: np.ndarray, *, floor: int | None = None, threads: int = 1
) -> np.ndarray:
    """A (num_variants, num_samples) array as a C-ordered (num_samples,
    num_variants) copy (see :func:`transpose_into`).

    Values below ``floor`` are raised to it in the copy (None: unchanged).
    With ``threads`` above 1 the samples are split between that many
    threads: numpy lets go of the GIL while it copies a tile, so they copy
    in parallel.
    """
    num_variants, num_samples = variant_major.shape
    out = np.empty((num_samples, num_variants), dtype=variant_major.dtype)

    def copy(rows: slice) -> None:
        transpose_into(out[rows], variant_major[:, rows])
        if floor is not None:
            np.maximum(out[rows], floor, out=out[rows])

    threads = max(1, min(threads, os.cpu_count() or 1))
    step = max(1, -(-num_samples // threads))
    parts = [slice(start, start + step) for start in range(0, num_samples, step)]
    if len(parts) < 2:
        copy(slice(None))
    else:
        with ThreadPoolExecutor(len(parts)) as pool:
            list(pool.map(copy, parts))
    return out


def transpose_into(out: np.ndarray, source: np.ndarray) -> None:
    """``out[...] = source.T``, a square tile at a time.

    numpy's own transposing copy of a large int8 array reads across cache
    lines at every element and is about four times slower.
    """
    rows, columns = out.shape
    for i in range(0, rows, _TILE):
        for j in range(0, columns, _TILE):
            out[i : i + _TILE, j : j + _TILE] = source[j : j + _TILE, i : i + _TILE].T


# Every (REF, ALT) of a biallelic SNP, in either case: the pairs for which
# snp_problem(ref, [alt]) is None.
SNP_PAIRS = frozenset(
    (ref, alt)
    for ref in BASES | {base.lower() for base in BASES}
    for alt in BASES | {base.lower() for base in BASES}
)


def alt_alleles(alt: str) -> list[str]:
    """The alleles of an ALT column as htslib gives them: none for ``.``,
    and an empty allele as ``.``."""
    if alt == ".":
        return []
    return [allele or "." for allele in alt.split(",")]


def snp_problem(ref: str, alts: list[str]) -> str | None:
    """Why a record is not a biallelic SNP, or None when it is one.

    The reasons are the keys under which dropped records are counted:
    ``no_alt`` (no ALT allele, ``.`` or ``*``), ``multiallelic`` and
    ``not_snp`` (indels, symbolic and non-ACGT alleles).
    """
    if len(alts) == 0 or alts[0] in (".", "*", "0"):
        return "no_alt"
    if len(alts) > 1:
        return "multiallelic"
    if len(ref) != 1 or len(alts[0]) != 1:
        return "not_snp"
    if ref.upper() not in BASES or alts[0].upper() not in BASES:
        return "not_snp"
    return None
