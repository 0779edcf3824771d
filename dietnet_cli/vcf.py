"""Read genotypes from VCF and BCF files with cyvcf2.

Only biallelic SNPs become genotypes; every other record is counted by the
reason it was passed over. A genotype is the dosage: the number of copies of
the ALT allele (0, 1 or 2) in a diploid call, -1 when any allele is
missing (``.``, ``./.``, ``./1``) or the record has no GT field, as
``bcftools query`` reports them. Fully called haploid or polyploid calls at
a biallelic SNP are refused rather than guessed at, and so is an allele
index beyond the record's alleles.

cyvcf2's ``gt_types`` reports a haploid ``1`` as homozygous ALT and a
partly missing ``./1`` as heterozygous, so the dosage is computed from the
raw allele indices of ``genotype.array()`` instead.
"""

from __future__ import annotations

import gzip
import itertools
import logging
import os
import re
import warnings
import zlib
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
_GT_ID = re.compile(r"[<,]ID=GT[,>]")
_TYPE = re.compile(r"[<,]Type=([^,>]*)")
# The empty block that ends every complete BGZF file (SAM specification 4.1.2).
_BGZF_EOF = bytes.fromhex("1f8b08040000000000ff0600424302001b0003000000000000000000")


@dataclass(frozen=True)
class VcfHeader:
    """What dietnet needs from a VCF header."""

    path: str
    sample_id: tuple[str, ...]
    # ##contig lines: name and length (None when not given).
    contigs: tuple[tuple[str, int | None], ...]
    # Contig names of the index when there is one, else of the header.
    seqnames: tuple[str, ...]
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
        if os.path.isdir(path):
            raise InputError(
                f"Input file {path} is a directory; give a .vcf, .vcf.gz or .bcf "
                "file, or a PLINK .bed fileset."
            )
        _check_bgzf_end(path)
    try:
        reader = VCF(path, threads=threads if threads > 1 else None, lazy=True)
    except Exception as error:  # cyvcf2 raises bare Exception too
        duplicated = _duplicated_sample(path) if path != "-" else None
        if duplicated:
            raise InputError(
                f"Input file {path} lists sample '{duplicated}' more than once; "
                "give every sample a unique ID (bcftools reheader)."
            ) from None
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
    gt_type = _gt_type(reader.raw_header)
    if gt_type != "String":
        problem = (
            "declares no FORMAT/GT"
            if gt_type is None
            else (f"declares FORMAT/GT with Type={gt_type}")
        )
        raise InputError(
            f"Input file {_display(path)} {problem}; dietnet needs called "
            "genotypes in a GT field declared as ##FORMAT=<ID=GT,Number=1,"
            "Type=String,...>."
        )
    if samples is not None:
        reader.set_samples(samples)
    return reader


def _gt_type(raw_header: str) -> str | None:
    """The Type of the header's FORMAT/GT line, None when there is none."""
    for line in raw_header.splitlines():
        if line.startswith("##FORMAT=<") and _GT_ID.search(line):
            found = _TYPE.search(line)
            return found[1] if found else ""
    return None


def _check_bgzf_end(path: str) -> None:
    """Refuse a BGZF file (.vcf.gz, .bcf) that lacks its end-of-file block.

    htslib reads a BGZF file cut at a block boundary as a shorter, valid
    file; only the missing end-of-file block tells that records were lost.
    """
    with open(path, "rb") as handle:
        head = handle.read(len(_BGZF_EOF))
        is_bgzf = head[:4] == b"\x1f\x8b\x08\x04" and head[12:14] == b"BC"
        if not is_bgzf:
            return
        handle.seek(0, os.SEEK_END)
        size = handle.tell()
        handle.seek(max(0, size - len(_BGZF_EOF)))
        tail = handle.read()
    if tail != _BGZF_EOF:
        raise InputError(
            f"Input file {path} is truncated (its BGZF end-of-file block is "
            "missing); copy or download it again, or re-create it with bgzip or "
            "'bcftools view'."
        )


def _duplicated_sample(path: str) -> str | None:
    """A sample named twice on a text VCF's #CHROM line, which makes htslib
    refuse the header without saying why."""
    try:
        with open(path, "rb") as raw:
            gzipped = raw.read(2) == b"\x1f\x8b"
        opener = gzip.open if gzipped else open
        with opener(path, "rt", errors="replace") as handle:
            for line in itertools.islice(handle, 1_000_000):
                if line.startswith("#CHROM"):
                    names = line.rstrip("\r\n").split("\t")[9:]
                    counts = Counter(names)
                    return next((n for n in names if counts[n] > 1), None)
                if not line.startswith("##"):
                    return None
    except (OSError, EOFError, zlib.error):
        return None
    return None


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
            seqnames=tuple(reader.seqnames),
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
    if region:
        contig = _region_contig(region)
        if contig not in reader.seqnames:
            raise InputError(
                f"Region '{region}' names contig '{contig}', which {display} "
                f"does not have (its contigs: {', '.join(reader.seqnames[:8])}"
                f"{', ...' if len(reader.seqnames) > 8 else ''}); check the "
                "contig name, for example '1' or 'chr1'."
            )
    try:
        if region:
            # cyvcf2 warns on stderr when the index has no record in the
            # region, at the first step of the iteration; an empty region
            # is no problem here.
            with warnings.catch_warnings():
                warnings.filterwarnings("ignore", message="no intervals found")
                region_records = iter(reader(region))
                first = next(region_records, None)
            records = itertools.chain([first] if first else [], region_records)
        else:
            records = reader
    except Exception as error:
        raise InputError(
            f"Cannot read region '{region}' of {display} ({_short(error)}); "
            "index the file with 'bcftools index' and check the region's "
            "contig name."
        ) from None

    num_samples = len(reader.samples)
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
            chroms.append(chrom)
            positions.append(position)
            ids.append(variant.ID or ".")
            refs.append(variant.REF.upper())
            alts.append(variant.ALT[0].upper())
            calls.append(_raw_calls(variant, num_samples))
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


def _region_contig(region: str) -> str:
    """The contig of a region such as ``chr2``, ``2:100-200`` or ``2:100-``."""
    name, colon, span = region.rpartition(":")
    if colon and re.fullmatch(r"[\d,]+(-[\d,]*)?", span):
        return name
    return region


def _raw_calls(variant, num_samples: int) -> np.ndarray:
    """The record's allele indices, all missing when it has no GT field.

    A record without FORMAT/GT has no called genotype, which bcftools too
    reports as missing; cyvcf2 raises a bare Exception for it instead.
    """
    try:
        return variant.genotype.array()
    except Exception:
        # The header declares GT as a string (open_reader checks it), so
        # the only failure left is a record without GT. variant.FORMAT would
        # tell, but it crashes on some lazily unpacked records.
        pass
    # (num_samples, ploidy + 1) int16: two missing alleles and the phase flag.
    missing = np.full((num_samples, 3), -1, dtype=np.int16)
    missing[:, -1] = 0
    return missing


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
