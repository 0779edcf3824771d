"""Speed and peak memory of ``dietnet predict`` against decoding the input.

Issue 4: ``dietnet predict MODEL SIM.vcf.gz`` on every sample of a simulated
cohort, beside ``bcftools view SIM.vcf.gz -Ov -o /dev/null``, which decodes
the same file and nothing more, each with its default single thread and with
``--threads 2``; goal: predict within 1.5x of bcftools.

The model is made once and kept in ``--workdir``: every ``--train-every``-th
sample of the VCF (so every population is in it) is cut out with ``bcftools
view -S``, prepared with ``dietnet prepare`` and trained with ``dietnet train
--epochs 2``; its variants are those of the full VCF that pass prepare's
filters in the subset. Commands are run interleaved (A, B, A, B, ...) and
the median is reported; see ``measure.py`` for the memory columns.

Usage::

    python benchmarks/predict.py --vcf /work/bench-data/sim-200k.vcf.gz \\
        --labels /work/bench-data/sim-200k.labels.tsv [--repeats 3]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import measure

BIN = Path(sys.executable).parent


def make_model(args: argparse.Namespace) -> Path:
    """Train (once) the model that predict will use."""
    model = args.workdir / "model.dietnet"
    if model.exists():
        return model
    train_vcf = args.workdir / "train.vcf.gz"
    samples = args.workdir / "train-samples.txt"
    names = subprocess.run(
        ["bcftools", "query", "-l", str(args.vcf)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.split()
    samples.write_text("\n".join(names[:: args.train_every]) + "\n")
    steps = [
        ["bcftools", "view", "-S", str(samples), "-Oz", "-o", str(train_vcf)]
        + ["--threads", "2", str(args.vcf)],
        [str(BIN / "dietnet"), "prepare", str(train_vcf), "--labels"]
        + [str(args.labels), "-o", str(args.workdir / "train-dataset")]
        + ["--threads", "2", "--force", "--no-progress"],
        [str(BIN / "dietnet"), "train", str(args.workdir / "train-dataset")]
        + ["-o", str(model), "--epochs", "2", "--force", "--no-progress"],
    ]
    for step in steps:
        print(f"<!-- setup: {' '.join(step)} -->", flush=True)
        subprocess.run(step, check=True, stdout=subprocess.DEVNULL)
    return model


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--vcf", type=Path, required=True)
    parser.add_argument("--labels", type=Path, required=True)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--train-every", type=int, default=5)
    parser.add_argument(
        "--workdir", type=Path, default=Path("/work/bench-data/predict-out")
    )
    args = parser.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)
    model = make_model(args)
    measure.warm_memory()
    print(f"<!-- {measure.cpu_note()} -->")

    predict = [
        str(BIN / "dietnet"), "predict", str(model), str(args.vcf),
        "-o", str(args.workdir / "predictions.tsv"), "--force", "--no-progress",
    ]  # fmt: skip
    view = ["bcftools", "view", str(args.vcf), "-Ov", "-o", "/dev/null"]
    commands = {
        "dietnet predict": predict,
        "dietnet predict --threads 2": predict + ["--threads", "2"],
        "bcftools view -Ov": view,
        "bcftools view -Ov --threads 2": view + ["--threads", "2"],
    }
    results = measure.interleaved(commands, args.repeats)
    print(f"\npredict: {args.vcf}\n")
    print(measure.table(results, "bcftools view -Ov"))


if __name__ == "__main__":
    main()
