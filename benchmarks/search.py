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

    python benchmarks/search.py [--folds 3] [--configs default,lr-1e-3,...]
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
    parser.add_argument("--configs", default=",".join(CONFIGS))
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(message)s")
    torch.set_num_threads(args.threads)
    names = subset(args.configs, CONFIGS, "configurations")

    genotypes, labels, classes, class_group = read_vcf(args.vcf, args.panel)
    splitter = StratifiedKFold(5, shuffle=True, random_state=args.seed)
    folds = list(splitter.split(np.zeros(len(labels)), labels))[: args.folds]

    scores = {name: [] for name in names}
    seconds = {name: 0.0 for name in names}
    for k, (train, _) in enumerate(folds):
        fit_rows, val_rows = inner_split(labels, train, args.seed + k)
        for name in names:
            _, model_changes, train_changes = CONFIGS[name]
            started = time.perf_counter()
            result = fit(
                genotypes,
                labels,
                fit_rows,
                val_rows,
                dataclasses.replace(ModelConfig(), **model_changes),
                dataclasses.replace(TrainConfig(seed=args.seed + k), **train_changes),
                num_classes=len(classes),
                class_group=class_group,
            )
            seconds[name] += time.perf_counter() - started
            scores[name].append(result.best_val_accuracy)
            logger.info(
                "fold %d %s: validation %.4f (epoch %d)",
                k,
                name,
                result.best_val_accuracy,
                result.best_epoch,
            )

    header = " | ".join(f"fold {k}" for k in range(len(folds)))
    print(f"| configuration | mean validation accuracy | {header} | seconds |")
    print("| --- " * (len(folds) + 3) + "|")
    for name in names:
        cells = " | ".join(f"{v:.4f}" for v in scores[name])
        print(
            f"| {CONFIGS[name][0]} | {np.mean(scores[name]):.4f} | {cells} "
            f"| {seconds[name]:.0f} |"
        )


if __name__ == "__main__":
    main()
