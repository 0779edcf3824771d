"""Match input variants to a model's variants without silent mis-alignment.

Contig names are compared without a ``chr`` prefix. A biallelic SNP of the
input matches a model variant at the same position when its alleles are

- the same (REF/ALT as in the model),
- swapped (REF and ALT exchanged: the dosage becomes 2 - dosage),
- strand-flipped (both alleles complemented), or flipped and swapped,

except that a palindromic model SNP (A/T or C/G), whose strand cannot be
told from its alleles, matches only identical REF/ALT. Any other allele pair
at a model position is a mismatch and is not used.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import numpy as np

from dietnet_cli import genome
from dietnet_cli.genotypes import VariantBlock

_COMPLEMENT = {"A": "T", "C": "G", "G": "C", "T": "A"}

SAME = 0
SWAPPED = 1
FLIPPED = 2
FLIPPED_SWAPPED = 3


def is_palindromic(ref: str, alt: str) -> bool:
    """True for A/T and C/G SNPs, whose strand their alleles cannot tell."""
    return _COMPLEMENT.get(ref) == alt


def orientation(ref: str, alt: str, model_ref: str, model_alt: str) -> int | None:
    """How an input SNP's alleles relate to a model SNP's, or None."""
    if ref == model_ref and alt == model_alt:
        return SAME
    if is_palindromic(model_ref, model_alt):
        return None
    if ref == model_alt and alt == model_ref:
        return SWAPPED
    flipped_ref, flipped_alt = _COMPLEMENT.get(ref), _COMPLEMENT.get(alt)
    if flipped_ref == model_ref and flipped_alt == model_alt:
        return FLIPPED
    if flipped_ref == model_alt and flipped_alt == model_ref:
        return FLIPPED_SWAPPED
    return None


@dataclass
class BlockMatch:
    """Which columns of a block feed which model variants."""

    column: np.ndarray  # (num_matched,) int64 column of the block
    model_index: np.ndarray  # (num_matched,) int64 row of the model's weights
    swap: np.ndarray  # (num_matched,) bool: use 2 - dosage


@dataclass
class MatchCounts:
    """What matching found, for the log and for refusals."""

    input_snps: int = 0
    on_model_contigs: int = 0
    at_model_positions: int = 0
    same: int = 0
    swapped: int = 0
    flipped: int = 0
    allele_mismatch: int = 0
    duplicate: int = 0
    dropped: Counter = field(default_factory=Counter)

    @property
    def found(self) -> int:
        return self.same + self.swapped + self.flipped


class VariantMatcher:
    """Match blocks of input SNPs to a fixed list of model variants."""

    def __init__(
        self,
        chrom: tuple[str, ...],
        position: np.ndarray,
        ref: tuple[str, ...],
        alt: tuple[str, ...],
    ) -> None:
        self.num_variants = len(chrom)
        self._ref = ref
        self._alt = alt
        self._at: dict[tuple[str, int], list[int]] = {}
        for index, (name, pos) in enumerate(zip(chrom, position.tolist(), strict=True)):
            self._at.setdefault((genome.normalize_contig(name), pos), []).append(index)
        self.contigs = frozenset(genome.normalize_contig(name) for name in chrom)
        self.used = np.zeros(self.num_variants, dtype=bool)
        self.counts = MatchCounts()

    def keeps_contig(self, name: str) -> bool:
        """Whether records on contig ``name`` can match at all."""
        return genome.normalize_contig(name) in self.contigs

    def match(self, block: VariantBlock) -> BlockMatch:
        """Match one block; a model variant met twice is not used at all."""
        counts = self.counts
        counts.dropped.update(block.dropped)
        counts.input_snps += block.num_variants
        columns: list[int] = []
        targets: list[int] = []
        swaps: list[bool] = []
        kinds: list[int] = []
        for column in range(block.num_variants):
            chrom = genome.normalize_contig(block.chrom[column])
            if chrom not in self.contigs:
                continue
            counts.on_model_contigs += 1
            candidates = self._at.get((chrom, int(block.position[column])))
            if not candidates:
                continue
            counts.at_model_positions += 1
            ref, alt = block.ref[column], block.alt[column]
            for index in candidates:
                kind = orientation(ref, alt, self._ref[index], self._alt[index])
                if kind is not None:
                    columns.append(column)
                    targets.append(index)
                    swaps.append(kind in (SWAPPED, FLIPPED_SWAPPED))
                    kinds.append(kind)
                    break
            else:
                counts.allele_mismatch += 1

        target = np.array(targets, dtype=np.int64)
        keep = np.ones(len(target), dtype=bool)
        if len(target):
            # Duplicates: twice in this block, or already used before.
            repeated = np.bincount(target, minlength=self.num_variants)[target] > 1
            keep = ~repeated & ~self.used[target]
            newly_duplicated = np.unique(target[~keep])
            counts.duplicate += int((~keep).sum())
            self.used[target] = True
            # A variant met twice in one block was never counted as found.
            self.used[newly_duplicated] = True
        kinds_kept = np.array(kinds, dtype=np.int64)[keep] if len(kinds) else []
        for kind in kinds_kept:
            if kind == SAME:
                counts.same += 1
            elif kind == SWAPPED:
                counts.swapped += 1
            else:
                counts.flipped += 1
        return BlockMatch(
            column=np.array(columns, dtype=np.int64)[keep],
            model_index=target[keep],
            swap=np.array(swaps, dtype=bool)[keep],
        )
