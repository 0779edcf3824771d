"""Read genotypes from VCF and BCF files with cyvcf2.

Only biallelic SNPs become genotypes; every other record is counted by the
reason it was passed over. A genotype is the dosage: the number of copies of
the ALT allele (0, 1 or 2) in a diploid call, -1 when either allele is
missing (``./.``, ``./1``). Haploid or polyploid calls at a biallelic SNP are
refused rather than guessed at, and so is an allele index beyond the
record's alleles.

cyvcf2's ``gt_types`` reports a haploid ``1`` as homozygous ALT and a
partly missing ``./1`` as heterozygous, so the dosage is computed from the
raw allele indices of ``genotype.array()`` instead.
"""

from __future__ import annotations

import logging
import os
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from cyvcf2 import VCF
from cyvcf2.cyvcf2 import set_htslib_log_level

from dietnet_cli import genome
from dietnet_cli.errors import InputError
from dietnet_cli.genotypes import MISSING, VariantBlock, snp_problem

logger = logging.getLogger(__name__)

BLOCK_SIZE = 4096


@dataclass(frozen=True)
class VcfHeader:
    """What dietnet needs from a VCF header."""

    path: str
    sample_id: tuple[str, ...]
    contigs: tuple[tuple[str, int | None], ...]
    build: str | None
    build_evidence: str
    indexed: bool


def _quiet_htslib() -> None:
    # htslib prints its own errors to the C stderr; we report them as one
    # line of our own, so silence it.
    set_htslib_log_level(0)


def _display(path: str) -> str:
    return "standard input" if path == "-" else str(path)


def open_reader(path: str, samples: list[str] | None = None, threads: int = 1) -> VCF:
    _quiet_htslib()
    if path != "-":
        if not os.path.exists(path):
            raise InputError(f"Input file {path} does not exist; check the path.")
        if not os.access(path, os.R_OK):
            raise InputError(f"Input file {path} is not readable; check permissions.")
    try:
        reader = VCF(path, threads=threads if threads > 1 else None, lazy=True)
    except (OSError, Exception) as error:  # cyvcf2 raises bare Exception too
        raise InputError(
            f"Input file {_display(path)} is not a readable VCF or BCF file "
            f"({_short(error)}); give a .vcf, .vcf.gz or .bcf file, or a PLINK "
            ".bed fileset."
        ) from None
    if not reader.samples:
        raise InputError(
            f"Input file {_display(path)} has no samples; dietnet needs genotypes."
        )
    duplicated = [s for s, n in Counter(reader.samples).items() if n > 1]
    if duplicated:
        raise InputError(
            f"Input file {_display(path)} lists sample '{duplicated[0]}' more "
            "than once; give every sample a unique ID (bcftools reheader)."
        )
    if samples is not None:
        reader.set_samples(samples)
    return reader


def _short(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return text[0] if text else type(error).__name__


def read_header(path: str | Path) -> VcfHeader:
    """Read the samples, contigs and genome build of a VCF or BCF file."""
    path = str(path)
    reader = open_reader(path)
    try:
        lines = reader.raw_header.splitlines()
        contigs = []
        for line in lines:
            if line.startswith("##contig=<"):
                fields = dict(
                    part.split("=", 1)
                    for part in line[len("##contig=<") : -1].split(",")
                    if "=" in part
                )
                if "ID" in fields:
                    length = fields.get("length", "")
                    contigs.append(
                        (fields["ID"], int(length) if length.isdigit() else None)
                    )
        build, evidence = genome.build_from_vcf_header(lines)
        indexed = path != "-" and _has_index(path)
        return VcfHeader(
            path=path,
            sample_id=tuple(reader.samples),
            contigs=tuple(contigs),
            build=build,
            build_evidence=evidence,
            indexed=indexed,
        )
    finally:
        if path != "-":
            reader.close()


def _has_index(path: str) -> bool:
    return any(os.path.exists(path + suffix) for suffix in (".tbi", ".csi"))


def iter_blocks(
    path: str | Path,
    *,
    samples: list[str] | None = None,
    region: str | None = None,
    region_bounds: tuple[int, int] | None = None,
    keep_contig: Callable[[str], bool] = genome.is_autosome,
    threads: int = 1,
    block_size: int = BLOCK_SIZE,
    reader: VCF | None = None,
) -> Iterator[VariantBlock]:
    """Yield the biallelic SNPs of a VCF/BCF file in blocks.

    Parameters
    ----------
    path
        The file, or ``-`` for VCF text on standard input.
    samples
        Sample IDs to read, in the file's order; all when None.
    region
        A region such as ``2`` or ``chr2:1-5000000`` (needs an index).
    region_bounds
        With ``region``: keep only records whose POS lies in [start, end], so
        that records overlapping two adjacent regions are read once.
    keep_contig
        Records on contigs for which this is False are passed over, counted
        as ``contig``.
    reader
        An already opened reader (used for standard input, which can be
        opened only once).
    """
    path = str(path)
    if reader is None:
        reader = open_reader(path, samples, threads)
    display = _display(path)
    try:
        records = reader(region) if region else reader
    except Exception as error:
        raise InputError(
            f"Cannot read region '{region}' of {display} ({_short(error)}); "
            "index the file with 'bcftools index' and check the region's "
            "contig name."
        ) from None

    contig_ok: dict[str, bool] = {}
    dropped: Counter = Counter()
    chroms: list[str] = []
    positions: list[int] = []
    ids: list[str] = []
    refs: list[str] = []
    alts: list[str] = []
    calls: list[np.ndarray] = []
    try:
        for variant in records:
            chrom = variant.CHROM
            position = variant.POS
            if region_bounds is not None and not (
                region_bounds[0] <= position <= region_bounds[1]
            ):
                continue
            keep = contig_ok.get(chrom)
            if keep is None:
                keep = contig_ok[chrom] = keep_contig(chrom)
            if not keep:
                dropped["contig"] += 1
                continue
            reason = snp_problem(variant.REF, variant.ALT)
            if reason:
                dropped[reason] += 1
                continue
            genotype = variant.genotype
            if genotype is None:
                raise InputError(
                    f"Input file {display} has no GT field at {chrom}:{position}; "
                    "dietnet needs called genotypes (FORMAT/GT)."
                )
            chroms.append(chrom)
            positions.append(position)
            ids.append(variant.ID or ".")
            refs.append(variant.REF.upper())
            alts.append(variant.ALT[0].upper())
            calls.append(genotype.array())
            if len(calls) == block_size:
                yield _block(
                    display, chroms, positions, ids, refs, alts, calls, dropped
                )
                chroms, positions, ids, refs, alts, calls = [], [], [], [], [], []
                dropped = Counter()
    except InputError:
        raise
    except Exception as error:
        where = f" after {chroms[-1]}:{positions[-1]}" if chroms else ""
        raise InputError(
            f"Input file {display} is damaged or malformed{where} "
            f"({_short(error)}); check it with 'bcftools view {display} > "
            "/dev/null' and fix or re-create it."
        ) from None
    if calls or dropped:
        yield _block(display, chroms, positions, ids, refs, alts, calls, dropped)


def _block(
    display: str,
    chroms: list[str],
    positions: list[int],
    ids: list[str],
    refs: list[str],
    alts: list[str],
    calls: list[np.ndarray],
    dropped: Counter,
) -> VariantBlock:
    num_samples = calls[0].shape[0] if calls else 0
    dosage = np.empty((len(calls), num_samples), dtype=np.int8)
    shapes = {call.shape for call in calls}
    if len(shapes) == 1:
        # (num_variants, num_samples, ploidy + 1) int16: allele indices, then
        # the phase flag; -1 = missing allele, -2 = no allele (lower ploidy).
        stacked = np.stack(calls)
        dosage[:] = _dosage(display, stacked, chroms, positions)
    else:
        for row, call in enumerate(calls):
            dosage[row] = _dosage(
                display, call[None], chroms[row : row + 1], positions[row : row + 1]
            )[0]
    return VariantBlock(
        chrom=chroms,
        position=np.asarray(positions, dtype=np.int64),
        variant_id=ids,
        ref=refs,
        alt=alts,
        dosage=np.ascontiguousarray(dosage.T),
        dropped=dropped,
    )


def _dosage(
    display: str, calls: np.ndarray, chroms: list[str], positions: list[int]
) -> np.ndarray:
    """ALT copies from raw allele indices, (num_variants, num_samples) int8."""
    alleles = calls[:, :, :-1]
    ploidy = alleles.shape[2]
    if ploidy > 2:
        called = (alleles[:, :, 2:] != -2).any(axis=2)
        _refuse_ploidy(display, called, chroms, positions, "polyploid")
    if ploidy < 2 or (alleles[:, :, :2] == -2).any():
        haploid = (
            np.ones(alleles.shape[:2], dtype=bool)
            if ploidy < 2
            else (alleles[:, :, 1] == -2) & (alleles[:, :, 0] != -2)
        )
        _refuse_ploidy(display, haploid, chroms, positions, "haploid")
    alleles = alleles[:, :, :2]
    beyond = alleles > 1
    if beyond.any():
        row, sample = np.argwhere(beyond)[0]
        raise InputError(
            f"Input file {display} has allele index {alleles[row, sample].max()} "
            f"at {chroms[row]}:{positions[row]}, where the record has only REF "
            "and one ALT; fix the GT values of that record."
        )
    missing = (alleles < 0).any(axis=2)
    dosage = alleles.sum(axis=2, dtype=np.int16).astype(np.int8)
    dosage[missing] = MISSING
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
