"""Speed and memory of ``dietnet train``.

Issue 3. Three measurements:

``speed``
    Epochs of the training loop (``dietnet_cli.fit.fit`` with the default
    configuration) on a dataset directory, beside a plain torch loop over
    the same batches that does only the first layer's work: read the int8
    rows, make them float, multiply by a (num_variants, num_hidden) weight
    matrix, back-propagate and take an Adam step. Goal: an epoch within 2x
    of the plain loop. Also times a whole default ``dietnet train`` run
    (goal on the 1000 Genomes data: under 10 minutes on 2 cores).
``steps``
    Times the pieces of one training step on one batch of 64, to tell
    where an epoch's time goes, and the matrix products of a plain step and
    of a Diet Network step alone (random arrays of the same shapes): their
    ratio bounds the epoch ratio from below.
``rss``
    Writes a simulated dataset of the Diet Networks paper's size (3,450
    samples x 315,345 variants, 26 populations in 5 groups, Balding-Nichols
    drift) and measures the peak RSS of ``dietnet train`` on it (goal:
    under 4 GB).

Usage::

    python benchmarks/train.py speed --dataset DATASET [--epochs 3]
    python benchmarks/train.py steps --dataset DATASET
    python benchmarks/train.py rss --workdir /work/bench-data/paper [--epochs 1]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import measure
import numpy as np
import torch

from dietnet_cli import allocator, embed
from dietnet_cli import dataset as dataset_format
from dietnet_cli.counts import AlleleCounts, count_genotypes, leave_out
from dietnet_cli.dataset import open_dataset
from dietnet_cli.fit import TrainConfig, fit
from dietnet_cli.functions import BLOCK_ROWS
from dietnet_cli.model import DietNetwork, ModelConfig
from dietnet_cli.splits import SplitConfig, split_samples
from dietnet_cli.train import _group_codes

BIN = Path(sys.executable).parent


def plain_epoch(
    genotypes: np.ndarray, rows: np.ndarray, batch_size: int, num_hidden: int
) -> float:
    """Seconds of one epoch of first-layer work alone, forward and backward."""
    torch.manual_seed(0)
    weight = torch.nn.Parameter(torch.randn(genotypes.shape[1], num_hidden) * 0.01)
    optimizer = torch.optim.Adam([weight], lr=1e-4, fused=True)  # as fit uses
    batches = np.array_split(rows, max(1, len(rows) // batch_size))
    started = time.perf_counter()
    for batch in batches:
        # (batch, num_variants) int8 -> float32
        x = torch.from_numpy(np.asarray(genotypes[np.sort(batch)])).float()
        loss = (x @ weight).square().mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return time.perf_counter() - started


def speed(args: argparse.Namespace) -> None:
    torch.set_num_threads(args.threads)
    data = open_dataset(args.dataset)
    train_index, val_index = split_samples(data.label, SplitConfig())
    codes = embed.class_codes(data)
    model_config = ModelConfig(aux_hidden=args.aux_hidden)
    train_config = TrainConfig(epochs=args.epochs, patience=args.epochs)

    # A plain epoch runs after every epoch of the fit, so that each epoch is
    # compared with one run under the same machine load: on this VM speed
    # drifts by up to 50 % over a minute.
    def plain_run() -> float:
        return plain_epoch(
            data.genotypes,
            train_index,
            train_config.batch_size,
            model_config.num_hidden,
        )

    plain_run()  # warm
    plain: list[float] = []

    def after_epoch(_state: dict) -> None:
        plain.append(plain_run())

    result = fit(
        data.genotypes,
        codes,
        train_index,
        val_index,
        model_config,
        train_config,
        num_classes=len(data.classes()),
        class_group=_group_codes(data.classes(), data.group_of()),
        on_epoch=after_epoch,
    )
    epochs = [row["seconds"] for row in result.history if row["epoch"] > 0]
    ratios = [epoch / base for epoch, base in zip(epochs, plain, strict=True)]
    start = result.history[0]["seconds"] if result.history[0]["epoch"] == 0 else 0
    dietnet_median, plain_median = statistics.median(epochs), statistics.median(plain)
    print(
        f"Dataset {args.dataset}: {data.num_samples:,} samples x "
        f"{data.num_variants:,} variants, {len(data.classes())} classes; "
        f"{len(train_index)} training samples, batch {train_config.batch_size}, "
        f"torch threads {args.threads}; {measure.cpu_note()}.\n"
    )
    print("| loop | median epoch s | epochs (s) |")
    print("| --- | ---: | --- |")
    for name, values, median in (
        (f"dietnet fit (aux_hidden {args.aux_hidden})", epochs, dietnet_median),
        ("plain first-layer loop, after each", plain, plain_median),
    ):
        cells = ", ".join(f"{v:.2f}" for v in values)
        print(f"| {name} | {median:.2f} | {cells} |")
    cells = ", ".join(f"{r:.2f}" for r in ratios)
    print(
        f"\nRatio of each epoch to the plain epoch after it: {cells}; "
        f"**median {statistics.median(ratios):.2f}**."
    )
    print(
        f"\nEpoch 0 (scoring the training samples and fitting the head): {start:.2f} s"
    )

    if args.full_run:
        model = Path(args.workdir) / "speed.dietnet"
        model.parent.mkdir(parents=True, exist_ok=True)
        command = [
            str(BIN / "dietnet"),
            "train",
            str(args.dataset),
            "-o",
            str(model),
            "--force",
            "--no-progress",
            "--threads",
            str(args.threads),
        ]
        run = measure.run(command)
        metrics = model.with_name(model.name + ".metrics.tsv").read_text()
        print(
            f"\n`{' '.join(command[1:])}`: {run.wall_s:.1f} s wall, peak RSS "
            f"{run.tree_rss_mib:.0f} MiB, {len(metrics.splitlines()) - 1} epochs "
            "recorded (epoch 0 included)."
        )


def steps(args: argparse.Namespace) -> None:
    """Milliseconds of the pieces of one training step, on one batch."""
    torch.set_num_threads(args.threads)
    data = open_dataset(args.dataset)
    genotypes = np.asarray(data.genotypes)
    codes = embed.class_codes(data)
    num_classes = len(data.classes())
    model = DietNetwork(
        ModelConfig(),
        num_variants=data.num_variants,
        num_classes=num_classes,
        class_group=torch.from_numpy(_group_codes(data.classes(), data.group_of())),
    )
    counts = AlleleCounts.of(
        torch.from_numpy(count_genotypes(genotypes, codes, num_classes))
    )
    batch = np.sort(np.random.default_rng(0).choice(len(codes), 64, replace=False))
    x, y = torch.from_numpy(genotypes[batch]), torch.from_numpy(codes[batch])
    weight = torch.nn.Parameter(torch.randn(data.num_variants, 100) * 0.01)

    def weights_forward_backward() -> None:
        first = model.first_layer_weights(counts)
        (first.weight_e.sum() + first.offset.sum()).backward()

    def product_forward_backward() -> None:
        model.first_layer_product(model.transform(x), counts).sum().backward()

    def whole_step() -> None:
        logits, _ = model(x, leave_out(counts, x, y))
        torch.nn.functional.cross_entropy(logits, y).backward()

    plain_products, diet_products = _products(model, x.float(), num_classes)
    pieces = {
        "plain first layer, forward and backward": lambda: (
            (x.float() @ weight).square().mean().backward()
        ),
        "plain step's two products alone": plain_products,
        "Diet Network step's products alone (same shapes and blocks)": diet_products,
        "leave-batch-out counts": lambda: leave_out(counts, x, y),
        "W_e and offset from the embedding, forward (validation)": lambda: (
            model.first_layer_weights(counts)
        ),
        "W_e and offset, forward and backward": weights_forward_backward,
        "x @ W_e + offset without forming W_e, forward and backward (training)": (
            product_forward_backward
        ),
        "whole Diet Network step, forward and backward": whole_step,
    }
    print(f"batch 64 of {args.dataset}; torch threads {args.threads}\n")
    print("| piece | ms |")
    print("| --- | ---: |")
    for name, piece in pieces.items():
        piece()
        started = time.perf_counter()
        for _ in range(args.repeats):
            piece()
        elapsed = (time.perf_counter() - started) / args.repeats
        print(f"| {name} | {1000 * elapsed:.1f} |")


def _products(
    model: DietNetwork, x: torch.Tensor, num_classes: int
) -> tuple[Callable[[], None], Callable[[], None]]:
    """The matrix products of a plain step and of a Diet Network training
    step, alone, on random arrays of the same shapes: what an epoch's ratio
    would be if element-wise work cost nothing."""
    num_variants = x.shape[1]
    aux_hidden, num_hidden = model.config.aux_hidden, model.config.num_hidden
    fan_in = model.aux_encoder.last_layer().in_features + 1  # and the bias
    weight = torch.randn(num_variants, num_hidden)
    grad = torch.randn(x.shape[0], num_hidden)
    features = torch.randn(num_variants, fan_in)
    weight_bias = torch.randn(fan_in, aux_hidden)
    trunk = torch.empty(num_variants, aux_hidden)
    x_trunk = torch.zeros(x.shape[0], aux_hidden)
    grad_both = torch.zeros(fan_in, aux_hidden)
    grad_trunk = torch.randn(x.shape[0], aux_hidden)
    linear = torch.randn(num_variants, num_classes)
    grad_linear = torch.randn(x.shape[0], num_classes)
    blocks = [
        slice(start, start + BLOCK_ROWS) for start in range(0, num_variants, BLOCK_ROWS)
    ]

    def plain() -> None:
        x @ weight
        x.T @ grad

    def diet() -> None:
        # TrunkProduct's forward and backward, then the assignment-test path
        for rows in blocks:
            block = torch.mm(features[rows], weight_bias, out=trunk[rows])
            x_trunk.addmm_(x[:, rows], block)
        for rows in blocks:
            grad_block = x[:, rows].T @ grad_trunk
            grad_both.addmm_(features[rows].T, grad_block)
        x @ linear
        x.T @ grad_linear

    return plain, diet


def write_simulated_dataset(
    path: Path, *, num_samples: int, num_variants: int, seed: int = 0
) -> None:
    """A dataset directory of Balding-Nichols populations, written row-wise."""
    rng = np.random.default_rng(seed)
    num_groups, per_group = 5, [6, 5, 5, 5, 5]
    path.mkdir(parents=True, exist_ok=True)
    ancestral = rng.uniform(0.05, 0.95, num_variants)

    def drift(base: np.ndarray, fst: float) -> np.ndarray:
        a, b = base * (1 - fst) / fst, (1 - base) * (1 - fst) / fst
        return np.clip(rng.beta(a, b), 0.01, 0.99)

    frequencies, labels, groups = [], [], []
    for g in range(num_groups):
        group_frequency = drift(ancestral, 0.1)
        for _ in range(per_group[g]):
            frequencies.append(drift(group_frequency, 0.01))
            labels.append(f"POP{len(labels):02d}")
            groups.append(f"GROUP{g}")
    num_classes = len(labels)
    sample_class = np.arange(num_samples) % num_classes

    genotypes = np.lib.format.open_memmap(
        path / dataset_format.GENOTYPES,
        mode="w+",
        dtype=np.int8,
        shape=(num_samples, num_variants),
    )
    alt_count = np.zeros(num_variants)
    for start in range(0, num_samples, 64):
        stop = min(start + 64, num_samples)
        p = np.stack([frequencies[c] for c in sample_class[start:stop]])
        rows = rng.binomial(2, p).astype(np.int8)
        genotypes[start:stop] = rows
        alt_count += rows.sum(axis=0)
    genotypes.flush()
    del genotypes

    sample_id = [f"S{i:05d}" for i in range(num_samples)]
    dataset_format.write_samples(
        path / dataset_format.SAMPLES,
        sample_id,
        [labels[c] for c in sample_class],
        [groups[c] for c in sample_class],
    )
    chrom = np.repeat(np.arange(1, 23), -(-num_variants // 22))[:num_variants]
    dataset_format.VariantTable(
        chrom=tuple(str(c) for c in chrom),
        position=np.arange(num_variants, dtype=np.int64) * 100 + 1,
        variant_id=tuple(f"v{i}" for i in range(num_variants)),
        ref=("A",) * num_variants,
        alt=("G",) * num_variants,
        alt_frequency=alt_count / (2 * num_samples),
        missing_rate=np.zeros(num_variants),
    ).write_tsv(path / dataset_format.VARIANTS)
    manifest = {
        "simulated": "benchmarks/train.py",
        "genome_build": "GRCh37",
        "dataset_checksum": dataset_format.dataset_checksum(path),
    }
    dataset_format.write_manifest(path, manifest)


def rss(args: argparse.Namespace) -> None:
    workdir = Path(args.workdir)
    data = workdir / "dataset"
    if not (data / dataset_format.MANIFEST).exists():
        started = time.perf_counter()
        write_simulated_dataset(
            data, num_samples=args.samples, num_variants=args.variants
        )
        print(f"Simulated dataset written in {time.perf_counter() - started:.0f} s.")
    model = workdir / "paper.dietnet"
    command = [
        str(BIN / "dietnet"),
        "train",
        str(data),
        "-o",
        str(model),
        "--force",
        "--no-progress",
        "--epochs",
        str(args.epochs),
        "--threads",
        str(args.threads),
    ]
    run = measure.run(command)
    metrics = (model.with_name(model.name + ".metrics.tsv")).read_text().splitlines()
    header = metrics[0].split("\t")
    seconds = [float(line.split("\t")[header.index("seconds")]) for line in metrics[1:]]
    print(
        f"{args.samples:,} samples x {args.variants:,} variants; {measure.cpu_note()}"
    )
    print(
        json.dumps(
            {
                "command": " ".join(command[1:]),
                "wall_s": round(run.wall_s, 1),
                "peak_tree_rss_mib": round(run.tree_rss_mib),
                "peak_tree_anon_mib": round(run.tree_anon_mib),
                "max_rss_mib": round(run.maxrss_mib),
                "epoch_seconds": [round(s, 1) for s in seconds],
            },
            indent=2,
        )
    )


def main() -> None:
    allocator.keep_freed_memory()  # as the dietnet command does
    measure.warm_memory()
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="mode", required=True)
    one = sub.add_parser("speed")
    one.add_argument("--dataset", type=Path, required=True)
    one.add_argument("--epochs", type=int, default=8)
    one.add_argument("--threads", type=int, default=2)
    one.add_argument("--full-run", action="store_true")
    one.add_argument("--aux-hidden", type=int, default=ModelConfig().aux_hidden)
    one.add_argument("--workdir", default="/work/bench-data/train")
    three = sub.add_parser("steps")
    three.add_argument("--dataset", type=Path, required=True)
    three.add_argument("--threads", type=int, default=2)
    three.add_argument("--repeats", type=int, default=10)
    two = sub.add_parser("rss")
    two.add_argument("--workdir", default="/work/bench-data/paper")
    two.add_argument("--samples", type=int, default=3450)
    two.add_argument("--variants", type=int, default=315345)
    two.add_argument("--epochs", type=int, default=1)
    two.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    {"speed": speed, "steps": steps, "rss": rss}[args.mode](args)


if __name__ == "__main__":
    main()
