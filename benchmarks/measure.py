"""Wall time and peak memory of commands, run interleaved for fair ratios.

Shared by the speed benchmarks. A command runs as a child process while its
process tree (the command and every worker it starts) is sampled every
20 ms: the summed resident set (RSS, which counts file pages mapped and
touched, such as a memory-mapped output) and the summed anonymous resident
memory (``RssAnon`` of /proc/PID/status: heap and arrays, no file pages).
The kernel's own peak (``ru_maxrss`` from wait4, the figure ``/usr/bin/time
-v`` prints) is the largest single process of the tree, not the sum.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import psutil

SAMPLE_EVERY = 0.02


@dataclass(frozen=True)
class Measurement:
    wall_s: float
    tree_rss_mib: float  # sampled peak of the summed RSS of the tree
    tree_anon_mib: float  # sampled peak of the summed RssAnon of the tree
    maxrss_mib: float  # kernel peak RSS of the largest single process


def _anon_kib(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status") as handle:
            for line in handle:
                if line.startswith("RssAnon:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def run(command: list[str], *, stdout=subprocess.DEVNULL) -> Measurement:
    """Run ``command`` to completion; raise if it fails.

    Dirty pages of earlier commands are flushed to disk first, so that no
    command is slowed down by writing back another's output.
    """
    os.sync()
    with tempfile.TemporaryFile() as stderr:
        started = time.perf_counter()
        child = subprocess.Popen(command, stdout=stdout, stderr=stderr)
        root = psutil.Process(child.pid)
        peak_rss = peak_anon = 0
        while True:
            # wait4 gives the child's own rusage, with that of the workers
            # it waited for, so earlier runs do not leak into ru_maxrss.
            pid, status, usage = os.wait4(child.pid, os.WNOHANG)
            if pid:
                break
            try:
                tree = [root, *root.children(recursive=True)]
                rss = sum(p.memory_info().rss for p in tree)
                anon = sum(_anon_kib(p.pid) for p in tree) * 1024
            except psutil.Error:
                continue  # a worker ended between listing and reading
            peak_rss, peak_anon = max(peak_rss, rss), max(peak_anon, anon)
            time.sleep(SAMPLE_EVERY)
        wall = time.perf_counter() - started
        child.returncode = os.waitstatus_to_exitcode(status)
        if child.returncode != 0:
            stderr.seek(0)
            error = stderr.read().decode(errors="replace")[-2000:]
            raise RuntimeError(f"{' '.join(command)} failed:\n{error}")
    mib = 1024 * 1024
    return Measurement(wall, peak_rss / mib, peak_anon / mib, usage.ru_maxrss / 1024)


def interleaved(
    commands: dict[str, list[str]], repeats: int
) -> dict[str, list[Measurement]]:
    """Run every command once per round (A, B, A, B, ...), ``repeats`` rounds."""
    results: dict[str, list[Measurement]] = {name: [] for name in commands}
    for _ in range(repeats):
        for name, command in commands.items():
            results[name].append(run(command))
    return results


def table(results: dict[str, list[Measurement]], reference: str) -> str:
    """A markdown table: median wall time, ratio to ``reference``, memory."""
    base = statistics.median(m.wall_s for m in results[reference])
    lines = [
        "| run | median s | runs (s) | ratio to "
        f"{reference} | peak tree RSS MiB | peak tree anon MiB | max RSS MiB |",
        "| --- | ---: | --- | ---: | ---: | ---: | ---: |",
    ]
    for name, runs in results.items():
        median = statistics.median(m.wall_s for m in runs)
        lines.append(
            f"| {name} | {median:.2f} | "
            f"{', '.join(f'{m.wall_s:.2f}' for m in runs)} | {median / base:.2f} | "
            f"{max(m.tree_rss_mib for m in runs):.0f} | "
            f"{max(m.tree_anon_mib for m in runs):.0f} | "
            f"{max(m.maxrss_mib for m in runs):.0f} |"
        )
    return "\n".join(lines)


def warm_memory(fraction: float = 0.8) -> None:
    """Write once to most of the machine's free memory, once per boot.

    On the virtual machines these benchmarks run on, the first write to a
    page of guest memory costs about 5 s per GB (the host backs it then);
    a page written once is cheap ever after, freed or not. A freshly booted
    machine thus charges whichever command writes the most new bytes, which
    says nothing about either program: a 480 MB file took 2.5 s to write
    cold and 0.2 s after this. Long-running machines have paid the cost
    long ago, so the benchmarks pay it up front, before timing anything.
    """
    marker = Path("/dev/shm/dietnet-benchmarks-warm")
    boot = Path("/proc/sys/kernel/random/boot_id")
    boot_id = boot.read_text() if boot.exists() else ""
    if marker.exists() and marker.read_text() == boot_id:
        return
    chunk = 1 << 30
    total = int(psutil.virtual_memory().available * fraction)
    print(
        f"Writing once to {total / 2**30:.1f} GiB of free memory (once per boot)...",
        file=sys.stderr,
    )
    started = time.perf_counter()
    for _ in range(total // chunk):
        # a separate mapping each time, given back when freed
        block = bytearray(chunk)
        block[::4096] = b"\x01" * len(range(0, chunk, 4096))
        del block
    print(f"...done in {time.perf_counter() - started:.0f} s.", file=sys.stderr)
    marker.write_text(boot_id)


def cpu_note() -> str:
    return f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f} at start"
