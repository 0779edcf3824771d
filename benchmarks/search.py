"""Choose ``dietnet train``'s defaults by validation on training data only.

Issue 3. Each configuration below changes one setting of the defaults (the
options a published re-implementation searched over, and the choices this
Diet Network adds: the assignment-test path, leave-batch-out, the
embedding). Each is trained on the training part of the first ``--folds``
folds of the same seeded stratified 5-fold split that ``accuracy.py`` uses,
and scored on a validation split drawn from that training part: the test
folds are never looked at. Prints a markdown table of validation accuracy
per fold and its mean.

Usage::

    python benchmarks/search.py [--folds 3] [--repeats 1] [--configs default,...]
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import sys
import time

import numpy as np
import torch
from accuracy import add_data_arguments, inner_split, read_vcf, subset
from sklearn.model_selection import StratifiedKFold

from dietnet_cli import allocator
from dietnet_cli.fit import TrainConfig, fit
from dietnet_cli.model import ModelConfig

logger = logging.getLogger(__name__)

# name -> (what it is, changes to ModelConfig, changes to TrainConfig)
CONFIGS = {
    "default": ("the defaults", {}, {}),
    "lr-1e-3": ("learning rate 1e-3", {}, {"learning_rate": 1e-3}),
    "rmsprop": ("RMSprop", {}, {"optimizer": "rmsprop"}),
    "batch-128": ("batch size 128", {}, {"batch_size": 128}),
    "batch-256": ("batch size 256", {}, {"batch_size": 256}),
    "batch-256-lr": (
        "batch size 256, learning rate 3e-4",
        {},
        {"batch_size": 256, "learning_rate": 3e-4},
    ),
    "aux-50": ("auxiliary hidden layer of 50", {"aux_hidden": 50}, {}),
    "aux-32": ("auxiliary hidden layer of 32", {"aux_hidden": 32}, {}),
    "aux-16": ("auxiliary hidden layer of 16", {"aux_hidden": 16}, {}),
    "no-leave-out": ("no leave-batch-out", {}, {"leave_batch_out": False}),
    "decoder": ("decoder on (gamma 1)", {"gamma": 1.0}, {}),
    "dropout": ("dropout 0.5", {"dropout": 0.5}, {}),
    "tanh": (
        "tanh, uniform initialisation",
        {"activation": "tanh", "init": "uniform"},
        {},
    ),
    "no-path": (
        "no assignment-test path (learning rate 1e-3)",
        {"linear_path": False},
        {"learning_rate": 1e-3},
    ),
    "paper": (
        "the paper's: histogram embedding, standardised input, no path "
        "(learning rate 1e-3)",
        {"embedding": "histogram", "input_scaling": "standardize"},
        {"learning_rate": 1e-3},
    ),
}


def main() -> None:
    allocator.keep_freed_memory()  # as the dietnet command does
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_data_arguments(parser)
    parser.add_argument("--folds", type=int, default=3)
    parser.add_argument(
        "--repeats",
        type=int,
        default=1,
        help="outer splits, with seeds --seed, --seed + 1, ...",
    )
    parser.add_argument("--configs", default=",".join(CONFIGS))
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(message)s")
    torch.set_num_threads(args.threads)
    names = subset(args.configs, CONFIGS, "configurations")

    genotypes, labels, classes, class_group = read_vcf(args.vcf, args.panel)
    folds = []  # (seed, fold number, training rows of the outer split)
    for seed in range(args.seed, args.seed + args.repeats):
        splitter = StratifiedKFold(5, shuffle=True, random_state=seed)
        outer = list(splitter.split(np.zeros(len(labels)), labels))[: args.folds]
        folds += [(seed, k, train) for k, (train, _) in enumerate(outer)]

    scores = {name: [] for name in names}
    seconds = {name: 0.0 for name in names}
    for seed, k, train in folds:
        # a seed per fold: seed + k as in the one-split tables, and with
        # several splits 100 seed + k, which no two folds share
        fold_seed = seed + k if args.repeats == 1 else 100 * seed + k
        fit_rows, val_rows = inner_split(labels, train, fold_seed)
        for name in names:
            _, model_changes, train_changes = CONFIGS[name]
            started = time.perf_counter()
            result = fit(
                genotypes,
                labels,
                fit_rows,
                val_rows,
                dataclasses.replace(ModelConfig(), **model_changes),
                dataclasses.replace(TrainConfig(seed=fold_seed), **train_changes),
                num_classes=len(classes),
                class_group=class_group,
            )
            seconds[name] += time.perf_counter() - started
            scores[name].append(result.best_val_accuracy)
            logger.info(
                "seed %d fold %d %s: validation %.4f (epoch %d)",
                seed,
                k,
                name,
                result.best_val_accuracy,
                result.best_epoch,
            )

    header = " | ".join(
        f"fold {k}" if args.repeats == 1 else f"{seed}/{k}" for seed, k, _ in folds
    )
    print(
        f"| configuration | mean validation accuracy | difference from the "
        f"best (standard error) | {header} | seconds |"
    )
    print("| --- " * (len(folds) + 4) + "|")
    for name in names:
        cells = " | ".join(f"{v:.4f}" for v in scores[name])
        print(
            f"| {CONFIGS[name][0]} | {np.mean(scores[name]):.4f} | "
            f"{difference(scores, name)} | {cells} | {seconds[name]:.0f} |"
        )


def difference(scores: dict[str, list[float]], name: str) -> str:
    """Mean paired difference of validation accuracy from the best
    configuration's over the same folds, in points, with its standard
    error. The folds of one split share training samples, so this standard
    error is somewhat too small."""
    best = max(scores, key=lambda other: np.mean(scores[other]))
    if name == best or len(scores[name]) < 2:
        return "-"
    diffs = 100 * (np.array(scores[name]) - np.array(scores[best]))
    error = diffs.std(ddof=1) / np.sqrt(len(diffs))
    return f"{diffs.mean():+.2f} ({error:.2f})"


if __name__ == "__main__":
    main()
