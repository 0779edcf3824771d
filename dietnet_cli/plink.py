"""Read genotypes from a PLINK 1 fileset (.bed, .bim, .fam) with bed-reader.

The .bed genotype counts allele 1, column 5 of the .bim file, which is the
ALT allele in files written by plink2; column 6 (allele 2) is REF. So the
dosage is the count of allele 1, and bed-reader's missing code -127 becomes
-1. Only biallelic SNPs (single-base alleles from ACGT) are read; other
records are counted by reason, as in the VCF reader.
"""

from __future__ import annotations

import gc
import logging
import os
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from dietnet_cli import genome
from dietnet_cli.errors import InputError
from dietnet_cli.genotypes import (
    MISSING,
    SNP_PAIRS,
    VariantBlock,
    empty_block,
    snp_problem,
    to_sample_major,
)

logger = logging.getLogger(__name__)

BLOCK_SIZE = 8192
BED_MAGIC = b"\x6c\x1b\x01"


@dataclass(frozen=True)
class PlinkFileset:
    """The three files of a PLINK 1 binary fileset and their contents."""

    bed: Path
    bim: Path
    fam: Path
    sample_id: tuple[str, ...]
    chrom: tuple[str, ...]
    position: np.ndarray  # (num_variants,) int64
    variant_id: tuple[str, ...]
    allele_1: tuple[str, ...]  # counted allele: ALT
    allele_2: tuple[str, ...]  # REF

    @property
    def num_variants(self) -> int:
        return len(self.chrom)


def is_plink(path: str | Path) -> bool:
    """True when ``path`` names a .bed file or a prefix with a .bed file."""
    text = str(path)
    if text.endswith(".bed"):
        return True
    return not os.path.exists(text) and os.path.exists(text + ".bed")


def _paths(path: str | Path) -> tuple[Path, Path, Path]:
    text = str(path)
    prefix = text[: -len(".bed")] if text.endswith(".bed") else text
    return Path(prefix + ".bed"), Path(prefix + ".bim"), Path(prefix + ".fam")


@contextmanager
def _no_cyclic_gc() -> Iterator[None]:
    """Python's cycle collector off: reading a .bim makes a list per line,
    none of them in a cycle, and the collector would scan them all over
    again as they pile up (0.40-0.60 s for 200,000 lines with it, 0.24-0.25
    s without)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def read_fileset(path: str | Path) -> PlinkFileset:
    """Read the .fam and .bim files and check them against the .bed size."""
    with _no_cyclic_gc():
        return _read_fileset(path)


def _read_fileset(path: str | Path) -> PlinkFileset:
    bed, bim, fam = _paths(path)
    for part in (bed, bim, fam):
        if not part.exists():
            raise InputError(
                f"PLINK file {part} does not exist; a PLINK input needs .bed, "
                ".bim and .fam files with the same prefix."
            )
    with open(bed, "rb") as handle:
        magic = handle.read(3)
    if magic != BED_MAGIC:
        raise InputError(
            f"PLINK file {bed} is not a variant-major PLINK 1 .bed file (wrong "
            "magic bytes); re-create it with 'plink2 --make-bed'."
        )

    fam_rows = _read_table(fam, min_columns=2)
    sample_id = tuple(row[1] for row in fam_rows)
    if not sample_id:
        raise InputError(f"PLINK file {fam} lists no samples; dietnet needs genotypes.")
    duplicated = [s for s, n in Counter(sample_id).items() if n > 1]
    if duplicated:
        raise InputError(
            f"PLINK file {fam} lists sample '{duplicated[0]}' more than once; "
            "give every sample a unique IID."
        )
    bim_rows = _read_table(bim, min_columns=6)
    # columns as tuples, in one C-level pass when every row has six
    row_lengths = {len(row) for row in bim_rows}
    columns = (
        list(zip(*bim_rows, strict=True))
        if len(row_lengths) == 1
        else [tuple(row[i] for row in bim_rows) for i in range(6)]
    )
    if not bim_rows:
        columns = [()] * 6
    try:
        position = np.array(list(map(int, columns[3])), dtype=np.int64)
    except ValueError:
        raise InputError(
            f"PLINK file {bim} has a non-numeric position in column 4; fix the "
            ".bim file."
        ) from None

    num_samples, num_variants = len(sample_id), len(bim_rows)
    expected = 3 + ((num_samples + 3) // 4) * num_variants
    actual = bed.stat().st_size
    if actual != expected:
        raise InputError(
            f"PLINK file {bed} has {actual:,} bytes but {fam.name} ({num_samples:,} "
            f"samples) and {bim.name} ({num_variants:,} variants) call for "
            f"{expected:,}; the three files do not belong together or one is "
            "truncated."
        )
    return PlinkFileset(
        bed=bed,
        bim=bim,
        fam=fam,
        sample_id=sample_id,
        chrom=tuple(columns[0]),
        position=position,
        variant_id=tuple(columns[1]),
        allele_1=tuple(map(str.upper, columns[4])),
        allele_2=tuple(map(str.upper, columns[5])),
    )


def _read_table(path: Path, *, min_columns: int) -> list[list[str]]:
    try:
        with open(path) as handle:
            rows = [row for row in map(str.split, handle) if row]
    except (OSError, UnicodeDecodeError) as error:
        raise InputError(f"Cannot read PLINK file {path}: {error}.") from None
    short = next((n for n, row in enumerate(rows, 1) if len(row) < min_columns), 0)
    if short:
        raise InputError(
            f"PLINK file {path} line {short} has fewer than {min_columns} "
            "columns; it is not a valid PLINK file."
        )
    return rows


def iter_blocks(
    fileset: PlinkFileset,
    *,
    sample_index: np.ndarray | None = None,
    variant_mask: np.ndarray | None = None,
    keep_contig: Callable[[str], bool] = genome.is_autosome,
    threads: int = 1,
    block_size: int = BLOCK_SIZE,
) -> Iterator[VariantBlock]:
    """Yield the biallelic SNPs of a PLINK fileset in blocks.

    Parameters
    ----------
    sample_index
        Rows of the .fam file to read, in output order; all when None.
    variant_mask
        (num_variants,) bool: records to consider (for example a region);
        the others are skipped without being counted.
    """
    keep = np.ones(fileset.num_variants, dtype=bool)
    if variant_mask is not None:
        keep &= variant_mask
    contig_ok = {chrom: keep_contig(chrom) for chrom in set(fileset.chrom)}
    on_contig = np.fromiter(
        map(contig_ok.__getitem__, fileset.chrom), bool, fileset.num_variants
    )
    pairs = zip(fileset.allele_2, fileset.allele_1, strict=True)
    snp = np.fromiter(map(SNP_PAIRS.__contains__, pairs), bool, fileset.num_variants)
    chosen_mask = keep & on_contig & snp
    # the records considered and passed over, in order, and why
    passed = np.flatnonzero(keep & ~chosen_mask)
    reasons = [
        "contig"
        if not on_contig[index]
        else snp_problem(fileset.allele_2[index], [fileset.allele_1[index]])
        for index in passed.tolist()
    ]

    # bed-reader pulls in scipy; import it only when a .bed is read.
    from bed_reader import open_bed

    bed = open_bed(
        fileset.bed,
        iid_count=len(fileset.sample_id),
        sid_count=fileset.num_variants,
        count_A1=True,
        num_threads=threads,
        skip_format_check=True,
        properties={"iid": list(fileset.sample_id)},
    )
    num_samples = len(fileset.sample_id)
    if sample_index is not None and np.array_equal(
        sample_index, np.arange(num_samples)
    ):
        sample_index = None  # every sample in .fam order: bed-reader's fast path
    rows = slice(None) if sample_index is None else np.asarray(sample_index)
    try:
        for start in range(0, fileset.num_variants, block_size):
            stop = min(start + block_size, fileset.num_variants)
            chosen = start + np.flatnonzero(chosen_mask[start:stop])
            first, last = np.searchsorted(passed, [start, stop])
            dropped = Counter(reasons[first:last])
            if len(chosen) == 0:
                if dropped:
                    yield empty_block(
                        dropped,
                        len(fileset.sample_id)
                        if sample_index is None
                        else len(sample_index),
                    )
                continue
            columns = chosen
            if chosen[-1] - chosen[0] == len(chosen) - 1:
                columns = slice(int(chosen[0]), int(chosen[-1]) + 1)
            # (num_samples, num_chosen) int8, -127 = missing, variant-major in
            # memory: bed-reader decodes a variant at a time, and is three
            # times slower when it has to scatter them into sample-major rows.
            raw = bed.read(index=np.s_[rows, columns], dtype="int8", order="F")
            # bed-reader holds the GIL while it reads, so the copy to
            # sample-major rows gets the threads in turn
            dosage = to_sample_major(raw.T, floor=MISSING, threads=threads)
            yield VariantBlock(
                chrom=[fileset.chrom[i] for i in chosen.tolist()],
                position=fileset.position[chosen],
                variant_id=[fileset.variant_id[i] for i in chosen],
                ref=[fileset.allele_2[i] for i in chosen],
                alt=[fileset.allele_1[i] for i in chosen],
                dosage=dosage,
                dropped=dropped,
            )
    except (OSError, ValueError) as error:
        raise InputError(
            f"Cannot read PLINK file {fileset.bed} ({error}); re-create the "
            "fileset with 'plink2 --make-bed'."
        ) from None
    finally:
        del bed
