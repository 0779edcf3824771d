"""Which variants a dataset keeps: the filters, the ``--variants`` list,
repeats of a variant, and the filtering of one block of variants.

A reader of one part of the input collects what it keeps in a
:class:`PartResult`: the genotype blocks, in a block store, and the
variants' columns of ``variants.tsv``.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field

import numpy as np

from dietnet_cli import dataset, genome
from dietnet_cli.errors import InputError
from dietnet_cli.genotypes import VariantBlock


@dataclass(frozen=True)
class Filters:
    """Which variants a dataset keeps."""

    # Minor allele frequency below which a variant is dropped. The default 0
    # keeps rare variants, which can be specific to one population.
    maf: float = 0.0
    # Fraction of missing calls above which a variant is dropped.
    max_missing: float = 0.1
    # Keep chromosomes other than 1-22 (X, Y, MT, unplaced contigs).
    all_contigs: bool = False
    regions: tuple[str, ...] = ()
    variants_file: str | None = None


@dataclass
class PartResult:
    """What one worker read from one part of the input."""

    store: dataset.BlockStore | dataset.MatrixWriter
    chrom: list[str] = field(default_factory=list)
    position: list[np.ndarray] = field(default_factory=list)
    variant_id: list[str] = field(default_factory=list)
    ref: list[str] = field(default_factory=list)
    alt: list[str] = field(default_factory=list)
    alt_frequency: list[np.ndarray] = field(default_factory=list)
    missing_rate: list[np.ndarray] = field(default_factory=list)
    dropped: Counter = field(default_factory=Counter)
    num_read: int = 0
    # The variants kept, for a check of repeats across parts; only when the
    # reader was asked to keep them.
    seen: SeenVariants | None = None
    # Blocks of this part already written after another part's, into that
    # part's matrix (a span worker's, as it read them).
    streamed: int = 0


@dataclass(frozen=True)
class VariantList:
    """Variants named by --variants: by position (and alleles) or by ID."""

    positions: frozenset[tuple[str, int]]
    alleles: frozenset[tuple[str, int, str, str]]
    ids: frozenset[str]

    def contains(
        self, chrom: str, position: int, variant_id: str, ref: str, alt: str
    ) -> bool:
        chrom = genome.normalize_contig(chrom)
        return (
            (chrom, position) in self.positions
            or (chrom, position, ref, alt) in self.alleles
            or variant_id in self.ids
        )


def read_variant_list(path: str | None) -> VariantList | None:
    """Read --variants: a TSV with chrom and pos columns (ref, alt optional),
    or one variant per line as ``chrom:pos``, ``chrom:pos:ref:alt`` or an ID."""
    if path is None:
        return None
    try:
        with open(path) as handle:
            lines = [
                (number, line.rstrip("\r\n"))
                for number, line in enumerate(handle, start=1)
                if line.strip()
            ]
    except (OSError, UnicodeDecodeError) as error:
        raise InputError(f"Cannot read variant list {path}: {error}.") from None
    positions: set[tuple[str, int]] = set()
    alleles: set[tuple[str, int, str, str]] = set()
    ids: set[str] = set()
    header = [name.strip() for name in lines[0][1].split("\t")] if lines else []
    if "chrom" in header and "pos" in header:
        chrom_at, pos_at = header.index("chrom"), header.index("pos")
        allele_at = (
            (header.index("ref"), header.index("alt"))
            if "ref" in header and "alt" in header
            else None
        )
        needed = max(chrom_at, pos_at, *(allele_at or ())) + 1
        for number, line in lines[1:]:
            row = [value.strip() for value in line.split("\t")]
            if len(row) < needed:
                raise InputError(
                    f"Variant list {path} line {number} has {len(row)} columns, "
                    f"fewer than the {needed} its header calls for; fix that line."
                )
            if not row[pos_at].isdigit():
                raise InputError(
                    f"Variant list {path} line {number} has position "
                    f"'{row[pos_at]}', not a whole number; fix that line."
                )
            chrom, position = genome.normalize_contig(row[chrom_at]), int(row[pos_at])
            if allele_at:
                ref, alt = row[allele_at[0]].upper(), row[allele_at[1]].upper()
                alleles.add((chrom, position, ref, alt))
            else:
                positions.add((chrom, position))
    else:
        pattern = re.compile(r"^([^:\s]+):(\d+)(?::([ACGTN]+):([ACGTN]+))?$", re.I)
        for _, line in lines:
            token = line.split()[0]
            match = pattern.match(token)
            if match:
                chrom, position = genome.normalize_contig(match[1]), int(match[2])
                if match[3]:
                    alleles.add((chrom, position, match[3].upper(), match[4].upper()))
                else:
                    positions.add((chrom, position))
            else:
                ids.add(token)
    if not (positions or alleles or ids):
        raise InputError(
            f"Variant list {path} names no variants; give one chrom:pos, "
            "chrom:pos:ref:alt or ID per line, or a TSV with chrom and pos columns."
        )
    return VariantList(frozenset(positions), frozenset(alleles), frozenset(ids))


def _base_codes() -> np.ndarray:
    """Two bits per base (either case) by character code; -1 for the rest."""
    codes = np.full(128, -1, dtype=np.int64)
    for code, base in enumerate("ACGT"):
        codes[ord(base)] = codes[ord(base.lower())] = code
    return codes


_BASE_CODE = _base_codes()
# Positions below 2**_POSITION_BITS fit the integer key, which holds the
# contig's number above the position and the position above two bits each
# of REF and ALT.
_POSITION_BITS = 36
_KEY_POSITIONS = 1 << _POSITION_BITS
_KEY_CONTIG_SHIFT = _POSITION_BITS + 4
_KEY_POSITION_SHIFT = 4


class SeenVariants:
    """The variants kept so far, to drop repeats of one (same contig,
    position, REF and ALT, whatever the case of the bases).

    A SNP's key is one integer, ``((contig * 2**36 + pos) * 4 + ref) * 4 +
    alt`` with two bits per base, so that a whole block is checked with set
    operations; a position outside [0, 2**36) gets a tuple instead, in
    every block alike.
    """

    def __init__(self) -> None:
        self.seen: set = set()
        self.contig_number: dict[str, int] = {}

    def keys(self, block: VariantBlock, columns: np.ndarray) -> list:
        """The keys of ``columns`` of ``block`` (biallelic SNPs)."""
        if len(columns) == 0:
            return []
        numbers = self.contig_number
        of_name = {}
        for name in set(block.chrom):
            contig = genome.normalize_contig(name)
            of_name[name] = numbers.setdefault(contig, len(numbers))
        contig = np.array([of_name[name] for name in block.chrom], dtype=np.int64)
        contig, position = contig[columns], block.position[columns].astype(np.int64)
        ref, alt = (
            _BASE_CODE[np.array(alleles, dtype="U1").view(np.uint32)[columns] & 127]
            for alleles in (block.ref, block.alt)
        )
        if (
            0 <= position.min()
            and position.max() < _KEY_POSITIONS
            and contig.max() < 1 << 20
            and min(ref.min(), alt.min()) >= 0
        ):
            return (
                ((contig << _POSITION_BITS | position) << 2 | ref) << 2 | alt
            ).tolist()
        return [
            ((c * _KEY_POSITIONS + p) * 4 + r) * 4 + a
            if 0 <= p < _KEY_POSITIONS and r >= 0 and a >= 0
            else (c, p, block.ref[i].upper(), block.alt[i].upper())
            for i, c, p, r, a in zip(
                columns.tolist(),
                contig.tolist(),
                position.tolist(),
                ref.tolist(),
                alt.tolist(),
                strict=True,
            )
        ]

    def renumbered(self, numbers: dict[str, int]) -> set:
        """The keys seen, with the contigs numbered as in ``numbers`` (which
        gets the contigs new to it), so that the keys of readers of
        different parts of a file can be compared."""
        own = self.contig_number
        for name in own:
            numbers.setdefault(name, len(numbers))
        table = {number: numbers[name] for name, number in own.items()}
        if all(old == new for old, new in table.items()):
            return self.seen
        lookup = np.zeros(max(table) + 1, dtype=np.int64)
        lookup[list(table)] = list(table.values())
        integers = np.fromiter(
            (key for key in self.seen if isinstance(key, int)), dtype=np.int64
        )
        shift = _KEY_CONTIG_SHIFT
        integers = lookup[integers >> shift] << shift | integers & ((1 << shift) - 1)
        others = {
            (table[key[0]], *key[1:]) for key in self.seen if not isinstance(key, int)
        }
        return set(integers.tolist()) | others

    @staticmethod
    def describe(key: object, numbers: dict[str, int]) -> str:
        """``contig:position`` of a key made with the contig ``numbers``."""
        name_of = {number: name for name, number in numbers.items()}
        if isinstance(key, int):
            contig = key >> _KEY_CONTIG_SHIFT
            position = (key >> _KEY_POSITION_SHIFT) & (_KEY_POSITIONS - 1)
        else:
            contig, position = key[0], key[1]
        return f"{name_of.get(contig, '?')}:{position}"

    def __contains__(self, key: object) -> bool:
        return key in self.seen

    def add(self, key: object) -> None:
        self.seen.add(key)

    def add_if_new(self, keys: list) -> bool:
        """Add ``keys`` when none is a repeat; say whether they were added."""
        unique = set(keys)
        if len(unique) == len(keys) and self.seen.isdisjoint(unique):
            self.seen |= unique
            return True
        return False


# Rows summed at a time by column_counts, in int8: a sum of 63 dosages
# (-1 to 2) or missing flags lies within -63..126.
_BAND_ROWS = 63


def column_counts(dosage: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Missing calls and ALT alleles per column of a sample-major block.

    Summed a band of rows at a time, in int8 (numpy then adds whole rows
    with vector instructions, where a wider sum converts every element
    first), and the bands' sums added up in int32. The temporaries are
    small, stay in cache and reuse the same memory.
    """
    missing = np.zeros(dosage.shape[1], dtype=np.int32)
    alt_count = np.zeros(dosage.shape[1], dtype=np.int32)
    negative = np.empty((min(_BAND_ROWS, dosage.shape[0]), dosage.shape[1]), bool)
    for start in range(0, dosage.shape[0], _BAND_ROWS):
        band = dosage[start : start + _BAND_ROWS]
        alt_count += np.add.reduce(band, axis=0, dtype=np.int8)
        flags = negative[: len(band)]
        np.less(band, 0, out=flags)
        missing += np.add.reduce(flags.view(np.int8), axis=0, dtype=np.int8)
    return missing, alt_count + missing  # a missing call counted -1


def keep(
    block: VariantBlock,
    result: PartResult,
    filters: Filters,
    variant_list: VariantList | None,
    seen: SeenVariants,
) -> None:
    dosage = block.dosage  # (num_samples, num_block_variants) int8, -1 = missing
    missing, alt_count = column_counts(dosage)
    called = dosage.shape[0] - missing
    with np.errstate(invalid="ignore", divide="ignore"):
        alt_frequency = np.where(called > 0, alt_count / (2.0 * called), np.nan)
    missing_rate = 1.0 - called / dosage.shape[0]

    reasons = np.full(block.num_variants, "", dtype=object)
    minor = np.minimum(alt_frequency, 1.0 - alt_frequency)
    reasons[minor < filters.maf] = "maf"
    reasons[(alt_count == 0) | (alt_count == 2 * called)] = "monomorphic"
    reasons[missing_rate > filters.max_missing] = "missing"

    # Variants not in the list, and repeats of a variant already kept.
    candidates = np.flatnonzero(reasons == "")
    keys = seen.keys(block, candidates)
    if variant_list is None and seen.add_if_new(keys):
        candidates = candidates[:0]  # all new: the common case, in bulk
    positions = block.position.tolist()
    for column, key in zip(candidates.tolist(), keys, strict=False):
        if variant_list is not None and not variant_list.contains(
            block.chrom[column],
            positions[column],
            block.variant_id[column],
            block.ref[column],
            block.alt[column],
        ):
            reasons[column] = "not_listed"
        elif key in seen:
            reasons[column] = "duplicate"
        else:
            seen.add(key)
    result.dropped.update(reason for reason in reasons if reason)
    keep = np.flatnonzero(reasons == "")
    if len(keep) == 0:
        return
    # np.take copies whole rows at a time; dosage[:, keep] is ten times slower.
    kept = dosage if len(keep) == dosage.shape[1] else np.take(dosage, keep, axis=1)
    result.store.append(kept)
    rows = keep.tolist()  # Python ints index lists faster than numpy's
    for values, kept_values in (
        (block.chrom, result.chrom),
        (block.variant_id, result.variant_id),
        (block.ref, result.ref),
        (block.alt, result.alt),
    ):
        kept_values.extend(
            values if len(rows) == len(values) else [values[i] for i in rows]
        )
    result.position.append(block.position[keep])
    result.alt_frequency.append(alt_frequency[keep])
    result.missing_rate.append(missing_rate[keep])
