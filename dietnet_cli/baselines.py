"""Simple baselines scored beside a model by ``dietnet evaluate --baselines``.

Three classifiers learn from the same samples as the network (the
training split recorded in the model file, taken from the model's own
dataset), choose their hyperparameters on the model's validation split, and
are applied to the same input, aligned to the model's variants the way
``predict`` aligns it:

``logistic_regression``
    L2-penalised multinomial logistic regression on every variant's
    standardised dosage; C is chosen from ``LOGISTIC_C_GRID``.
``pca_svm``
    Principal components of the standardised dosages (whitened), then an RBF
    support vector machine, as peddy predicts ancestry; the number of
    components and the SVM's C are chosen from ``NUM_COMPONENTS_GRID`` and
    ``SVM_C_GRID``.
``assignment_test``
    The population-genetics assignment test (Rannala & Mountain 1997): naive
    Bayes on each class's ALT-allele frequency (pseudo-count 0.5) under
    Hardy-Weinberg proportions; nothing to choose. It is the strongest of
    the three on the 1000 Genomes data, and the network's starting point.

For the two scikit-learn classifiers, missing calls and model variants
absent from the input enter at the training mean of the variant; the
assignment test, like the network, leaves them out.
INPUT is never used to choose anything.
"""

from __future__ import annotations

import copy
import logging
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import numpy as np
from sklearn.decomposition import PCA
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC

from dietnet_cli import harmonize, modelfile, plink, progress, vcf
from dietnet_cli.dataset import Dataset, open_dataset
from dietnet_cli.errors import DietnetError
from dietnet_cli.predict import _whole_positions
from dietnet_cli.splits import SplitConfig, split_samples

logger = logging.getLogger(__name__)
Candidate = TypeVar("Candidate")

DESCRIPTIONS = {
    "logistic_regression": "L2 logistic regression on all standardised variants",
    "pca_svm": "PCA (whitened), then an RBF SVM, as peddy",
    "assignment_test": "assignment test: naive Bayes on class ALT frequencies",
}
ASSIGNMENT_PSEUDO_COUNT = 0.5
# Candidate inverse penalties, tried from the strongest penalty up, each fit
# starting from the previous one's weights.
LOGISTIC_C_GRID = (1e-4, 1e-3, 1e-2, 1e-1)
LOGISTIC_DEFAULT_C = 1e-2
# A loose tolerance: on the 1000 Genomes example (1,441 x 7,547) lbfgs then
# stops within about 40 iterations with the accuracy of a tight fit.
LOGISTIC_TOLERANCE = 1e-3
LOGISTIC_MAX_ITER = 200
NUM_COMPONENTS_GRID = (4, 8, 16)
SVM_C_GRID = (1.0, 10.0, 100.0)
PCA_SVM_DEFAULT = {"num_components": 4, "C": 1.0}
# Share of the training split held out to choose hyperparameters when the
# model was trained without a validation split.
SELECTION_FRACTION = 0.1


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
            input_path, reader=reader, keep_contig=matcher.keeps_contig, threads=threads
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


@dataclass(frozen=True)
class Selection:
    """Which dataset rows the baselines learn from and which choose for them."""

    train_index: np.ndarray  # (num_train,) int64 rows of the dataset
    val_index: np.ndarray  # (num_val,) int64 rows, empty: use the defaults
    refit: bool  # True: refit on train_index + val_index once chosen
    description: str


@dataclass
class Baseline:
    """A fitted baseline and how its hyperparameters were chosen."""

    name: str
    hyperparameters: dict[str, float]
    validation_accuracy: float | None
    num_validation: int
    classifier: object = field(repr=False)
    num_components: int | None = None  # PCA + SVM: components the SVM sees
    on_genotypes: bool = False  # reads the int8 dosages, not standardised ones

    def predict(
        self, values: np.ndarray, components: np.ndarray, genotypes: np.ndarray
    ) -> list:
        """Labels from standardised dosages, their whitened components, or
        the int8 dosages (-1 = missing), whichever the classifier reads."""
        if self.on_genotypes:
            return list(self.classifier.predict(genotypes))
        if self.num_components is None:
            return list(self.classifier.predict(values))
        return list(self.classifier.predict(components[:, : self.num_components]))


class AssignmentTest:
    """The assignment test of Rannala & Mountain (1997), as a classifier.

    A sample's score for class c is the log-likelihood of its genotypes
    when each variant's two alleles are drawn independently with the class's
    ALT frequency, ``sum_j g_j log p_jc + (2 - g_j) log(1 - p_jc)`` over the
    variants it has a call at, and the predicted class has the highest
    score. ``p_jc = (alt_jc + a) / (alleles_jc + 2a)`` with pseudo-count
    ``a``, so an allele unseen in a class is unlikely, not impossible.
    """

    def __init__(self, pseudo_count: float = ASSIGNMENT_PSEUDO_COUNT) -> None:
        self.pseudo_count = pseudo_count

    def fit(self, genotypes: np.ndarray, label: Sequence[str]) -> AssignmentTest:
        """Class frequencies from (num_samples, num_variants) int8 dosages."""
        self.classes_ = np.array(sorted(set(label)))
        code = np.searchsorted(self.classes_, np.asarray(label))
        num_classes, num_variants = len(self.classes_), genotypes.shape[1]
        # (num_variants, num_classes) ALT alleles and alleles called
        alt_count = np.zeros((num_variants, num_classes))
        allele_count = np.zeros((num_variants, num_classes))
        for c in range(num_classes):
            rows = genotypes[code == c]
            alt_count[:, c] = np.maximum(rows, 0).sum(axis=0, dtype=np.int64)
            allele_count[:, c] = 2 * (rows >= 0).sum(axis=0, dtype=np.int64)
        p = (alt_count + self.pseudo_count) / (allele_count + 2 * self.pseudo_count)
        # Per called genotype g: g log p + (2 - g) log(1 - p)
        #                      = g logit(p) + 2 log(1 - p).
        self.log_p_ = np.log(p)
        log_q = np.log1p(-p)
        self._logit = (self.log_p_ - log_q).astype(np.float32)
        self._twice_log_q = (2 * log_q).astype(np.float32)
        return self

    def predict(self, genotypes: np.ndarray) -> np.ndarray:
        """The most likely class of each row of int8 dosages (-1 = missing)."""
        # (num_samples, num_classes) log-likelihoods over the called variants
        scores = np.maximum(genotypes, 0).astype(np.float32) @ self._logit
        scores += (genotypes >= 0).astype(np.float32) @ self._twice_log_q
        return self.classes_[scores.argmax(axis=1)]

    def score(self, genotypes: np.ndarray, label: Sequence[str]) -> float:
        """Accuracy of the predictions for ``genotypes`` against ``label``."""
        return float(np.mean(self.predict(genotypes) == np.asarray(label)))


@dataclass
class Fitted:
    """Everything the baselines need to predict new samples."""

    mean: np.ndarray  # (num_variants,) float32 training mean dosage
    scaler: StandardScaler
    pca: PCA
    baselines: dict[str, Baseline]

    def predict(self, genotypes: np.ndarray) -> dict[str, list[str]]:
        """Predicted label per sample, per baseline.

        ``genotypes`` is a (num_samples, num_variants) int8 matrix, -1 =
        missing, in the training variants' order and orientation.
        """
        values = self.scaler.transform(impute(genotypes, self.mean))
        components = self.pca.transform(values)
        return {
            name: baseline.predict(values, components, genotypes)
            for name, baseline in self.baselines.items()
        }


def selection_split(
    dataset: Dataset, model: modelfile.ModelFile, *, seed: int = 0
) -> Selection:
    """The model's training and validation rows of its dataset.

    The baselines learn from the rows that trained the network and choose
    their hyperparameters on the rows that validated it. A model trained
    without validation rows lends a share of its training rows to choose,
    and the baselines are then refitted on all of them.
    """
    recorded = model.provenance.get("split")
    if recorded:
        config = SplitConfig(**recorded)
        train_index, val_index = split_samples(dataset.label, config)
        description = f"the model's split of {dataset.path}, {config.describe()}"
    else:
        logger.warning(
            "The model records no training split; baselines train on all %d "
            "samples of %s, so they may have seen samples of the input.",
            dataset.num_samples,
            dataset.path,
        )
        train_index = np.arange(dataset.num_samples)
        val_index = np.zeros(0, dtype=np.int64)
        description = f"all samples of {dataset.path} (the model records no split)"
    if len(val_index):
        return Selection(train_index, val_index, False, description)

    # No validation rows: hold out a share of the training rows to choose.
    train_label = [dataset.label[row] for row in train_index]
    try:
        inner_train, inner_val = split_samples(
            train_label, SplitConfig(val_fraction=SELECTION_FRACTION, seed=seed)
        )
    except DietnetError as error:
        logger.warning(
            "Baselines keep their default hyperparameters: no validation rows "
            "to choose them on (%s)",
            error,
        )
        return Selection(train_index, val_index, False, description)
    return Selection(
        train_index[inner_train],
        train_index[inner_val],
        True,
        f"{description}; {SELECTION_FRACTION:.0%} of it held out to choose, "
        "then refitted on all of it",
    )


def _choose(
    candidates: Sequence[Candidate],
    fit_one: Callable[[Candidate], object],
    score_one: Callable[[object], float],
    *,
    validating: bool,
) -> tuple[Candidate, object, float | None]:
    """Fit each candidate in turn and keep the first with the best validation
    accuracy, or the first candidate when there is nothing to validate on.

    Returns the candidate, a copy of its fitted classifier and its accuracy.
    """
    best = None
    for candidate in candidates:
        fitted = fit_one(candidate)
        accuracy = score_one(fitted) if validating else None
        if best is None or (validating and accuracy > best[2]):
            best = (candidate, copy.deepcopy(fitted), accuracy)
        if not validating:
            break
    return best


def fit(
    genotypes: np.ndarray,
    label: list[str],
    *,
    val_genotypes: np.ndarray | None = None,
    val_label: list[str] | None = None,
    logistic_c: Sequence[float] | None = None,
    pca_svm: Sequence[tuple[int, float]] | None = None,
    seed: int = 0,
) -> Fitted:
    """Fit the baselines, choosing hyperparameters on validation samples.

    Parameters
    ----------
    genotypes
        (num_samples, num_variants) int8 training dosages, -1 = missing.
    label
        The training samples' labels.
    val_genotypes, val_label
        Validation samples to choose the hyperparameters on.
    logistic_c, pca_svm
        Candidate C values, and (number of components, C) pairs. When None,
        the module's grids with validation samples, else the defaults
        (``LOGISTIC_DEFAULT_C``, ``PCA_SVM_DEFAULT``). Without validation
        samples the first candidate is kept.
    seed
        Seed of the randomised PCA and the SVM.
    """
    validating = val_genotypes is not None and len(val_genotypes) > 0
    num_validation = len(val_genotypes) if validating else 0

    # Impute at the training mean, then standardise every variant.
    mean = variant_mean(genotypes)
    scaler = StandardScaler().fit(impute(genotypes, mean))
    # (num_samples, num_variants) float32, zero mean and unit variance
    values = scaler.transform(impute(genotypes, mean)).astype(np.float32)
    val_values = (
        scaler.transform(impute(val_genotypes, mean)).astype(np.float32)
        if validating
        else None
    )
    if logistic_c is None:
        logistic_c = LOGISTIC_C_GRID if validating else (LOGISTIC_DEFAULT_C,)
    if pca_svm is None:
        pca_svm = (
            [(k, c) for k in NUM_COMPONENTS_GRID for c in SVM_C_GRID]
            if validating
            else [(PCA_SVM_DEFAULT["num_components"], PCA_SVM_DEFAULT["C"])]
        )
    # Components beyond the matrix's rank cannot be computed.
    most = min(*values.shape)
    pca_svm = list(dict.fromkeys((min(k, most), c) for k, c in pca_svm))
    fitted: dict[str, Baseline] = {}

    # Logistic regression: C from the strongest penalty up, warm-started.
    started = time.perf_counter()
    logistic = LogisticRegression(
        tol=LOGISTIC_TOLERANCE, max_iter=LOGISTIC_MAX_ITER, warm_start=True
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConvergenceWarning)
        c_value, classifier, accuracy = _choose(
            logistic_c,
            lambda c: logistic.set_params(C=c).fit(values, label),
            lambda model: model.score(val_values, val_label),
            validating=validating,
        )
    _warn_convergence("logistic_regression", caught)
    fitted["logistic_regression"] = Baseline(
        "logistic_regression",
        {"C": c_value},
        accuracy,
        num_validation,
        classifier,
    )
    _log_fit(fitted["logistic_regression"], len(label), started)

    # PCA + SVM: the components once, then every (components, C) pair.
    started = time.perf_counter()
    pca = PCA(
        n_components=max(k for k, _ in pca_svm),
        whiten=True,
        svd_solver="randomized",
        random_state=seed,
    ).fit(values)
    components = pca.transform(values)
    val_components = pca.transform(val_values) if validating else None
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConvergenceWarning)
        (num_components, c_value), classifier, accuracy = _choose(
            pca_svm,
            lambda kc: SVC(C=kc[1], random_state=seed).fit(
                components[:, : kc[0]], label
            ),
            lambda model: model.score(
                val_components[:, : model.n_features_in_], val_label
            ),
            validating=validating,
        )
    _warn_convergence("pca_svm", caught)
    fitted["pca_svm"] = Baseline(
        "pca_svm",
        {"num_components": num_components, "C": c_value},
        accuracy,
        num_validation,
        classifier,
        num_components=num_components,
    )
    _log_fit(fitted["pca_svm"], len(label), started)

    # The assignment test: nothing to choose, scored on validation alone.
    started = time.perf_counter()
    assignment = AssignmentTest().fit(genotypes, label)
    fitted["assignment_test"] = Baseline(
        "assignment_test",
        {"pseudo_count": assignment.pseudo_count},
        assignment.score(val_genotypes, val_label) if validating else None,
        num_validation,
        assignment,
        on_genotypes=True,
    )
    _log_fit(fitted["assignment_test"], len(label), started)
    return Fitted(mean=mean, scaler=scaler, pca=pca, baselines=fitted)


def _warn_convergence(name: str, caught: list[warnings.WarningMessage]) -> None:
    if any(issubclass(w.category, ConvergenceWarning) for w in caught):
        logger.warning(
            "Baseline %s did not converge; its figures may be a little low.", name
        )


def _log_fit(baseline: Baseline, num_samples: int, started: float) -> None:
    chosen = ", ".join(f"{k}={v:g}" for k, v in baseline.hyperparameters.items())
    validation = (
        f"validation accuracy {baseline.validation_accuracy:.4f} on "
        f"{baseline.num_validation} samples"
        if baseline.validation_accuracy is not None
        else "not validated here"
    )
    logger.info(
        "Trained baseline %s on %d samples in %.1f s (%s; %s).",
        baseline.name,
        num_samples,
        time.perf_counter() - started,
        chosen,
        validation,
    )


def open_training_dataset(model: modelfile.ModelFile, path: Path) -> Dataset:
    """The dataset a model was trained on; refuse any other.

    Baselines trained on other samples than the network's would make a
    comparison that means nothing, so a dataset whose checksum differs from
    the one recorded in the model file is an error, not a warning.
    """
    dataset = open_dataset(path)
    if dataset.checksum != model.dataset_checksum:
        raise DietnetError(
            f"Dataset {path} is not the one the model was trained on "
            f"(checksum {dataset.checksum[:12]}..., the model's "
            f"{model.dataset_checksum[:12]}...); give the training dataset to "
            "--train."
        )
    if dataset.num_variants != len(model.variants):
        raise DietnetError(
            f"Dataset {path} has {dataset.num_variants:,} variants but the model "
            f"{len(model.variants):,}; give the training dataset to --train."
        )
    return dataset


@dataclass(frozen=True)
class BaselineRun:
    """The baselines' predictions for an input and how they were made."""

    predicted: dict[str, list[str]]  # per baseline, in the input's sample order
    baselines: dict[str, Baseline]
    selection: str
    num_train: int


def run(
    model: modelfile.ModelFile,
    input_path: str,
    *,
    dataset: Dataset,
    threads: int = 1,
    show_progress: bool = True,
) -> BaselineRun:
    """Train the baselines on the model's training split and predict INPUT.

    ``dataset`` is the model's training dataset, as
    :func:`open_training_dataset` returns it.
    """
    seed = int(model.train_config.get("seed", 0))
    with progress.bar("Training baselines", enabled=show_progress):
        selection = selection_split(dataset, model, seed=seed)
        # (num_rows, num_variants) int8, -1 = missing
        train_genotypes = np.asarray(dataset.genotypes[selection.train_index])
        val_genotypes = np.asarray(dataset.genotypes[selection.val_index])
        train_label = [dataset.label[row] for row in selection.train_index]
        val_label = [dataset.label[row] for row in selection.val_index]
        fitted = fit(
            train_genotypes,
            train_label,
            val_genotypes=val_genotypes,
            val_label=val_label,
            seed=seed,
        )
        num_train = len(train_label)
        if selection.refit:
            chosen = fitted.baselines
            everything = np.concatenate([train_genotypes, val_genotypes])
            num_train = len(everything)
            fitted = _refit(
                everything, train_label + val_label, chosen=chosen, seed=seed
            )

        # Predict the input, aligned to the model's variants.
        _, genotypes = aligned_genotypes(model, input_path, threads=threads)
        return BaselineRun(
            predicted=fitted.predict(genotypes),
            baselines=fitted.baselines,
            selection=selection.description,
            num_train=num_train,
        )


def _refit(
    genotypes: np.ndarray,
    label: list[str],
    *,
    chosen: dict[str, Baseline],
    seed: int,
) -> Fitted:
    """Fit again on more samples with hyperparameters already chosen."""
    pca_svm = chosen["pca_svm"].hyperparameters
    fitted = fit(
        genotypes,
        label,
        logistic_c=(chosen["logistic_regression"].hyperparameters["C"],),
        pca_svm=((int(pca_svm["num_components"]), pca_svm["C"]),),
        seed=seed,
    )
    for name, baseline in fitted.baselines.items():
        baseline.validation_accuracy = chosen[name].validation_accuracy
        baseline.num_validation = chosen[name].num_validation
    return fitted
