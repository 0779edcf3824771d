"""Compare ancestry classifiers side by side on one stratified k-fold split.

Runs PCA(4)+SVM (as peddy does), PCA(100)+logistic regression, a plain MLP,
L2 logistic regression on all variants, the population-genetics assignment
test (Rannala & Mountain 1997; also with its frequencies shrunk towards the
super-population's, as the Diet Network's linear path starts) and the Diet
Network with its default configuration, on the same seeded folds, and prints
a markdown table of the test accuracy per fold with mean and standard
deviation.

Hyperparameters are chosen, where at all, on a validation split drawn from
the training folds; the test fold is used only for the reported accuracy.

Usage::

    python benchmarks/accuracy.py [--vcf PATH] [--panel PATH] [--folds 5]
        [--methods assignment,dietnet,...] [--seed 0]
"""

from __future__ import annotations

import argparse
import csv
import logging
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from cyvcf2 import VCF
from sklearn.decomposition import PCA
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold, train_test_split
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC

from dietnet_cli import allocator
from dietnet_cli.baselines import AssignmentTest
from dietnet_cli.counts import alt_frequency
from dietnet_cli.fit import TrainConfig, fit, predict_logits, training_class_counts
from dietnet_cli.model import ModelConfig

logger = logging.getLogger(__name__)

DATA = Path("/work/shared/data/1kg")
METHODS = (
    "pca_svm",
    "pca_lr",
    "mlp",
    "logreg",
    "assignment",
    "assignment_shrunk",
    "dietnet",
)
LABELS = {
    "pca_svm": "PCA(4) + SVM (peddy)",
    "pca_lr": "PCA(100) + logistic regression",
    "mlp": "MLP (sklearn, 100 hidden)",
    "logreg": "L2 logistic regression, all variants",
    "assignment": "assignment test (pseudo-count 0.5)",
    "assignment_shrunk": "assignment test, shrunk to super-population (s = 20)",
    "dietnet": "Diet Network (defaults)",
}


def label(method: str, aux_hidden: int) -> str:
    if method == "dietnet" and aux_hidden != ModelConfig().aux_hidden:
        return f"Diet Network (auxiliary hidden layer {aux_hidden})"
    return LABELS[method]


def read_vcf(
    vcf_path: Path, panel_path: Path
) -> tuple[np.ndarray, np.ndarray, list[str], np.ndarray]:
    """Read genotypes, population labels and super-populations.

    Returns (num_samples, num_variants) int8 ALT dosage with -1 = missing,
    (num_samples,) int64 population codes, the population names and
    (num_populations,) int64 super-population codes.
    """
    vcf = VCF(str(vcf_path), gts012=True)
    samples = list(vcf.samples)
    # cyvcf2 with gts012: 0 hom-ref, 1 het, 2 hom-alt, 3 missing
    columns = []
    for variant in vcf:
        dosage = variant.gt_types.astype(np.int8)
        dosage[dosage == 3] = -1
        columns.append(dosage)
    vcf.close()
    genotypes = np.ascontiguousarray(np.stack(columns, axis=1))
    with open(panel_path, newline="") as handle:
        rows = list(csv.DictReader(handle, delimiter="\t"))
    population = {r["sample"]: r["pop"] for r in rows}
    super_population = {r["pop"]: r["super_pop"] for r in rows}
    missing = [s for s in samples if s not in population]
    if missing:
        sys.exit(
            f"Error: {len(missing)} samples of {vcf_path} lack a row in {panel_path}."
        )
    names = sorted({population[s] for s in samples})
    labels = np.array([names.index(population[s]) for s in samples], dtype=np.int64)
    groups = sorted({super_population[n] for n in names})
    class_group = np.array([groups.index(super_population[n]) for n in names])
    return genotypes, labels, names, class_group


def dosage(genotypes: np.ndarray, mean: np.ndarray) -> np.ndarray:
    """Float32 dosage with missing calls replaced by the training mean."""
    x = genotypes.astype(np.float32)
    missing = genotypes < 0
    if missing.any():
        x[missing] = np.broadcast_to(mean, x.shape)[missing]
    return x


def training_mean(genotypes: np.ndarray) -> np.ndarray:
    g = genotypes.astype(np.float32)
    g[genotypes < 0] = np.nan
    return np.nan_to_num(np.nanmean(g, axis=0))


def inner_split(labels: np.ndarray, train: np.ndarray, seed: int) -> tuple:
    """Stratified 90/10 split of training rows into fit and validation rows."""
    return train_test_split(
        train, test_size=0.1, stratify=labels[train], random_state=seed
    )


def pick(make: Callable, grid: list, x: np.ndarray, y: np.ndarray, fit_rows, val_rows):
    """Fit ``make(value)`` for each grid value on fit rows, pick by validation."""
    scores = []
    for value in grid:
        model = make(value).fit(x[fit_rows], y[fit_rows])
        scores.append(model.score(x[val_rows], y[val_rows]))
    best = grid[int(np.argmax(scores))]
    logger.info("  chose %s (validation %s)", best, np.round(scores, 3).tolist())
    return best


def sklearn_model(method: str, value: float, seed: int):
    """The scikit-learn pipeline of ``method`` with hyperparameter ``value``."""
    if method == "pca_svm":
        return make_pipeline(StandardScaler(), PCA(4, random_state=seed), SVC(C=value))
    if method == "pca_lr":
        return make_pipeline(
            StandardScaler(),
            PCA(100, random_state=seed),
            LogisticRegression(C=value, max_iter=2000),
        )
    if method == "mlp":
        return make_pipeline(
            StandardScaler(),
            MLPClassifier(
                (100,),
                alpha=value,
                early_stopping=True,
                random_state=seed,
                max_iter=200,
            ),
        )
    return make_pipeline(StandardScaler(), LogisticRegression(C=value, max_iter=300))


GRIDS = {
    "pca_svm": [1.0, 10.0, 100.0],
    "pca_lr": [0.01, 0.1, 1.0],
    "mlp": [1.0, 10.0],
    "logreg": [1e-4, 1e-3, 1e-2],
}


def run_sklearn(method: str, genotypes, labels, train, test, seed: int) -> float:
    mean = training_mean(genotypes[train])
    x = dosage(genotypes, mean)
    fit_rows, val_rows = inner_split(labels, train, seed)

    def make(value: float):
        return sklearn_model(method, value, seed)

    best = pick(make, GRIDS[method], x, labels, fit_rows, val_rows)
    model = make(best).fit(x[train], labels[train])
    return float(model.score(x[test], labels[test]))


def run_assignment(genotypes, labels, train, test) -> float:
    """The assignment test as ``dietnet evaluate --baselines`` scores it."""
    fitted = AssignmentTest().fit(genotypes[train], labels[train])
    return fitted.score(genotypes[test], labels[test])


def run_assignment_shrunk(
    genotypes, labels, train, test, num_classes, class_group, shrinkage
) -> float:
    """The assignment test with frequencies pulled towards their
    super-population's, as the Diet Network's linear path starts (see
    ``dietnet_cli.counts.alt_frequency``; pseudo-count 0.5)."""
    counts = training_class_counts(genotypes, labels, train, num_classes)
    p = (
        alt_frequency(
            torch.from_numpy(counts),
            torch.from_numpy(class_group),
            pseudo_count=0.5,
            shrinkage=shrinkage,
        )
        .double()
        .numpy()
    )  # (num_variants, num_classes)
    g = genotypes[test].astype(np.float64)  # (num_test, num_variants)
    present = g >= 0
    # log P(g | c) = g log p + (2 - g) log(1 - p), missing calls skipped
    score = np.where(present, g, 0) @ np.log(p)
    score += np.where(present, 2 - g, 0) @ np.log1p(-p)
    return float((score.argmax(1) == labels[test]).mean())


def run_dietnet(
    genotypes,
    labels,
    train,
    test,
    num_classes,
    class_group,
    seed: int,
    model_config: ModelConfig,
) -> float:
    fit_rows, val_rows = inner_split(labels, train, seed)
    result = fit(
        genotypes,
        labels,
        fit_rows,
        val_rows,
        model_config,
        TrainConfig(seed=seed),
        num_classes=num_classes,
        class_group=class_group,
    )
    logger.info("  kept epoch %d of %d", result.best_epoch, len(result.history) - 1)
    counts = torch.from_numpy(result.class_counts)
    logits = predict_logits(result.model, genotypes, np.sort(test), counts)
    return float((logits.argmax(1).numpy() == labels[np.sort(test)]).mean())


def add_data_arguments(parser: argparse.ArgumentParser) -> None:
    """The options every accuracy benchmark takes: data, seed, threads."""
    parser.add_argument("--vcf", type=Path, default=DATA / "1kg-train.vcf.gz")
    parser.add_argument("--panel", type=Path, default=DATA / "1kg-train.panel.tsv")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1)


def subset(text: str, allowed, what: str) -> list[str]:
    """The comma-separated names of ``text``; exit with an error line when
    one is not in ``allowed``."""
    names = [name for name in text.split(",") if name]
    unknown = sorted(set(names) - set(allowed))
    if unknown:
        sys.exit(f"Error: unknown {what} {unknown}; use some of {list(allowed)}.")
    return names


def main() -> None:
    allocator.keep_freed_memory()  # as the dietnet command does
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_data_arguments(parser)
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument(
        "--aux-hidden",
        type=int,
        default=ModelConfig().aux_hidden,
        help="width of the Diet Network's auxiliary hidden layer",
    )
    parser.add_argument(
        "--methods",
        default=",".join(METHODS),
        help=f"comma-separated subset of {','.join(METHODS)}",
    )
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(message)s")
    torch.set_num_threads(args.threads)
    methods = subset(args.methods, METHODS, "methods")

    genotypes, labels, names, class_group = read_vcf(args.vcf, args.panel)
    num_classes = len(names)
    logger.info(
        "%d samples x %d variants, %d populations", *genotypes.shape, num_classes
    )
    splitter = StratifiedKFold(args.folds, shuffle=True, random_state=args.seed)
    folds = list(splitter.split(np.zeros(len(labels)), labels))

    accuracy = {m: [] for m in methods}
    seconds = {m: 0.0 for m in methods}
    for k, (train, test) in enumerate(folds):
        for method in methods:
            started = time.perf_counter()
            if method == "assignment":
                acc = run_assignment(genotypes, labels, train, test)
            elif method == "assignment_shrunk":
                acc = run_assignment_shrunk(
                    genotypes, labels, train, test, num_classes, class_group, 20.0
                )
            elif method == "dietnet":
                acc = run_dietnet(
                    genotypes,
                    labels,
                    train,
                    test,
                    num_classes,
                    class_group,
                    args.seed + k,
                    ModelConfig(aux_hidden=args.aux_hidden),
                )
            else:
                acc = run_sklearn(method, genotypes, labels, train, test, args.seed + k)
            seconds[method] += time.perf_counter() - started
            accuracy[method].append(acc)
            logger.info(
                "fold %d %s: %.4f (%.0f s)",
                k,
                method,
                acc,
                time.perf_counter() - started,
            )

    header = " | ".join(f"fold {k}" for k in range(args.folds))
    print(f"| method | mean | sd | {header} | seconds |")
    print("| --- " * (args.folds + 4) + "|")
    for method in methods:
        values = np.array(accuracy[method])
        sd = values.std(ddof=1) if len(values) > 1 else 0.0
        cells = " | ".join(f"{v:.4f}" for v in values)
        print(
            f"| {label(method, args.aux_hidden)} | {values.mean():.4f} | {sd:.4f} "
            f"| {cells} "
            f"| {seconds[method]:.0f} |"
        )


if __name__ == "__main__":
    main()
