"""Speed and peak memory of ``dietnet prepare`` against plink2 and bed-reader.

Cases (issue 2), each printed as a markdown table:

``vcf``
    ``dietnet prepare`` of a bgzipped VCF with ``--threads 2`` and
    ``--threads 1``, beside ``plink2 --vcf X --make-bed --threads 2`` on the
    same file; goal: dietnet (2 threads) no slower than plink2.
``bed``
    ``dietnet prepare`` of a PLINK .bed fileset (``--threads 2``), beside
    bed-reader alone reading the whole .bed into an int8 array (2 threads,
    in a fresh interpreter, as dietnet runs); goal: within 1.2x.
``rss``
    One run of ``dietnet prepare --threads 2`` on a large input, for its peak
    memory; goal: under 1.5 GB for 2,504 samples x 1,000,000 variants.
``stages``
    Where the time of ``prepare`` (``--threads``, default 2) goes: a fresh
    interpreter per run, with the stages of ``dietnet_cli.prepare`` wrapped
    in timers (when each starts, from the interpreter's start, and how long
    it takes); the median of ``--repeats`` runs.

Commands are run interleaved (A, B, A, B, ...) so that load from other jobs
on the machine falls on all of them alike; the median is reported. See
``measure.py`` for what the memory columns mean. Inputs come from
``simulate_vcf.py``; outputs go under ``--workdir``.

Usage::

    python benchmarks/prepare.py vcf --input X.vcf.gz --labels L.tsv
    python benchmarks/prepare.py bed --input X.bed --labels L.tsv
    python benchmarks/prepare.py rss --input X.vcf.gz --labels L.tsv
    python benchmarks/prepare.py stages --input X.vcf.gz --labels L.tsv
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from pathlib import Path

import measure

BIN = Path(sys.executable).parent


def dietnet(args: argparse.Namespace, threads: int, name: str) -> list[str]:
    out = args.workdir / name
    return [
        str(BIN / "dietnet"),
        "prepare",
        str(args.input),
        "--labels",
        str(args.labels),
        "-o",
        str(out),
        "--threads",
        str(threads),
        "--force",
        "--no-progress",
    ]


# Run in a fresh interpreter by ``stages``: prepare with its stages timed.
STAGES = """
import functools, json, sys, time
started = time.perf_counter()
from pathlib import Path
from dietnet_cli import dataset, prepare, vcf
times = {"import dietnet_cli.prepare": (0.0, time.perf_counter() - started)}
def timed(owner, name, label):
    function = getattr(owner, name)
    # (named as the function, so that forked span workers can be sent it)
    @functools.wraps(function)
    def wrapper(*args, **kwargs):
        begin = time.perf_counter()
        try:
            return function(*args, **kwargs)
        finally:
            times.setdefault(label, (begin - started, time.perf_counter() - begin))
    setattr(owner, name, wrapper)
timed(vcf, "text_spans", "plan spans")
timed(prepare, "_read_vcf", "read VCF, all parts")
timed(prepare, "_read_plink", "read .bed")
timed(prepare, "_read_vcf_part", "read VCF, this process's part")
timed(prepare, "_write_matrix", "write and hash genotypes.npy (thread)")
timed(dataset.VariantTable, "write_tsv", "write variants.tsv")
path, labels, out, threads = sys.argv[1:]
begin = time.perf_counter()
prepare.prepare(path, labels_path=Path(labels), out=Path(out), threads=int(threads),
                force=True, show_progress=False)
times["whole prepare"] = (begin - started, time.perf_counter() - begin)
print(json.dumps(times))
"""


def stages(args: argparse.Namespace) -> None:
    runs = []
    for _ in range(args.repeats):
        command = [sys.executable, "-c", STAGES, str(args.input), str(args.labels)]
        command += [str(args.workdir / "dataset-stages"), str(args.threads)]
        output = subprocess.run(
            command, check=True, capture_output=True, text=True
        ).stdout
        runs.append(json.loads(output.splitlines()[-1]))
    print(f"\nstages of prepare --threads {args.threads}: {args.input}\n")
    print("| stage | starts at s | takes s | runs (s) |")
    print("| --- | ---: | ---: | --- |")
    for stage in runs[0]:
        starts = [run[stage][0] for run in runs if stage in run]
        takes = [run[stage][1] for run in runs if stage in run]
        print(
            f"| {stage} | {statistics.median(starts):.2f} | "
            f"{statistics.median(takes):.2f} | "
            f"{', '.join(f'{t:.2f}' for t in takes)} |"
        )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("case", choices=["vcf", "bed", "rss", "stages"])
    parser.add_argument("--input", type=Path, required=True)
    parser.add_argument("--labels", type=Path, required=True)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2, help="for stages")
    parser.add_argument(
        "--workdir", type=Path, default=Path("/work/bench-data/prepare-out")
    )
    args = parser.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)
    measure.warm_memory()
    print(f"<!-- {measure.cpu_note()} -->")
    if args.case == "stages":
        stages(args)
        return

    if args.case == "vcf":
        commands = {
            "dietnet --threads 2": dietnet(args, 2, "dataset-t2"),
            "dietnet --threads 1": dietnet(args, 1, "dataset-t1"),
            "plink2 --threads 2": [
                "plink2", "--vcf", str(args.input), "--make-bed", "--threads", "2",
                "--out", str(args.workdir / "plink2"),
            ],
        }  # fmt: skip
        reference = "plink2 --threads 2"
    elif args.case == "bed":
        read = (
            "from bed_reader import open_bed; "
            f"open_bed({str(args.input)!r}, num_threads=2).read(dtype='int8')"
        )
        commands = {
            "dietnet --threads 2": dietnet(args, 2, "dataset-bed"),
            "bed-reader read(int8)": [sys.executable, "-c", read],
        }
        reference = "bed-reader read(int8)"
    else:
        commands = {"dietnet --threads 2": dietnet(args, 2, "dataset-rss")}
        reference = "dietnet --threads 2"
        args.repeats = 1

    results = measure.interleaved(commands, args.repeats)
    print(f"\n{args.case}: {args.input}\n")
    print(measure.table(results, reference))


if __name__ == "__main__":
    main()
