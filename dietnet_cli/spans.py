"""Read a bgzipped VCF in spans, for ``prepare --threads``.

The spans (planned by :func:`dietnet_cli.vcf.text_spans`) are read side by
side: the first by the calling process, each other one by a worker process
(:mod:`dietnet_cli.workers`) into a scratch block store. When the first
part is written straight into the matrix file, the calling process then
writes each worker's blocks after its own as the worker announces them
(:class:`dietnet_cli.dataset.BlockReader`), so that little is left to copy
once the last worker is done. A variant repeated across two spans can only
be dropped exactly by a single reader, so it makes the read start over in
one process.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path

from dietnet_cli import dataset, workers
from dietnet_cli.variantfilter import PartResult, SeenVariants

logger = logging.getLogger(__name__)

# Seconds between looks at what a worker has announced.
POLL_SECONDS = 0.002


def read_spans(
    read_part: Callable[..., PartResult],
    spans: list[tuple[int, int | None]],
    scratch_dir: Path,
    read_options: dict,
    *,
    memory_bytes: int,
    writer: tuple[Path, int] | None,
    display: str,
) -> list[PartResult] | None:
    """Read each span with ``read_part(store_path, span=..., ...)``: the
    first here, the others in worker processes.

    Parameters
    ----------
    read_part
        Reads one part into a block store at its first argument (a
        picklable callable: it is sent to the workers).
    spans
        The spans, in file order.
    read_options
        Keyword arguments of ``read_part`` for every span.
    memory_bytes
        Blocks the first part may hold in memory.
    writer
        The matrix path and capacity for the first part's
        :class:`dataset.MatrixWriter`, or None.
    display
        The input file as named in messages.

    Returns
    -------
    list of PartResult, or None
        The parts in file order; None when a variant is repeated across
        spans (the parts are then discarded).
    """
    pool = workers.Workers(len(spans) - 1)
    paths = [scratch_dir / f"span-{index}" for index in range(len(spans))]
    others: list[workers.Job] = []
    first = None
    try:
        for path, span in zip(paths[1:], spans[1:], strict=True):
            options = dict(read_options, show_progress=False)
            others.append(
                pool.submit(
                    read_part, path, span=span, keep_seen=True, announce=True, **options
                )
            )
        first = read_part(
            paths[0],
            span=spans[0],
            keep_seen=True,
            memory_bytes=memory_bytes,
            writer=writer,
            # a worker's error ends this read early; result() raises it
            stop=lambda: any(job.failed() for job in others),
            **read_options,
        )
        streamed = []
        if isinstance(first.store, dataset.MatrixWriter):
            num_samples = first.store.num_samples
            streamed = _stream_blocks(first.store, others, paths[1:], num_samples)
        # a failed worker's error at once, without waiting for the others
        workers.wait(others)
        for job in others:
            if job.failed():
                job.result()
        parts = [first, *(job.result() for job in others)]
        for part, count in zip(parts[1:], streamed, strict=False):
            part.streamed = count
        pool.close()
    except BaseException:
        # Stop the workers now rather than let them read on into scratch
        # files about to be removed (their temporary files are in there).
        pool.terminate()
        if first is not None:
            first.store.discard()
        raise
    if _repeated_across(parts, display):
        for part in parts:
            part.store.discard()
        return None
    if isinstance(first.store, dataset.MatrixWriter) and (
        num_kept(parts) > first.store.capacity
    ):
        for part in parts:
            part.store.discard()
        raise dataset.MatrixFullError(
            f"More than the {first.store.capacity} variants planned."
        )
    return parts


def num_kept(parts: list[PartResult]) -> int:
    """Variants kept by all parts (a block streamed into another part's
    matrix is in both stores, and counted once)."""
    return sum(
        part.store.num_variants - sum(part.store.widths[: part.streamed])
        for part in parts
    )


def _repeated_across(parts: list[PartResult], display: str) -> bool:
    """Whether a variant kept by one part is kept by another (with a
    warning); the parts' keys are dropped either way."""
    kept: set = set()
    numbers: dict[str, int] = {}
    for part in parts:
        keys = part.seen.renumbered(numbers)
        repeated = next(iter(kept & keys), None)
        if repeated is not None:
            logger.warning(
                "Variant %s of %s is repeated in two parts of the file, which is "
                "therefore read again by one process (twice the time); drop the "
                "repeats first (bcftools norm --rm-dup exact) to avoid that.",
                SeenVariants.describe(repeated, numbers),
                display,
            )
            return True
        kept |= keys
        part.seen = None
    return False


def _stream_blocks(
    writer: dataset.MatrixWriter,
    jobs: list[workers.Job],
    paths: list[Path],
    num_samples: int,
) -> list[int]:
    """Write the workers' blocks after this process's, as the workers
    announce them, until each is done; how many blocks of each were
    written (any worker that fails ends this early)."""
    counts = []
    for job, path in zip(jobs, paths, strict=True):
        reader = dataset.BlockReader(path, num_samples)
        while True:
            # done before looking, so that nothing announced is missed
            done = job.done()
            blocks = reader.new_blocks(writer.group_bytes)
            for block in blocks:
                writer.append(block)
            if done and not blocks:
                break
            if not blocks:
                if any(other.failed() for other in jobs):
                    break
                time.sleep(POLL_SECONDS)
        counts.append(reader.count)
        if any(other.failed() for other in jobs):
            break
    # The last group now, rather than in the thread that hashes the matrix
    # beside the Python-bound writing of the tables: that thread would wait
    # for the GIL at every pwritev.
    writer.close()
    return counts
