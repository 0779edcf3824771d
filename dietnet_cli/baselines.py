"""Simple baselines scored beside a model by ``dietnet evaluate --baselines``.

Two scikit-learn classifiers are trained on the training split of the
model's own dataset and applied to the same input, aligned to the model's
variants the way ``predict`` aligns it:

``logistic_regression``
    L2-penalised multinomial logistic regression on every variant's dosage.
``pca_svm``
    The first four principal components (whitened), then an RBF support
    vector machine, as peddy predicts ancestry.

Missing calls, and model variants absent from the input, enter at the
training mean of the variant, as they do in the network.
"""

from __future__ import annotations

import logging
import time
import warnings
from pathlib import Path

import numpy as np
from sklearn.decomposition import PCA
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.svm import SVC

from dietnet_cli import harmonize, modelfile, plink, progress, vcf
from dietnet_cli.dataset import Dataset, open_dataset
from dietnet_cli.errors import DietnetError
from dietnet_cli.predict import _whole_positions
from dietnet_cli.splits import SplitConfig, split_samples

logger = logging.getLogger(__name__)

DESCRIPTIONS = {
    "logistic_regression": "L2 logistic regression on all variants (C=0.01)",
    "pca_svm": "PCA to 4 components, then an RBF SVM (as peddy)",
}
LOGISTIC_C = 0.01
# A loose tolerance: on the 1000 Genomes example (1,441 x 7,547) lbfgs then
# stops after about 40 iterations with the accuracy of a tight fit.
LOGISTIC_TOLERANCE = 1e-3
LOGISTIC_MAX_ITER = 100
NUM_COMPONENTS = 4


def aligned_genotypes(
    model: modelfile.ModelFile, input_path: str, *, threads: int = 1
) -> tuple[list[str], np.ndarray]:
    """Read an input aligned to a model's variants.

    Input SNPs are matched as ``predict`` matches them (same blocks, same
    rules for swaps, flips and duplicates).

    Returns
    -------
    tuple
        The input's sample IDs and a (num_samples, num_model_variants) int8
        matrix of ALT dosages in the model's orientation, -1 where the call
        is missing or the variant is absent from the input.
    """
    matcher = harmonize.VariantMatcher(
        model.variants.chrom,
        model.variants.position,
        model.variants.ref,
        model.variants.alt,
    )
    if plink.is_plink(input_path):
        fileset = plink.read_fileset(input_path)
        sample_id = list(fileset.sample_id)
        blocks = plink.iter_blocks(
            fileset, keep_contig=matcher.keeps_contig, threads=threads
        )
    else:
        reader = vcf.open_reader(input_path, threads=threads)
        sample_id = list(reader.samples)
        blocks = vcf.iter_blocks(
            input_path, reader=reader, keep_contig=matcher.keeps_contig
        )
    # (num_samples, num_model_variants) int8, -1 = missing or absent
    genotypes = np.full((len(sample_id), matcher.num_variants), -1, dtype=np.int8)
    for block in _whole_positions(blocks):
        match = matcher.match(block)
        if len(match.column) == 0:
            continue
        dosage = block.dosage[:, match.column]
        if match.swap.any():
            swapped = dosage[:, match.swap]
            dosage[:, match.swap] = np.where(swapped >= 0, 2 - swapped, swapped)
        genotypes[:, match.model_index] = dosage
    return sample_id, genotypes


def impute(genotypes: np.ndarray, mean: np.ndarray) -> np.ndarray:
    """(num_samples, num_variants) float32 dosages, missing set to ``mean``."""
    values = genotypes.astype(np.float32)
    missing = genotypes < 0
    values[missing] = np.broadcast_to(mean, genotypes.shape)[missing]
    return values


def variant_mean(genotypes: np.ndarray) -> np.ndarray:
    """(num_variants,) float32 mean dosage over the called genotypes."""
    called = genotypes >= 0
    total = np.where(called, genotypes, 0).sum(axis=0, dtype=np.float64)
    count = called.sum(axis=0)
    return (total / np.maximum(count, 1)).astype(np.float32)


def training_split(dataset: Dataset, model: modelfile.ModelFile) -> np.ndarray:
    """Rows of the dataset that trained the model (its recorded split)."""
    recorded = model.provenance.get("split")
    if not recorded:
        logger.warning(
            "The model records no training split; baselines train on all %d "
            "samples of %s, so they may have seen samples of the input.",
            dataset.num_samples,
            dataset.path,
        )
        return np.arange(dataset.num_samples)
    train_index, _ = split_samples(dataset.label, SplitConfig(**recorded))
    return train_index


def fit(
    genotypes: np.ndarray, label: list[str], *, seed: int = 0
) -> tuple[np.ndarray, dict[str, object]]:
    """Fit the baselines.

    Parameters
    ----------
    genotypes
        (num_samples, num_variants) int8 training dosages, -1 = missing.
    label
        The training samples' labels.

    Returns
    -------
    tuple
        The (num_variants,) training mean used to impute, and the fitted
        classifiers by name.
    """
    mean = variant_mean(genotypes)
    values = impute(genotypes, mean)
    models: dict[str, object] = {
        "logistic_regression": LogisticRegression(
            C=LOGISTIC_C, tol=LOGISTIC_TOLERANCE, max_iter=LOGISTIC_MAX_ITER
        ),
        "pca_svm": make_pipeline(
            PCA(
                n_components=min(NUM_COMPONENTS, *values.shape),
                whiten=True,
                svd_solver="randomized",
                random_state=seed,
            ),
            SVC(kernel="rbf", random_state=seed),
        ),
    }
    for name, classifier in models.items():
        started = time.perf_counter()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", ConvergenceWarning)
            classifier.fit(values - mean, label)
        if any(issubclass(w.category, ConvergenceWarning) for w in caught):
            logger.warning(
                "Baseline %s did not converge; its figures may be a little low.",
                name,
            )
        logger.info(
            "Trained baseline %s on %d samples in %.1f s.",
            name,
            len(label),
            time.perf_counter() - started,
        )
    return mean, models


def run(
    model: modelfile.ModelFile,
    input_path: str,
    *,
    train_dataset: Path,
    threads: int = 1,
    show_progress: bool = True,
) -> dict[str, list[str]]:
    """Train the baselines on the model's training split and predict INPUT.

    Returns the predicted label of every input sample, per baseline, in the
    input's sample order.
    """
    dataset = open_dataset(train_dataset)
    if dataset.checksum != model.dataset_checksum:
        raise DietnetError(
            f"Dataset {train_dataset} is not the one the model was trained on "
            f"(checksum {dataset.checksum[:12]}..., the model's "
            f"{model.dataset_checksum[:12]}...); give the training dataset to "
            "--train."
        )
    if dataset.num_variants != len(model.variants):
        raise DietnetError(
            f"Dataset {train_dataset} has {dataset.num_variants:,} variants but "
            f"the model {len(model.variants):,}; give the training dataset to "
            "--train."
        )

    # Fit on the training split, then predict the aligned input.
    with progress.bar("Training baselines", enabled=show_progress):
        train_index = training_split(dataset, model)
        # (num_train, num_variants) int8, -1 = missing
        train_genotypes = np.asarray(dataset.genotypes[train_index])
        train_label = [dataset.label[row] for row in train_index]
        mean, models = fit(
            train_genotypes, train_label, seed=int(model.train_config.get("seed", 0))
        )
        _, genotypes = aligned_genotypes(model, input_path, threads=threads)
        values = impute(genotypes, mean) - mean
        return {
            name: list(classifier.predict(values))
            for name, classifier in models.items()
        }
