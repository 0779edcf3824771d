"""The ``prepare`` stage: genotypes and labels to a cached dataset directory.

The input is streamed in blocks of variants and each block is filtered.
When the reader knows how many variants it can keep at most (a PLINK
fileset's .bim, the record count of a VCF/BCF's index) the kept blocks go
straight into the matrix file, laid out for that many columns and closed
up at the end (:class:`dataset.MatrixWriter`); otherwise they are kept, in
memory up to ``MEMORY_BYTES`` and beyond that in a scratch file, and the
(num_samples, num_variants) matrix is written from them at the end. Memory
stays bounded whatever the number of variants. An indexed BCF can be read
by several worker processes, one region at a time; a bgzipped VCF in spans
of its BGZF blocks, one span in this process and one in each worker (see
:mod:`dietnet_cli.bgzf`); any other VCF text by one process whose threads
inflate it.
"""

from __future__ import annotations

import functools
import json
import logging
import re
import shutil
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from dietnet_cli import (
    dataset,
    genome,
    outputs,
    plink,
    progress,
    provenance,
    spans,
    vcf,
)
from dietnet_cli.errors import InputError
from dietnet_cli.labels import read_labels
from dietnet_cli.variantfilter import (
    Filters,
    PartResult,
    SeenVariants,
    VariantList,
    keep,
    read_variant_list,
)

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
# A PLINK fileset, or a VCF/BCF read whole or in spans whose index counts
# its records, is written straight into the matrix file instead
# (dataset.MatrixWriter); for spans, only the first.
# TODO(#2): a VCF without an index, the span workers' parts, and a BCF or
# --regions read by region workers still go through held blocks or scratch
# files: the matrix's size is touched twice, at up to 3 s per GiB on a cold
# virtual machine.
MEMORY_BYTES = 512 << 20


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
    variant_list = read_variant_list(filters.variants_file)
    keep_contig = genome.any_contig if filters.all_contigs else genome.is_autosome

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

    # Read the variants, part by part, into the matrix file or block stores.
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
                    scratch / dataset.GENOTYPES,
                    threads=threads,
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
                scratch / dataset.GENOTYPES,
            )

        # The parts' scratch files go, and their file handles are closed,
        # whatever happens (a finished matrix file stays).
        try:
            dropped = sum((part.dropped for part in parts), Counter())
            num_read = sum(part.num_read for part in parts)
            num_kept = spans.num_kept(parts)
            if num_kept == 0:
                raise InputError(
                    f"No variant of {input_path} is left after filtering "
                    f"({num_read:,} records read; dropped: "
                    f"{_describe(dropped) or 'none'}); check --maf, --max-missing, "
                    "--regions and --variants, and that the input has biallelic "
                    "SNPs on chromosomes 1-22."
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
                    position=np.concatenate(
                        [p for part in parts for p in part.position]
                    ),
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
                    [group_of[label] for label in shared_labels]
                    if labels.group
                    else None
                )
                dataset.write_samples(
                    scratch / dataset.SAMPLES, shared, shared_labels, shared_groups
                )
                inputs = {name: future.result() for name, future in described.items()}
                checksum = dataset.dataset_checksum(scratch, matrix_hashed.result())
        finally:
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
) -> list[PartResult]:
    # joblib takes about 60 ms to import, and only region reads need it.
    from joblib import Parallel, delayed

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


def _write_matrix(parts: list[PartResult], directory: Path) -> Any:
    """Write ``genotypes.npy`` in ``directory`` from the parts' blocks; the
    SHA-256 state over its bytes."""
    stores = [part.store for part in parts]
    if isinstance(stores[0], dataset.MatrixWriter):  # written as read
        # span workers' blocks go after it, less those already written as
        # the workers read them (see _stream_blocks)
        for part in parts[1:]:
            for block in part.store.iter_blocks(part.streamed):
                stores[0].append(block)
        stores[0].finish()
        return dataset.matrix_digest(directory)
    path = directory / dataset.GENOTYPES
    digest = dataset.assemble_genotypes(stores, path, map_bytes=MEMORY_BYTES)
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
    matrix_path: Path,
) -> list[PartResult]:
    """Read a VCF/BCF input: by regions of its index in ``threads`` worker
    processes, by spans of a bgzipped VCF's blocks in as many, or whole.

    When the input's index counts its records, the reader of the first (or
    only) part writes straight into the matrix file ``matrix_path``, laid
    out for that many variants; should the file hold more records than its
    index counts, it is read again without.
    """
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
    capacity = (
        vcf.count_records(input_path)
        if stdin_reader is None and header is not None and header.indexed
        else None
    )
    reading = dict(
        input_path=input_path,
        samples=samples,
        num_samples=num_samples,
        stdin_reader=stdin_reader,
        threads=threads,
        scratch_dir=scratch_dir,
        read_options=read_options,
    )
    if capacity is None:
        return _read_vcf_text(**reading, writer=None)
    try:
        return _read_vcf_text(**reading, writer=(matrix_path, capacity))
    except dataset.MatrixFullError:
        pass  # read again below, once this attempt is let go of
    logger.warning(
        "The index of %s counts %s records, but the file holds more; reading it "
        "again without that count (re-index it with 'bcftools index -f').",
        input_path,
        f"{capacity:,}",
    )
    # Killed span workers may have left temporary files behind.
    shutil.rmtree(scratch_dir)
    scratch_dir.mkdir()
    return _read_vcf_text(**reading, writer=None)


def _read_vcf_text(
    input_path: str,
    samples: list[str] | None,
    num_samples: int,
    stdin_reader: vcf.VcfReader | None,
    threads: int,
    scratch_dir: Path,
    read_options: dict,
    writer: tuple[Path, int] | None,
) -> list[PartResult]:
    """Read a VCF/BCF input in spans or whole; ``writer`` is the matrix path
    and capacity for the first part's :class:`dataset.MatrixWriter`."""
    if stdin_reader is None:  # (--regions was read by regions)
        planned = vcf.text_spans(input_path, threads)
        read_part = functools.partial(
            _read_vcf_part, input_path, samples, num_samples, None, None
        )
        parts = (
            spans.read_spans(
                read_part,
                planned,
                scratch_dir,
                read_options,
                memory_bytes=MEMORY_BYTES,
                writer=writer,
                display=input_path,
            )
            if planned
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
        writer=writer,
        **read_options,
    )
    return [part]


def _matrix_writer(
    path: Path, num_samples: int, capacity: int
) -> dataset.MatrixWriter | None:
    """A writer laid out for ``capacity`` columns, or None where that layout
    would not fit the file system's free space or cannot be made (its file
    is sparse, but its apparent size must be allowed)."""
    try:
        if num_samples * capacity > shutil.disk_usage(path.parent).free:
            return None
        return dataset.MatrixWriter(path, num_samples, capacity)
    except OSError as error:
        logger.warning(
            "Cannot lay out %s (%s); holding blocks in memory or a scratch file "
            "instead, which writes the matrix twice.",
            path,
            error,
        )
        path.unlink(missing_ok=True)
        return None


def _read_vcf_part(
    input_path: str,
    samples: list[str] | None,
    num_samples: int,
    region: str | None,
    bounds: tuple[int, int] | None,
    store_path: Path,
    *,
    filters: Filters,
    variant_list: VariantList | None,
    keep_contig,
    show_progress: bool,
    reader=None,
    threads: int = 1,
    memory_bytes: int = 0,
    span: tuple[int, int | None] | None = None,
    keep_seen: bool = False,
    stop: Callable[[], bool] | None = None,
    writer: tuple[Path, int] | None = None,
    announce: bool = False,
) -> PartResult:
    """Read one part of a VCF/BCF input into a block store at
    ``store_path``, or straight into a matrix file when ``writer`` gives
    its path and capacity."""
    blocks = vcf.iter_blocks(
        input_path,
        samples=samples,
        region=region,
        region_bounds=bounds,
        keep_contig=keep_contig,
        reader=reader,
        threads=threads,
        span=span,
        scratch_dir=store_path.parent,
    )
    store = (
        None if writer is None else _matrix_writer(writer[0], num_samples, writer[1])
    )
    if store is None:
        store = dataset.BlockStore(
            store_path, num_samples, memory_bytes, announce=announce
        )
    return _consume(
        blocks, store, filters, variant_list, show_progress, keep_seen, stop
    )


def _read_plink(
    fileset: plink.PlinkFileset,
    sample_index: np.ndarray,
    store_path: Path,
    matrix_path: Path,
    *,
    filters: Filters,
    variant_list: VariantList | None,
    keep_contig,
    show_progress: bool,
    threads: int = 1,
) -> PartResult:
    """Read a PLINK fileset straight into the matrix file ``matrix_path``
    (the .bim bounds the number of variants kept), or where that cannot be
    laid out, into a block store at ``store_path``."""
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
    capacity = fileset.num_variants if mask is None else int(mask.sum())
    store = _matrix_writer(matrix_path, len(sample_index), capacity)
    if store is None:
        store = dataset.BlockStore(store_path, len(sample_index), MEMORY_BYTES)
    return _consume(blocks, store, filters, variant_list, show_progress)


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
    store: dataset.BlockStore | dataset.MatrixWriter,
    filters: Filters,
    variant_list: VariantList | None,
    show_progress: bool,
    keep_seen: bool = False,
    stop: Callable[[], bool] | None = None,
) -> PartResult:
    """Filter blocks and append the kept variants to ``store``; with
    ``keep_seen``, the result says which variants were kept. ``stop`` is
    asked between blocks and ends the reading early when it says so (the
    caller has another error to report then)."""
    num_samples = store.num_samples
    result = PartResult(store=store)
    seen = SeenVariants()
    try:
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
                    keep(block, result, filters, variant_list, seen)
                bar.advance(block.num_variants + sum(block.dropped.values()))
                if stop is not None and stop():
                    break
    except BaseException:
        # A worker process outlives its task: let go of the scratch file,
        # but leave one whose blocks were announced: the calling process
        # may be copying them, and removes the scratch directory itself.
        store = result.store
        if isinstance(store, dataset.BlockStore) and store.announced:
            store.close()
        else:
            store.discard()
        raise
    result.store.close()
    if keep_seen:
        result.seen = seen
    return result
