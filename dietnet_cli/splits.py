"""Which samples train a model and which validate it.

The split is class-stratified and seeded, so ``dietnet embed`` and
``dietnet train`` given the same options pick the same training samples, and
the embedding never sees a validation sample.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import numpy as np
from sklearn.model_selection import StratifiedKFold, train_test_split

from dietnet_cli.errors import DietnetError


@dataclass(frozen=True)
class SplitConfig:
    """How to split a dataset's samples into training and validation.

    Either a class-stratified ``val_fraction``, or fold ``fold`` (1-based) of
    ``folds`` stratified folds as the validation set.
    """

    val_fraction: float = 0.1
    folds: int | None = None
    fold: int | None = None
    seed: int = 0

    def describe(self) -> str:
        if self.folds:
            return f"fold {self.fold} of {self.folds} (seed {self.seed})"
        return f"{self.val_fraction:g} validation fraction (seed {self.seed})"


def split_samples(
    labels: list[str] | tuple[str, ...], config: SplitConfig
) -> tuple[np.ndarray, np.ndarray]:
    """Return (train_index, val_index), sorted row indices into ``labels``."""
    labels = np.asarray(labels)
    counts = Counter(labels.tolist())
    if len(counts) < 2:
        raise DietnetError(
            f"The dataset has a single class ('{labels[0]}'); a classifier needs "
            "at least two labels."
        )
    rows = np.arange(len(labels))
    if config.folds:
        if config.fold is None or not 1 <= config.fold <= config.folds:
            raise DietnetError(
                f"--fold must be between 1 and --folds ({config.folds}); got "
                f"{config.fold}."
            )
        small = sorted(label for label, n in counts.items() if n < config.folds)
        if small:
            raise DietnetError(
                f"Class '{small[0]}' has {counts[small[0]]} samples, fewer than "
                f"--folds {config.folds}; use fewer folds or drop that class from "
                "the labels."
            )
        splitter = StratifiedKFold(config.folds, shuffle=True, random_state=config.seed)
        train, val = list(splitter.split(rows, labels))[config.fold - 1]
        return np.sort(train), np.sort(val)
    if config.val_fraction == 0:
        return rows, np.zeros(0, dtype=np.int64)
    small = sorted(label for label, n in counts.items() if n < 2)
    if small:
        raise DietnetError(
            f"Class '{small[0]}' has a single sample, too few to hold one out for "
            "validation; add samples, drop the class, or use --val-fraction 0."
        )
    num_val = max(int(round(config.val_fraction * len(labels))), len(counts))
    if num_val >= len(labels) - len(counts):
        raise DietnetError(
            f"--val-fraction {config.val_fraction:g} leaves too few training "
            f"samples for {len(counts)} classes; use a smaller fraction."
        )
    train, val = train_test_split(
        rows, test_size=num_val, stratify=labels, random_state=config.seed
    )
    return np.sort(train), np.sort(val)
