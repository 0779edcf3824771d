"""What a process pays the first time it writes memory, on this machine.

Issue 2. ``dietnet prepare`` holds its genotype blocks in new memory and then
writes the matrix into new page-cache pages. This measures, in seconds per
GiB, (1) touching fresh anonymous memory, with and without transparent huge
pages (``madvise(MADV_HUGEPAGE)``), each allocation kept alive as prepare
keeps its blocks, and (2) filling 200,000 x 2,504 bytes of sample-major
blocks from decoded records with ``genotypes.transpose_into`` into fresh
blocks and into one reused block.

Both depend on the machine's history: memory that another process has just
freed is cheap to touch again, memory the virtual machine has not used for
a while is not, so run it a few times and on a machine left idle.

Usage::

    python benchmarks/memory_touch.py [--rounds 6]
"""

from __future__ import annotations

import argparse
import mmap
import time

import numpy as np

from dietnet_cli.genotypes import transpose_into

MIB = 1 << 20


def touch_fresh(rounds: int, size: int = 256 * MIB) -> list[tuple[float, float]]:
    """Seconds per GiB to touch new mappings: (plain, huge pages) per round."""
    kept = []
    results = []
    for _ in range(rounds):
        pair = []
        for huge in (False, True):
            mapping = mmap.mmap(-1, size, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
            if huge:
                mapping.madvise(mmap.MADV_HUGEPAGE)
            array = np.frombuffer(mapping, dtype=np.int8)
            started = time.perf_counter()
            array[::4096] = 1  # one byte per page
            pair.append((time.perf_counter() - started) / (size / (1 << 30)))
            kept.append((mapping, array))
        results.append((pair[0], pair[1]))
    return results


def fill_blocks(fresh: bool, num_samples: int = 2504, num_variants: int = 200_000):
    """Seconds to fill sample-major blocks of 8,192 variants from decoded
    (400, num_samples) records, as the VCF reader does (its blocks are of
    4,096 variants; the bytes filled are the same)."""
    records = np.random.default_rng(0).integers(0, 3, (400, num_samples), dtype=np.int8)
    width = 8192
    reused = np.empty((num_samples, width), np.int8)
    kept = []
    started = time.perf_counter()
    for _ in range(num_variants // width):
        block = np.empty((num_samples, width), np.int8) if fresh else reused
        for start in range(0, width, 400):
            n = min(400, width - start)
            transpose_into(block[:, start : start + n], records[:n])
        kept.append(block)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=6)
    args = parser.parse_args()
    # The blocks first: the mappings of touch_fresh, once freed, would be
    # the recently used pages the blocks then land on.
    fresh = fill_blocks(True)
    reused = fill_blocks(False)
    print(
        f"Filling 200,000 x 2,504 bytes of blocks: {fresh:.2f} s into fresh "
        f"blocks, {reused:.2f} s into one reused block.\n"
    )
    print("| round | fresh memory s/GiB | with huge pages s/GiB |")
    print("| --- | ---: | ---: |")
    for index, (plain, huge) in enumerate(touch_fresh(args.rounds)):
        print(f"| {index} | {plain:.2f} | {huge:.2f} |")


if __name__ == "__main__":
    main()
