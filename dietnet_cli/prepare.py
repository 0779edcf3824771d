"""The ``prepare`` stage: genotypes and labels to a cached dataset directory.

The input is streamed in blocks of variants; each block is filtered and
kept, in memory up to ``MEMORY_BYTES`` and beyond that in a scratch file,
and the final (num_samples, num_variants) matrix is written from the kept
blocks at the end, so memory stays bounded whatever the number of
variants. An indexed BCF can be read by
several worker processes, one region at a time; a bgzipped VCF in spans
of its BGZF blocks, one span in this process and one in each worker (see
:mod:`dietnet_cli.bgzf`); any other VCF text by one process whose threads
inflate it.
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from joblib import Parallel, delayed
from joblib.executor import get_memmapping_executor

from dietnet_cli import dataset, genome, outputs, plink, progress, provenance, vcf
from dietnet_cli.errors import InputError
from dietnet_cli.genotypes import VariantBlock
from dietnet_cli.labels import read_labels

logger = logging.getLogger(__name__)

# Regions per worker when an indexed file is split over --threads workers,
# so that uneven regions still keep every worker busy.
REGIONS_PER_THREAD = 4
# Beyond any position a VCF can hold (htslib positions are 64-bit).
MAX_POSITION = 2**62
# Genotype blocks a single reader keeps in memory before it spills them all
# to a scratch file: a dataset up to this size is written once, front to
# back, instead of through the scratch file (2,504 samples x 200,000
# variants is 501 MB).
# TODO(#2): the held blocks (and a span worker's scratch file) are new
# memory, and so are the output file's pages: the matrix's size is touched
# twice, at up to 3 s per GiB on a cold virtual machine. Writing blocks
# straight into an output file sized by an upper bound (the .bim, or the
# index's record counts), then closing the gaps, would touch it once.
MEMORY_BYTES = 512 << 20


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
class _PartResult:
    """What one worker read from one part of the input."""

    store: dataset.BlockStore
    chrom: list[str] = field(default_factory=list)
    position: list[np.ndarray] = field(default_factory=list)
    variant_id: list[str] = field(default_factory=list)
    ref: list[str] = field(default_factory=list)
    alt: list[str] = field(default_factory=list)
    alt_frequency: list[np.ndarray] = field(default_factory=list)
    missing_rate: list[np.ndarray] = field(default_factory=list)
    dropped: Counter = field(default_factory=Counter)
    num_read: int = 0
    # Keys of the variants kept, and the numbers of contigs in them (see
    # _SeenVariants).
    seen: set = field(default_factory=set)
    seen_contigs: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class _VariantList:
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


def prepare(
    input_path: str,
    *,
    labels_path: Path,
    out: Path,
    label_column: str | None = None,
    group_column: str | None = None,
    filters: Filters = Filters(),
    build: str | None = None,
    threads: int = 1,
    force: bool = False,
    show_progress: bool = True,
) -> dataset.Dataset:
    """Read genotypes and labels and write a dataset directory.

    Parameters
    ----------
    input_path
        A VCF/BCF file, ``-`` for VCF text on standard input, or a PLINK 1
        fileset (.bed path or prefix).
    labels_path
        The label TSV (see :mod:`dietnet_cli.labels`).
    out
        The dataset directory to create.
    build
        The genome build when the input header does not tell it (PLINK).
    """
    started = time.perf_counter()
    out = Path(out)
    outputs.check_writable(out, force=force, what="dataset", directory=True)
    labels = read_labels(
        labels_path, label_column=label_column, group_column=group_column
    )
    variant_list = _read_variant_list(filters.variants_file)
    keep_contig = (lambda name: True) if filters.all_contigs else genome.is_autosome

    # Open the input and find the samples it shares with the label file.
    is_plink = plink.is_plink(input_path)
    if is_plink:
        fileset = plink.read_fileset(input_path)
        input_samples = fileset.sample_id
        header_build, build_evidence = None, "PLINK files do not record a build"
    else:
        header = vcf.read_header(input_path) if input_path != "-" else None
        stdin_reader = None
        if header is None:
            stdin_reader = vcf.open_reader("-")
            input_samples = tuple(stdin_reader.samples)
            lines = stdin_reader.raw_header.splitlines()
            header_build, build_evidence = genome.build_from_vcf_header(lines)
        else:
            input_samples = header.sample_id
            header_build, build_evidence = header.build, header.build_evidence
    genome_build = _choose_build(input_path, header_build, build_evidence, build)

    label_of = labels.as_dict()
    shared = [sample for sample in input_samples if sample in label_of]
    if not shared:
        raise InputError(
            f"No sample of {input_path} is in label file {labels_path} (the input "
            f"has {len(input_samples)} samples, e.g. '{input_samples[0]}'; the label "
            f"file {len(label_of)}, e.g. '{labels.sample_id[0]}'); check that both "
            "use the same sample IDs."
        )
    num_input_only = len(input_samples) - len(shared)
    num_labels_only = len(label_of) - len(shared)
    logger.info(
        "%d samples in both input and labels; %d in the input only and %d in the "
        "labels only are left out.",
        len(shared),
        num_input_only,
        num_labels_only,
    )

    # Read the variants, part by part, into scratch block files.
    with outputs.atomic_directory(out, force=force, what="dataset") as scratch:
        scratch_dir = scratch / "scratch"
        scratch_dir.mkdir()
        read_options = dict(
            filters=filters,
            variant_list=variant_list,
            keep_contig=keep_contig,
            show_progress=show_progress,
        )
        if is_plink:
            sample_index = np.array(
                [fileset.sample_id.index(s) for s in shared]
                if len(shared) < 64
                else _index_of(fileset.sample_id, shared)
            )
            parts = [
                _read_plink(
                    fileset,
                    sample_index,
                    scratch_dir / "part-0",
                    threads=threads,
                    memory_bytes=MEMORY_BYTES,
                    **read_options,
                )
            ]
        else:
            parts = _read_vcf(
                input_path,
                None if len(shared) == len(input_samples) else shared,
                len(shared),
                header,
                stdin_reader,
                threads,
                scratch_dir,
                read_options,
            )

        dropped = sum((part.dropped for part in parts), Counter())
        num_read = sum(part.num_read for part in parts)
        num_kept = sum(part.store.num_variants for part in parts)
        if num_kept == 0:
            raise InputError(
                f"No variant of {input_path} is left after filtering ({num_read:,} "
                f"records read; dropped: {_describe(dropped) or 'none'}); check "
                "--maf, --max-missing, --regions and --variants, and that the input "
                "has biallelic SNPs on chromosomes 1-22."
            )

        # Assemble the dataset files. The matrix is written and hashed, and
        # the inputs are hashed, in threads while this one writes the tables
        # (numpy's copies, pwrite and hashlib let go of the GIL).
        with ThreadPoolExecutor(max_workers=2) as pool:
            matrix_hashed = pool.submit(_write_matrix, parts, scratch)
            input_files = (
                {"bed": fileset.bed, "bim": fileset.bim, "fam": fileset.fam}
                if is_plink
                else {"genotypes": input_path}
            )
            input_files["labels"] = labels_path
            described = {
                name: pool.submit(provenance.describe_input, path)
                for name, path in input_files.items()
            }
            variants = dataset.VariantTable(
                chrom=tuple(c for part in parts for c in part.chrom),
                position=np.concatenate([p for part in parts for p in part.position]),
                variant_id=tuple(v for part in parts for v in part.variant_id),
                ref=tuple(r for part in parts for r in part.ref),
                alt=tuple(a for part in parts for a in part.alt),
                alt_frequency=np.concatenate(
                    [f for part in parts for f in part.alt_frequency]
                ),
                missing_rate=np.concatenate(
                    [m for part in parts for m in part.missing_rate]
                ),
            ).write_tsv(scratch / dataset.VARIANTS)
            group_of = labels.group_of()
            shared_labels = [label_of[s] for s in shared]
            shared_groups = (
                [group_of[label] for label in shared_labels] if labels.group else None
            )
            dataset.write_samples(
                scratch / dataset.SAMPLES, shared, shared_labels, shared_groups
            )
            inputs = {name: future.result() for name, future in described.items()}
            checksum = dataset.dataset_checksum(scratch, matrix_hashed.result())
        for part in parts:
            part.store.discard()
        scratch_dir.rmdir()
        manifest = provenance.record(
            kind="dietnet-dataset",
            format_version=dataset.FORMAT_VERSION,
            inputs={
                "genotypes": {name: inputs[name] for name in ("bed", "bim", "fam")}
                if is_plink
                else inputs["genotypes"],
                "labels": inputs["labels"],
            },
            input_format="plink" if is_plink else "vcf",
            label_column=labels.label_column,
            group_column=labels.group_column,
            filters=asdict(filters),
            genome_build=genome_build,
            genome_build_evidence=build_evidence
            if header_build
            else ("--build" if build else build_evidence),
            num_samples=len(shared),
            num_variants=num_kept,
            num_records_read=num_read,
            records_dropped=dict(sorted(dropped.items())),
            samples_dropped={
                "input_only": num_input_only,
                "labels_only": num_labels_only,
                "unlabelled": labels.num_unlabelled,
            },
            num_classes=len(set(shared_labels)),
        )
        manifest["dataset_checksum"] = checksum
        dataset.write_manifest(scratch, manifest)

    logger.info(
        "Kept %s of %s records (dropped: %s) for %d samples in %.1f s.",
        f"{num_kept:,}",
        f"{num_read:,}",
        _describe(dropped) or "none",
        len(shared),
        time.perf_counter() - started,
    )
    # What open_dataset(out) reads back, without reading it back
    return dataset.Dataset(
        path=out,
        genotypes=np.load(out / dataset.GENOTYPES, mmap_mode="r"),
        sample_id=tuple(shared),
        label=tuple(shared_labels),
        group=tuple(shared_groups) if shared_groups else None,
        variants=variants,
        manifest=json.loads(json.dumps(manifest)),
    )


def _choose_build(
    input_path: str, header_build: str | None, evidence: str, build: str | None
) -> str | None:
    if build is not None:
        wanted = genome.canonical_build(build)
        if wanted is None:
            raise InputError(
                f"Unknown genome build '{build}'; use GRCh37 (hg19) or GRCh38 (hg38)."
            )
        if header_build is not None and header_build != wanted:
            raise InputError(
                f"--build {build} contradicts {input_path}, whose header says "
                f"{header_build} ({evidence}); drop --build or fix the header."
            )
        return wanted
    if header_build is None:
        logger.warning(
            "The genome build of %s is unknown (%s); pass --build so that predict "
            "can catch inputs on another build.",
            input_path,
            evidence,
        )
    return header_build


def _index_of(names: tuple[str, ...], wanted: list[str]) -> list[int]:
    position = {name: index for index, name in enumerate(names)}
    return [position[name] for name in wanted]


def _describe(counter: Counter) -> str:
    return ", ".join(f"{count:,} {reason}" for reason, count in sorted(counter.items()))


def _read_variant_list(path: str | None) -> _VariantList | None:
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
    return _VariantList(frozenset(positions), frozenset(alleles), frozenset(ids))


def _plan_regions(
    input_path: str,
    header: vcf.VcfHeader | None,
    filters: Filters,
    threads: int,
    keep_contig,
) -> list[tuple[str, tuple[int, int] | None]]:
    """Regions to read, each with the POS bounds that make them disjoint."""
    if filters.regions:
        if header is None:
            raise InputError(
                "--regions needs an indexed input file, and standard input cannot "
                "be indexed; give the indexed file's path instead of '-'."
            )
        if not header.indexed:
            raise InputError(
                f"--regions needs an indexed input, and {input_path} has no .tbi or "
                f".csi index; create one with 'bcftools index {input_path}'."
            )
        return [(region, _region_bounds(region)) for region in filters.regions]
    if threads <= 1 or header is None or vcf.is_text(input_path):
        # VCF text is decoded faster by our text decoder, in spans of the
        # file (_read_vcf_spans) or whole, than by htslib's region queries.
        return []
    if not header.indexed:
        if threads > 1:
            logger.warning(
                "%s has no index, so it is read by one process; index it with "
                "'bcftools index' to use --threads.",
                input_path,
            )
        return []
    # Every contig of the index, kept or not, so that the records passed
    # over are counted as by a single reader; the last region of a contig is
    # open-ended, so records past a declared length are read too.
    lengths = {name: length for name, length in header.contigs if length}
    names = list(dict.fromkeys(header.seqnames))
    total = sum(lengths.get(name, 0) for name in names if keep_contig(name))
    step = max(1, total // (threads * REGIONS_PER_THREAD))
    regions: list[tuple[str, tuple[int, int] | None]] = []
    for name in names:
        length = lengths.get(name)
        if not length or not keep_contig(name):
            regions.append((name, None))
            continue
        starts = list(range(1, length + 1, step))
        for start, next_start in zip(starts, starts[1:] + [None], strict=True):
            if next_start is None:
                regions.append((f"{name}:{start}-", (start, MAX_POSITION)))
            else:
                stop = next_start - 1
                regions.append((f"{name}:{start}-{stop}", (start, stop)))
    return regions


def _region_bounds(region: str) -> tuple[int, int] | None:
    match = re.match(r"^.+:([\d,]+)-([\d,]+)$", region)
    if not match:
        return None
    return int(match[1].replace(",", "")), int(match[2].replace(",", ""))


def _read_vcf_regions(
    input_path: str,
    samples: list[str] | None,
    num_samples: int,
    regions: list[tuple[str, tuple[int, int] | None]],
    scratch_dir: Path,
    threads: int,
    read_options: dict,
) -> list[_PartResult]:
    options = dict(read_options, show_progress=False)
    jobs = (
        delayed(_read_vcf_part)(
            input_path,
            samples,
            num_samples,
            region,
            bounds,
            scratch_dir / f"part-{index}",
            **options,
        )
        for index, (region, bounds) in enumerate(regions)
    )
    with progress.bar(
        "Reading regions", total=len(regions), enabled=read_options["show_progress"]
    ) as bar:
        parts = []
        for part in Parallel(n_jobs=threads, return_as="generator")(jobs):
            parts.append(part)
            bar.advance()
    return parts


def _write_matrix(parts: list[_PartResult], directory: Path) -> Any:
    """Write ``genotypes.npy`` in ``directory`` from the parts' blocks; the
    SHA-256 state over its bytes."""
    path = directory / dataset.GENOTYPES
    digest = dataset.assemble_genotypes(
        [part.store for part in parts], path, map_bytes=MEMORY_BYTES
    )
    return dataset.matrix_digest(directory) if digest is None else digest


def _read_vcf(
    input_path: str,
    samples: list[str] | None,
    num_samples: int,
    header: vcf.VcfHeader | None,
    stdin_reader: vcf.VcfReader | None,
    threads: int,
    scratch_dir: Path,
    read_options: dict,
) -> list[_PartResult]:
    """Read a VCF/BCF input: by regions of its index in ``threads`` worker
    processes, by spans of a bgzipped VCF's blocks in as many, or whole."""
    filters = read_options["filters"]
    regions = _plan_regions(
        input_path, header, filters, threads, read_options["keep_contig"]
    )
    if regions and stdin_reader is None:
        return _read_vcf_regions(
            input_path,
            samples,
            num_samples,
            regions,
            scratch_dir,
            threads,
            read_options,
        )
    if stdin_reader is None and not filters.regions:
        spans = vcf.text_spans(input_path, threads)
        parts = (
            _read_vcf_spans(
                input_path, samples, num_samples, spans, scratch_dir, read_options
            )
            if spans
            else None
        )
        if parts is not None:
            return parts
    if stdin_reader is not None and samples is not None:
        stdin_reader.set_samples(samples)
    part = _read_vcf_part(
        input_path,
        samples,
        num_samples,
        None,
        None,
        scratch_dir / "part-0",
        reader=stdin_reader,
        threads=threads,
        memory_bytes=MEMORY_BYTES,
        **read_options,
    )
    return [part]


def _read_vcf_spans(
    input_path: str,
    samples: list[str] | None,
    num_samples: int,
    spans: list[tuple[int, int | None]],
    scratch_dir: Path,
    read_options: dict,
) -> list[_PartResult] | None:
    """Read the first span of a bgzipped VCF here and each other one in a
    worker process; None when a variant is repeated across spans, which
    only a single reader drops exactly as it should (the parts are then
    discarded)."""
    # The workers start, and read, while this process reads the first span;
    # this is the process pool joblib.Parallel itself uses.
    executor = get_memmapping_executor(len(spans) - 1)
    others = [
        executor.submit(
            _read_vcf_part,
            input_path,
            samples,
            num_samples,
            None,
            None,
            scratch_dir / f"span-{index}",
            span=span,
            keep_seen=True,
            **dict(read_options, show_progress=False),
        )
        for index, span in enumerate(spans[1:], start=1)
    ]
    try:
        first = _read_vcf_part(
            input_path,
            samples,
            num_samples,
            None,
            None,
            scratch_dir / "span-0",
            span=spans[0],
            keep_seen=True,
            memory_bytes=MEMORY_BYTES,
            **read_options,
        )
        parts = [first, *(future.result() for future in others)]
    finally:
        for future in others:
            future.cancel()
    kept: set = set()
    numbers: dict[str, int] = {}
    for part in parts:
        keys = _SeenVariants.renumber(part.seen, part.seen_contigs, numbers)
        if not kept.isdisjoint(keys):
            logger.info(
                "A variant of %s is repeated in two parts of the file; reading it "
                "again in one process.",
                input_path,
            )
            for each in parts:
                each.store.discard()
            return None
        kept |= keys
        part.seen, part.seen_contigs = set(), {}
    return parts


def _read_vcf_part(
    input_path: str,
    samples: list[str] | None,
    num_samples: int,
    region: str | None,
    bounds: tuple[int, int] | None,
    store_path: Path,
    *,
    filters: Filters,
    variant_list: _VariantList | None,
    keep_contig,
    show_progress: bool,
    reader=None,
    threads: int = 1,
    memory_bytes: int = 0,
    span: tuple[int, int | None] | None = None,
    keep_seen: bool = False,
) -> _PartResult:
    blocks = vcf.iter_blocks(
        input_path,
        samples=samples,
        region=region,
        region_bounds=bounds,
        keep_contig=keep_contig,
        reader=reader,
        threads=threads,
        span=span,
    )
    result = _consume(
        blocks,
        store_path,
        num_samples,
        filters,
        variant_list,
        show_progress,
        memory_bytes,
    )
    if not keep_seen:
        result.seen, result.seen_contigs = set(), {}
    return result


def _read_plink(
    fileset: plink.PlinkFileset,
    sample_index: np.ndarray,
    store_path: Path,
    *,
    filters: Filters,
    variant_list: _VariantList | None,
    keep_contig,
    show_progress: bool,
    threads: int = 1,
    memory_bytes: int = 0,
) -> _PartResult:
    mask = None
    if filters.regions:
        mask = np.zeros(fileset.num_variants, dtype=bool)
        for region in filters.regions:
            mask |= _plink_region_mask(fileset, region)
    blocks = plink.iter_blocks(
        fileset,
        sample_index=sample_index,
        variant_mask=mask,
        keep_contig=keep_contig,
        threads=threads,
    )
    return _consume(
        blocks,
        store_path,
        len(sample_index),
        filters,
        variant_list,
        show_progress,
        memory_bytes,
    )


def _plink_region_mask(fileset: plink.PlinkFileset, region: str) -> np.ndarray:
    name, _, span = region.partition(":")
    chrom = np.array([genome.normalize_contig(c) for c in fileset.chrom])
    mask = chrom == genome.normalize_contig(name)
    bounds = _region_bounds(region)
    if span and bounds is None:
        raise InputError(f"Region '{region}' is not of the form chrom:start-end.")
    if bounds:
        mask &= (fileset.position >= bounds[0]) & (fileset.position <= bounds[1])
    return mask


def _consume(
    blocks,
    store_path: Path,
    num_samples: int,
    filters: Filters,
    variant_list: _VariantList | None,
    show_progress: bool,
    memory_bytes: int = 0,
) -> _PartResult:
    """Filter blocks of ``num_samples`` samples and append the kept variants
    to a block store that holds up to ``memory_bytes`` in memory."""
    result = _PartResult(
        store=dataset.BlockStore(store_path, num_samples, memory_bytes)
    )
    seen = _SeenVariants()
    with progress.bar("Reading variants", enabled=show_progress) as bar:
        for block in blocks:
            if block.num_variants and block.dosage.shape[0] != num_samples:
                raise ValueError(
                    f"A block of {block.dosage.shape[0]} samples where "
                    f"{num_samples} were expected."
                )
            result.dropped.update(block.dropped)
            result.num_read += block.num_variants + sum(block.dropped.values())
            if block.num_variants:
                _keep(block, result, filters, variant_list, seen)
            bar.advance(block.num_variants + sum(block.dropped.values()))
    result.store.close()
    result.seen, result.seen_contigs = seen.seen, seen.contig_number
    return result


def _base_codes() -> np.ndarray:
    """Two bits per base (either case) by character code; -1 for the rest."""
    codes = np.full(128, -1, dtype=np.int64)
    for code, base in enumerate("ACGT"):
        codes[ord(base)] = codes[ord(base.lower())] = code
    return codes


_BASE_CODE = _base_codes()
# Positions below this fit the integer key; the contig's number starts at
# this bit of it.
_KEY_POSITIONS = 1 << 36
_KEY_CONTIG_SHIFT = 40


class _SeenVariants:
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
            return (((contig << 36 | position) << 2 | ref) << 2 | alt).tolist()
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

    @staticmethod
    def renumber(keys: set, own: dict[str, int], numbers: dict[str, int]) -> set:
        """``keys`` made with the contig numbers ``own``, made with
        ``numbers`` instead (contigs new to it are added), so that the keys
        of readers of different parts of a file can be compared."""
        for name in own:
            numbers.setdefault(name, len(numbers))
        table = {number: numbers[name] for name, number in own.items()}
        if all(old == new for old, new in table.items()):
            return keys
        lookup = np.zeros(max(table) + 1, dtype=np.int64)
        lookup[list(table)] = list(table.values())
        integers = np.fromiter(
            (key for key in keys if isinstance(key, int)), dtype=np.int64
        )
        shift = _KEY_CONTIG_SHIFT
        integers = lookup[integers >> shift] << shift | integers & ((1 << shift) - 1)
        others = {(table[key[0]], *key[1:]) for key in keys if not isinstance(key, int)}
        return set(integers.tolist()) | others

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


# Rows summed at a time by _column_counts.
_BAND_ROWS = 128


def _column_counts(dosage: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Missing calls and ALT alleles per column of a sample-major block.

    Summed a band of rows at a time, so the temporaries are small, stay in
    cache and reuse the same memory: a block-sized temporary lands on fresh
    pages every time, as the blocks kept in memory take the freed ones.
    """
    missing = np.zeros(dosage.shape[1], dtype=np.int32)
    alt_count = np.zeros(dosage.shape[1], dtype=np.int32)
    for start in range(0, dosage.shape[0], _BAND_ROWS):
        band = dosage[start : start + _BAND_ROWS]
        missing += (band < 0).sum(axis=0, dtype=np.int32)
        alt_count += band.sum(axis=0, dtype=np.int32)
    return missing, alt_count + missing  # a missing call counted -1


def _keep(
    block: VariantBlock,
    result: _PartResult,
    filters: Filters,
    variant_list: _VariantList | None,
    seen: _SeenVariants,
) -> None:
    dosage = block.dosage  # (num_samples, num_block_variants) int8, -1 = missing
    missing, alt_count = _column_counts(dosage)
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
