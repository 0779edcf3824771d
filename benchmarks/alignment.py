"""Accuracy of ``dietnet evaluate`` on held-out 1000 Genomes samples as users'
files come: clean, degraded, and on another genome build.

Issue 4. The 1000 Genomes VCF is split by sample, stratified by population
(``--test-fraction``, seeded): a model is trained with the defaults on the
training samples (``bcftools view -S``, ``dietnet prepare``, ``dietnet
train``), then the held-out samples are evaluated from

- ``clean``: the held-out samples as they are;
- ``degraded``: ``chr``-prefixed contigs (renamed with ``bcftools annotate
  --rename-chrs``), a share of the sites absent (``--drop``, one file per
  share), REF/ALT swapped at 15 % of the sites (genotypes swapped with
  them), 3 % missing calls and 3 % multi-allelic records
  (``tests/degrade.py``);
- ``absent only``: the sites of the most degraded file absent, nothing else
  changed, which tells the loss due to fewer variants from any loss due to
  the alignment;
- ``grch38``: the same samples at shifted positions with a GRCh38 header,
  which must be refused with an error that names both builds and no output.

Prints a markdown table; goal: a degraded file within one point of the
clean one, beyond what the absent sites themselves cost.

Usage::

    python benchmarks/alignment.py [--workdir /work/bench-data/alignment]
        [--test-fraction 0.2] [--seed 0]
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.degrade import degrade_vcf  # noqa: E402

BIN = Path(sys.executable).parent
DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "1kg"


def run(command: list, **kwargs) -> subprocess.CompletedProcess:
    print("$", " ".join(str(part) for part in command), file=sys.stderr)
    return subprocess.run([str(part) for part in command], **kwargs)


def split_samples(panel: Path, fraction: float, seed: int) -> tuple[list, list]:
    """Training and held-out sample IDs, stratified by population."""
    with open(panel, newline="") as handle:
        rows = list(csv.DictReader(handle, delimiter="\t"))
    by_population = defaultdict(list)
    for row in rows:
        by_population[row["pop"]].append(row["sample"])
    rng = random.Random(seed)
    train, test = [], []
    for population in sorted(by_population):
        names = sorted(by_population[population])
        rng.shuffle(names)
        cut = round(len(names) * fraction)
        test += names[:cut]
        train += names[cut:]
    return train, test


def make_inputs(args: argparse.Namespace) -> dict[str, Path]:
    """Write (once) the model and the three held-out files."""
    work = args.workdir
    work.mkdir(parents=True, exist_ok=True)
    files = {"model": work / "model.dietnet", "clean": work / "test.vcf.gz"}
    for drop in args.drop:
        files[f"degraded, {drop:.0%} absent"] = work / f"test-degraded-{drop}.vcf.gz"
    files[f"{max(args.drop):.0%} absent only"] = work / "test-absent.vcf.gz"
    files["grch38"] = work / "test-grch38.vcf"
    if all(path.exists() for path in files.values()):
        return files
    train, test = split_samples(args.panel, args.test_fraction, args.seed)
    for name, samples in (("train", train), ("test", test)):
        (work / f"{name}-samples.txt").write_text("\n".join(samples) + "\n")
        run(
            ["bcftools", "view", "-S", work / f"{name}-samples.txt", args.vcf]
            + ["-Oz", "-o", work / f"{name}.vcf.gz", "--threads", "2"],
            check=True,
        )

    # The degraded file: contigs renamed by bcftools, the rest by degrade_vcf.
    renames = work / "chr-names.txt"
    renames.write_text("".join(f"{n}\tchr{n}\n" for n in range(1, 23)))
    run(
        ["bcftools", "annotate", "--rename-chrs", renames, files["clean"]]
        + ["-Ov", "-o", work / "test-chr.vcf"],
        check=True,
    )
    for drop in args.drop:
        target = work / f"test-degraded-{drop}.vcf"
        changed = degrade_vcf(
            work / "test-chr.vcf",
            target,
            seed=args.seed + 1,
            chr_prefix=False,
            drop=drop,
        )
        print(f"degraded, {drop:.0%} absent: {changed}", file=sys.stderr)
        run(["bgzip", "-f", target], check=True)
    # The same sites absent as in the most degraded file, nothing else changed
    # (the same seed draws the same random numbers whatever the rates).
    degrade_vcf(
        work / "test-chr.vcf",
        work / "test-absent.vcf",
        seed=args.seed + 1,
        chr_prefix=False,
        drop=max(args.drop),
        swap=0.0,
        missing=0.0,
        multiallelic=0.0,
    )
    run(["bgzip", "-f", work / "test-absent.vcf"], check=True)
    degrade_vcf(files["clean"], files["grch38"], grch38=True, drop=0.0, swap=0.0)

    dataset = work / "train-dataset"
    run(
        [BIN / "dietnet", "prepare", work / "train.vcf.gz", "--labels", args.panel]
        + ["-o", dataset, "--force", "--no-progress"],
        check=True,
    )
    run(
        [BIN / "dietnet", "train", dataset, "-o", files["model"], "--force"]
        + ["--no-progress", "--seed", args.seed],
        check=True,
    )
    return files


def evaluate(model: Path, vcf: Path, panel: Path, report: Path) -> dict:
    result = run(
        [BIN / "dietnet", "evaluate", model, vcf, "--labels", panel, "-o", report]
        + ["--force", "--no-progress"],
        capture_output=True,
        text=True,
    )
    outcome = {"exit": result.returncode, "stderr": result.stderr.strip()}
    if result.returncode == 0:
        outcome["metrics"] = json.loads((report / "metrics.json").read_text())
    return outcome


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--vcf", type=Path, default=DATA / "1kg-train.vcf.gz")
    parser.add_argument("--panel", type=Path, default=DATA / "1kg-train.panel.tsv")
    parser.add_argument(
        "--workdir", type=Path, default=Path("/work/bench-data/alignment")
    )
    parser.add_argument("--test-fraction", type=float, default=0.2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--drop",
        type=float,
        nargs="+",
        default=[0.05, 0.2],
        help="shares of the sites absent from the degraded files",
    )
    args = parser.parse_args()
    files = make_inputs(args)

    print("| input | exit | samples | accuracy | balanced accuracy | note |")
    print("| --- | ---: | ---: | ---: | ---: | --- |")
    accuracy = {}
    for index, name in enumerate(name for name in files if name != "model"):
        report = args.workdir / f"report-{index}"
        outcome = evaluate(files["model"], files[name], args.panel, report)
        if outcome["exit"] == 0:
            metrics = outcome["metrics"]
            accuracy[name] = metrics["accuracy"]
            matching = metrics["variant_matching"]
            note = (
                f"found {matching['found']:,} of {matching['num_model_variants']:,}"
                f" model variants, {matching['swapped']:,} swapped"
            )
            print(
                f"| {name} | 0 | {metrics['num_samples']} | "
                f"{metrics['accuracy']:.4f} | {metrics['balanced_accuracy']:.4f} "
                f"| {note} |"
            )
        else:
            written = report.exists()
            # The error line, unwrapped.
            error = outcome["stderr"].partition("Error:")[2]
            last = "Error: " + " ".join(error.split())
            print(
                f"| {name} | {outcome['exit']} | | | | {last} "
                f"(report written: {written}) |"
            )
    print()
    for name, value in accuracy.items():
        if name != "clean":
            gap = 100 * (accuracy["clean"] - value)
            print(f"clean - {name}: {gap:.2f} points")


if __name__ == "__main__":
    main()
