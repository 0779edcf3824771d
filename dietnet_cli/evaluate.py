"""The ``evaluate`` stage: how well a model's predictions agree with known labels.

An evaluation predicts INPUT exactly as ``dietnet predict`` does, pairs every
predicted sample with its label from LABELS by sample ID, and writes a report
directory:

``metrics.json``
    Headline figures (accuracy, balanced accuracy, macro F1, group accuracy,
    expected calibration error), per-class precision, recall, F1 and
    support, the sample bookkeeping (labelled samples absent from INPUT and
    the reverse, labels the model does not know), checksums and provenance.
``confusion_matrix.tsv``
    True labels as rows, predicted classes as columns, counts in the cells;
    classes ordered by group, then name. A label the model does not know
    gets its own row below the model's classes: all its samples are errors.
``predictions.tsv``
    ``dietnet predict``'s table for every sample of INPUT.
``*.png`` and ``report.html``
    The figures, and one self-contained page that shows them.

Samples whose label the model does not know count as errors in every
figure. Macro F1 averages over the labels present among the true or the
predicted labels, as scikit-learn does.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import math
import sys
import tempfile
import warnings
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from sklearn import metrics as skm

from dietnet_cli import (
    baselines,
    labels,
    modelfile,
    outputs,
    plink,
    plots,
    predict,
    provenance,
    report,
)
from dietnet_cli.errors import DietnetError

logger = logging.getLogger(__name__)

METRICS = "metrics.json"
CONFUSION = "confusion_matrix.tsv"
PREDICTIONS = "predictions.tsv"
REPORT = "report.html"
CALIBRATION_BINS = 10
THRESHOLDS = tuple(round(0.05 * step, 2) for step in range(20))
MAX_VARIANT_BINS = 6
MOST_CONFUSED = 10
# Accuracy against the number of variants used is plotted only when that
# number spreads over more than this share of the model's variants.
VARIANTS_USED_SPREAD = 0.01
FIGURES = {
    "confusion": "confusion_matrix.png",
    "reliability": "reliability.png",
    "per_class_f1": "per_class_f1.png",
    "threshold": "accuracy_by_threshold.png",
    "variants_used": "accuracy_by_variants_used.png",
}


@dataclass(frozen=True)
class Truth:
    """The samples of INPUT that LABELS names, and the bookkeeping of the rest."""

    index: np.ndarray  # (num_evaluated,) int64 rows of the predictions
    label: list[str]  # true label of each evaluated sample
    group: list[str | None]  # true group of each evaluated sample, if known
    labels_not_in_input: list[str]
    input_not_in_labels: list[str]
    num_unlabelled: int


@dataclass(frozen=True)
class Evaluation:
    """What an evaluation measured and where it went."""

    metrics: dict
    out: str


def match_truth(
    sample_id: list[str],
    known: labels.Labels,
    *,
    model_group_of: dict[str, str],
    input_path: str,
) -> Truth:
    """Pair the samples of an input with their labels.

    The true group of a sample is the one the label file gives; without a
    group column, the model's group for that label (None when the model
    does not know the label either).
    """
    label_of = known.as_dict()
    group_of = known.group_of() or model_group_of
    in_input = set(sample_id)
    index = [row for row, sample in enumerate(sample_id) if sample in label_of]
    if not index:
        raise DietnetError(
            f"No sample of {input_path} is listed in label file {known.path} "
            f"(first input sample '{sample_id[0] if sample_id else 'none'}', first "
            f"labelled '{known.sample_id[0] if known.sample_id else 'none'}'); "
            "give the labels of these samples."
        )
    true_label = [label_of[sample_id[row]] for row in index]
    return Truth(
        index=np.array(index, dtype=np.int64),
        label=true_label,
        group=[group_of.get(label) for label in true_label],
        labels_not_in_input=[s for s in known.sample_id if s not in in_input],
        input_not_in_labels=[s for s in sample_id if s not in label_of],
        num_unlabelled=known.num_unlabelled,
    )


def class_order(classes: list[str] | tuple[str, ...], group_of: dict) -> list[str]:
    """Classes sorted by group, then by name (by name alone without groups)."""
    return sorted(classes, key=lambda label: (group_of.get(label, ""), label))


def confusion(
    true_label: list[str],
    predicted: list[str],
    *,
    classes: tuple[str, ...],
    group_of: dict[str, str],
    true_group_of: dict[str, str | None] | None = None,
) -> tuple[list[str], list[str], np.ndarray]:
    """Confusion counts of true labels (rows) against predicted classes.

    Returns
    -------
    tuple
        Row labels (the model's classes, then the labels it does not know),
        column labels (the model's classes) and the (num_rows, num_classes)
        int64 matrix of counts.
    """
    columns = class_order(classes, group_of)
    known = set(classes)
    unknown_group = true_group_of or {}
    unknown = sorted(
        {label for label in true_label if label not in known},
        key=lambda label: (unknown_group.get(label) or "", label),
    )
    rows = columns + unknown
    row_of = {label: i for i, label in enumerate(rows)}
    column_of = {label: j for j, label in enumerate(columns)}
    matrix = np.zeros((len(rows), len(columns)), dtype=np.int64)
    for truth, guess in zip(true_label, predicted, strict=True):
        matrix[row_of[truth], column_of[guess]] += 1
    return rows, columns, matrix


def calibration(
    confidence: np.ndarray, correct: np.ndarray, *, num_bins: int = CALIBRATION_BINS
) -> dict:
    """Reliability bins and the expected calibration error (ECE).

    The top-class probability is cut into ``num_bins`` equal-width bins over
    [0, 1] (the last bin includes 1). ECE is the sum over bins of the bin's
    share of samples times |accuracy - mean top-class probability| in it.
    """
    edges = np.linspace(0.0, 1.0, num_bins + 1)
    which = np.clip(
        np.searchsorted(edges, confidence, side="right") - 1, 0, num_bins - 1
    )
    bins = []
    error = 0.0
    for b in range(num_bins):
        inside = which == b
        count = int(inside.sum())
        mean_confidence = float(confidence[inside].mean()) if count else None
        accuracy = float(correct[inside].mean()) if count else None
        if count:
            error += count / len(confidence) * abs(accuracy - mean_confidence)
        bins.append(
            {
                "lower": float(edges[b]),
                "upper": float(edges[b + 1]),
                "count": count,
                "mean_probability": mean_confidence,
                "accuracy": accuracy,
            }
        )
    return {
        "expected_calibration_error": float(error),
        "binning": (
            f"{num_bins} equal-width bins of the top-class probability over [0, 1]; "
            "ECE = sum over bins of (share of samples) x |accuracy - mean "
            "top-class probability|"
        ),
        "bins": bins,
    }


def threshold_curve(
    confidence: np.ndarray, correct: np.ndarray, thresholds=THRESHOLDS
) -> list[dict]:
    """Coverage and accuracy of the samples at or above each probability."""
    curve = []
    for threshold in thresholds:
        kept = confidence >= threshold
        curve.append(
            {
                "threshold": float(threshold),
                "coverage": float(kept.mean()),
                "num_samples": int(kept.sum()),
                "accuracy": float(correct[kept].mean()) if kept.any() else None,
            }
        )
    return curve


def accuracy_by_variants_used(
    num_used: np.ndarray, correct: np.ndarray, *, max_bins: int = MAX_VARIANT_BINS
) -> list[dict]:
    """Accuracy in bins of the number of model variants a sample had calls at.

    Bins hold about equal numbers of samples (quantile edges); the last one
    includes its upper edge.
    """
    edges = np.unique(np.quantile(num_used, np.linspace(0, 1, max_bins + 1)))
    if len(edges) == 1:
        edges = np.array([edges[0], edges[0]])
    which = np.clip(
        np.searchsorted(edges, num_used, side="right") - 1, 0, len(edges) - 2
    )
    bins = []
    for b in range(len(edges) - 1):
        inside = which == b
        if not inside.any():
            continue
        bins.append(
            {
                "lower": int(edges[b]),
                "upper": int(edges[b + 1]),
                "count": int(inside.sum()),
                "accuracy": float(correct[inside].mean()),
            }
        )
    return bins


def most_confused(
    rows: list[str], columns: list[str], matrix: np.ndarray, *, top: int = MOST_CONFUSED
) -> list[dict]:
    """The largest off-diagonal cells: which true label went to which class."""
    totals = matrix.sum(axis=1)
    cells = [
        (int(matrix[i, j]), rows[i], columns[j], int(totals[i]))
        for i in range(len(rows))
        for j in range(len(columns))
        if matrix[i, j] and rows[i] != columns[j]
    ]
    cells.sort(key=lambda cell: (-cell[0], cell[1], cell[2]))
    return [
        {"true": truth, "predicted": guess, "count": count, "share": count / total}
        for count, truth, guess, total in cells[:top]
    ]


def score(true_label: list[str], predicted: list[str]) -> dict:
    """Accuracy, balanced accuracy and macro F1 of one set of predictions."""
    with warnings.catch_warnings():
        # One label among truths and predictions is a valid, if dull, input.
        warnings.filterwarnings("ignore", message="A single label was found")
        return _score(true_label, predicted)


def _score(true_label: list[str], predicted: list[str]) -> dict:
    return {
        "accuracy": float(skm.accuracy_score(true_label, predicted)),
        "balanced_accuracy": float(skm.balanced_accuracy_score(true_label, predicted)),
        "macro_f1": float(
            skm.f1_score(true_label, predicted, average="macro", zero_division=0)
        ),
    }


def compute_metrics(
    *,
    true_label: list[str],
    true_group: list[str | None],
    predicted: list[str],
    predicted_group: list[str] | None,
    confidence: np.ndarray,
    status: list[str],
    num_variants_used: np.ndarray,
    classes: tuple[str, ...],
    group_of: dict[str, str],
    num_model_variants: int,
) -> dict:
    """Every figure of an evaluation, from per-sample truths and predictions.

    Parameters
    ----------
    true_label, true_group
        Per evaluated sample: its label, and its group when known.
    predicted, predicted_group
        Per evaluated sample: the predicted class, and the group with the
        largest summed probability (None when the model has no groups).
    confidence
        (num_samples,) float64 top-class probability.
    status
        ``predict``'s flag per sample (ok, low_confidence, low_overlap).
    num_variants_used
        (num_samples,) int64 model variants with a call, per sample.
    """
    correct = np.array(
        [t == p for t, p in zip(true_label, predicted, strict=True)], dtype=bool
    )
    confidence = np.asarray(confidence, dtype=np.float64)
    metrics: dict = {"num_samples": len(true_label), **score(true_label, predicted)}

    # Group (super-population) accuracy, over samples whose group is known.
    metrics["group_accuracy"] = None
    metrics["per_group"] = {}
    if predicted_group is not None:
        pairs = [
            (t, p)
            for t, p in zip(true_group, predicted_group, strict=True)
            if t is not None
        ]
        if pairs:
            hits = [t == p for t, p in pairs]
            metrics["group_accuracy"] = float(np.mean(hits))
            for group in sorted({t for t, _ in pairs}):
                mine = [
                    hit for (t, _), hit in zip(pairs, hits, strict=True) if t == group
                ]
                metrics["per_group"][group] = {
                    "accuracy": float(np.mean(mine)),
                    "support": len(mine),
                }
        metrics["num_samples_with_group"] = len(pairs)

    # Per class: the model's classes by group, then labels it does not know.
    known = set(classes)
    true_groups = dict(zip(true_label, true_group, strict=True))
    unknown = sorted(
        {label for label in true_label if label not in known},
        key=lambda label: (true_groups.get(label) or "", label),
    )
    order = class_order(classes, group_of) + unknown
    precision, recall, f1, support = skm.precision_recall_fscore_support(
        true_label, predicted, labels=order, zero_division=np.nan
    )
    metrics["per_class"] = {
        label: {
            "group": group_of.get(label, true_groups.get(label)),
            "in_model": label in known,
            "precision": _number(precision[i]),
            "recall": _number(recall[i]),
            "f1": _number(f1[i]),
            "support": int(support[i]),
            "num_predicted": int(sum(p == label for p in predicted)),
        }
        for i, label in enumerate(order)
    }
    metrics["unknown_labels"] = dict(
        sorted(Counter(t for t in true_label if t not in known).items())
    )

    # Calibration and the effect of the probability threshold.
    metrics["calibration"] = calibration(confidence, correct)
    metrics["expected_calibration_error"] = metrics["calibration"][
        "expected_calibration_error"
    ]
    flagged = np.array([s == predict.STATUS_LOW_CONFIDENCE for s in status])
    rest = ~flagged
    metrics["low_confidence"] = {
        "share": float(flagged.mean()),
        "num_samples": int(flagged.sum()),
        "accuracy_on_rest": float(correct[rest].mean()) if rest.any() else None,
        "num_rest": int(rest.sum()),
    }
    metrics["status_counts"] = dict(sorted(Counter(status).items()))
    metrics["threshold_curve"] = threshold_curve(confidence, correct)

    # Accuracy against the number of variants used, when that varies.
    used = np.asarray(num_variants_used)
    spread = int(used.max() - used.min())
    metrics["variants_used"] = {
        "num_model_variants": num_model_variants,
        "min": int(used.min()),
        "median": float(np.median(used)),
        "max": int(used.max()),
        "varies": spread > VARIANTS_USED_SPREAD * num_model_variants,
        "bins": accuracy_by_variants_used(used, correct),
    }
    return metrics


def _number(value: float) -> float | None:
    """A float for JSON: None for NaN (an undefined ratio)."""
    return None if math.isnan(value) else float(value)


def _input_description(input_path: str) -> dict:
    """Checksums of INPUT: the file, or the three files of a PLINK fileset."""
    if input_path != "-" and plink.is_plink(input_path):
        prefix = (
            input_path[: -len(".bed")] if input_path.endswith(".bed") else input_path
        )
        return {
            "path": input_path,
            "files": [
                provenance.describe_input(prefix + suffix)
                for suffix in (".bed", ".bim", ".fam")
            ],
        }
    return provenance.describe_input(input_path)


def _model_description(model: modelfile.ModelFile, model_path: Path) -> dict:
    return {
        "path": str(model_path),
        "checksum": modelfile.file_checksum(model_path),
        "dietnet_version": model.dietnet_version,
        "dataset_checksum": model.dataset_checksum,
        "build": model.build,
        "temperature": model.temperature,
        "num_classes": len(model.classes),
        "num_variants": len(model.variants),
        "model_config": model.model_config,
        "train_config": model.train_config,
        "training_metrics": model.metrics,
        "provenance": model.provenance,
    }


def evaluate(
    model_path: Path,
    input_path: str,
    *,
    labels_path: Path,
    out: str,
    options: predict.PredictOptions | None = None,
    label_column: str | None = None,
    group_column: str | None = None,
    train_dataset: Path | None = None,
    force: bool = False,
    show_progress: bool = True,
) -> Evaluation:
    """Predict INPUT with a model and compare the predictions with LABELS.

    Parameters
    ----------
    model_path
        A model file written by ``dietnet train``.
    input_path
        VCF/BCF file, ``-`` for VCF on standard input, or a PLINK fileset.
    labels_path
        Label TSV read with the same rules as ``dietnet prepare``.
    out
        The report directory to write, or ``-`` to write the metrics JSON to
        standard output and no directory.
    options
        Alignment and flagging options, as for ``dietnet predict``
        (its defaults when None).
    train_dataset
        The dataset the model was trained on (any other is refused): when
        given, logistic regression, PCA + SVM and assignment-test baselines
        learn from the model's training split of it, choose their
        hyperparameters on its validation split, and are scored beside the
        model.
    """
    options = options or predict.PredictOptions()

    # Refuse bad outputs and inputs before the slow part.
    if out != "-":
        _check_report_directory(Path(out), force=force)
    if train_dataset is not None and input_path == "-":
        raise DietnetError(
            "Baselines read INPUT a second time, so INPUT cannot be standard input "
            "('-'); give a file, or leave out --baselines."
        )
    model = modelfile.load(model_path)
    known = labels.read_labels(
        labels_path, label_column=label_column, group_column=group_column
    )
    dataset = (
        baselines.open_training_dataset(model, Path(train_dataset))
        if train_dataset is not None
        else None
    )
    model_description = _model_description(model, Path(model_path))

    # Predict exactly as `dietnet predict` does, then pair with the labels.
    predictions = predict.predict(
        Path(model_path), input_path, options=options, show_progress=show_progress
    )
    truth = match_truth(
        predictions.sample_id,
        known,
        model_group_of=model.group_of,
        input_path=input_path,
    )
    _log_matching(truth, input_path, labels_path, classes=predictions.classes)
    predicted_all = predictions.predicted()
    predicted = [predicted_all[row] for row in truth.index]
    predicted_group = None
    if predictions.group_of:
        groups, group_probabilities = predictions.group_probabilities()
        predicted_group = [
            groups[group_probabilities[row].argmax()] for row in truth.index
        ]

    metrics = compute_metrics(
        true_label=truth.label,
        true_group=truth.group,
        predicted=predicted,
        predicted_group=predicted_group,
        confidence=predictions.probabilities[truth.index].max(axis=1),
        status=[predictions.status[row] for row in truth.index],
        num_variants_used=predictions.num_variants_used[truth.index],
        classes=predictions.classes,
        group_of=predictions.group_of,
        num_model_variants=predictions.num_model_variants,
    )
    metrics["low_confidence"]["min_probability"] = options.min_probability
    rows, columns, matrix = confusion(
        truth.label,
        predicted,
        classes=predictions.classes,
        group_of=predictions.group_of,
        true_group_of=dict(zip(truth.label, truth.group, strict=True)),
    )
    metrics["most_confused"] = most_confused(rows, columns, matrix)
    metrics["samples"] = {
        "num_input": len(predictions.sample_id),
        "num_labelled": len(known.sample_id),
        "num_evaluated": len(truth.label),
        "num_labels_not_in_input": len(truth.labels_not_in_input),
        "num_input_not_in_labels": len(truth.input_not_in_labels),
        "num_unlabelled": truth.num_unlabelled,
        "num_unknown_label": sum(metrics["unknown_labels"].values()),
        "labels_not_in_input": truth.labels_not_in_input,
        "input_not_in_labels": truth.input_not_in_labels,
    }
    counts = predictions.counts
    metrics["variant_matching"] = {
        "num_model_variants": predictions.num_model_variants,
        "found": counts.found,
        "swapped": counts.swapped,
        "flipped": counts.flipped,
        "allele_mismatch": counts.allele_mismatch,
        "duplicate": counts.duplicate,
    }

    # Baselines trained on the model's own training split, for comparison.
    if dataset is not None:
        done = baselines.run(
            model,
            input_path,
            dataset=dataset,
            threads=options.threads,
            show_progress=show_progress,
        )
        metrics["baselines"] = {
            name: _baseline_metrics(
                baseline,
                [done.predicted[name][row] for row in truth.index],
                truth,
                group_of=model.group_of,
                selection=done.selection,
                num_train=done.num_train,
            )
            for name, baseline in done.baselines.items()
        }

    metrics["model"] = model_description
    metrics["input"] = _input_description(input_path)
    metrics["labels"] = {
        **provenance.describe_input(labels_path),
        "label_column": known.label_column,
        "group_column": known.group_column,
    }
    metrics["options"] = {
        "min_overlap": options.min_overlap,
        "low_overlap": options.low_overlap,
        "min_probability": options.min_probability,
        "ignore_build": options.ignore_build,
    }
    metrics["provenance"] = provenance.record(
        train_dataset=str(train_dataset) if train_dataset else None
    )
    logger.info(
        "Accuracy %.4f, balanced accuracy %.4f, macro F1 %.4f on %d samples.",
        metrics["accuracy"],
        metrics["balanced_accuracy"],
        metrics["macro_f1"],
        metrics["num_samples"],
    )

    if out == "-":
        sys.stdout.write(json.dumps(metrics, indent=2) + "\n")
        sys.stdout.flush()
        return Evaluation(metrics=metrics, out=out)

    # The report directory, built aside and renamed when complete.
    try:
        with outputs.atomic_directory(
            Path(out), force=force, what="report directory"
        ) as directory:
            (directory / METRICS).write_text(json.dumps(metrics, indent=2) + "\n")
            _write_confusion(directory / CONFUSION, rows, columns, matrix)
            predict.write_predictions(
                predictions, str(directory / PREDICTIONS), force=True
            )
            figures = _draw_figures(directory, metrics, rows, columns, matrix, model)
            (directory / REPORT).write_text(
                report.render(
                    metrics, figures={k: directory / v for k, v in figures.items()}
                )
            )
    except OSError as error:
        raise DietnetError(
            f"Cannot write report directory {out}: {error.strerror or error}; "
            "free some space or choose another path."
        ) from error
    return Evaluation(metrics=metrics, out=out)


def _check_report_directory(out: Path, *, force: bool) -> None:
    """Refuse a report directory that could not be written, before any work.

    Beyond the permission checks, a scratch directory is made and removed
    beside ``out``: some places (``/proc``, read-only mounts, or any place
    for root) pass ``os.access`` but refuse to hold a directory.
    """
    outputs.check_writable(out, force=force, what="report directory", directory=True)
    try:
        Path(tempfile.mkdtemp(prefix=f".{out.name}.probe-", dir=out.parent)).rmdir()
    except OSError as error:
        raise DietnetError(
            f"Cannot write report directory {out}: {error.strerror or error} in "
            f"{out.parent.resolve()}; choose another output path."
        ) from error


def _baseline_metrics(
    baseline: baselines.Baseline,
    predicted: list[str],
    truth: Truth,
    *,
    group_of: dict[str, str],
    selection: str,
    num_train: int,
) -> dict:
    """A baseline's figures on the evaluated samples, and how it was fitted."""
    figures = {
        "description": baselines.DESCRIPTIONS[baseline.name],
        **score(truth.label, predicted),
    }
    pairs = [
        (t, group_of.get(p))
        for t, p in zip(truth.group, predicted, strict=True)
        if t is not None
    ]
    figures["group_accuracy"] = (
        float(np.mean([t == p for t, p in pairs])) if pairs and group_of else None
    )
    figures["hyperparameters"] = baseline.hyperparameters
    figures["validation_accuracy"] = baseline.validation_accuracy
    figures["num_validation"] = baseline.num_validation
    figures["num_train"] = num_train
    figures["trained_on"] = selection
    return figures


def _log_matching(
    truth: Truth, input_path: str, labels_path: Path, *, classes: tuple[str, ...]
) -> None:
    logger.info(
        "Evaluating %d samples of %s labelled in %s.",
        len(truth.label),
        input_path,
        labels_path,
    )
    if truth.input_not_in_labels:
        logger.warning(
            "%d samples of %s have no label in %s and are not scored (first: %s).",
            len(truth.input_not_in_labels),
            input_path,
            labels_path,
            truth.input_not_in_labels[0],
        )
    if truth.labels_not_in_input:
        logger.info(
            "%d labelled samples are not in %s.",
            len(truth.labels_not_in_input),
            input_path,
        )
    unknown = Counter(label for label in truth.label if label not in classes)
    if unknown:
        logger.warning(
            "%d samples carry labels the model does not know (%s); they count as "
            "errors. Train a model with these labels to score them.",
            sum(unknown.values()),
            ", ".join(f"{label} x{n}" for label, n in sorted(unknown.items())),
        )


def _write_confusion(
    path: Path, rows: list[str], columns: list[str], matrix: np.ndarray
) -> None:
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter="\t", lineterminator="\n")
    writer.writerow(["true\\predicted", *columns])
    for label, counts in zip(rows, matrix.tolist(), strict=True):
        writer.writerow([label, *counts])
    path.write_text(buffer.getvalue())


def read_confusion(path: Path) -> tuple[list[str], list[str], np.ndarray]:
    """Rows, columns and counts of a ``confusion_matrix.tsv``."""
    with open(path, newline="") as handle:
        table = list(csv.reader(handle, delimiter="\t"))
    columns = table[0][1:]
    rows = [line[0] for line in table[1:]]
    matrix = np.array(
        [[int(v) for v in line[1:]] for line in table[1:]], dtype=np.int64
    )
    return rows, columns, matrix.reshape(len(rows), len(columns))


def _draw_figures(
    directory: Path,
    metrics: dict,
    rows: list[str],
    columns: list[str],
    matrix: np.ndarray,
    model: modelfile.ModelFile,
) -> dict[str, str]:
    """Draw the report's figures; returns figure name -> file name."""
    per_class = metrics["per_class"]
    drawn = {}
    plots.grouped_confusion_heatmap(
        matrix,
        row_labels=rows,
        column_labels=columns,
        row_groups=[per_class[label]["group"] for label in rows],
        column_groups=[model.group_of.get(label) for label in columns],
        known_rows=[per_class[label]["in_model"] for label in rows],
        path=directory / FIGURES["confusion"],
        title=(
            f"Confusion matrix: {metrics['num_samples']:,} samples, accuracy "
            f"{metrics['accuracy']:.1%}"
        ),
    )
    drawn["confusion"] = FIGURES["confusion"]
    plots.reliability_diagram(
        metrics["calibration"]["bins"],
        ece=metrics["expected_calibration_error"],
        path=directory / FIGURES["reliability"],
    )
    drawn["reliability"] = FIGURES["reliability"]
    scored = [label for label, row in per_class.items() if row["support"] > 0]
    plots.per_class_f1(
        scored,
        f1=[per_class[label]["f1"] or 0.0 for label in scored],
        groups=[per_class[label]["group"] for label in scored],
        support=[per_class[label]["support"] for label in scored],
        path=directory / FIGURES["per_class_f1"],
        title=f"F1 per label (macro F1 {metrics['macro_f1']:.3f})",
    )
    drawn["per_class_f1"] = FIGURES["per_class_f1"]
    plots.accuracy_by_threshold(
        metrics["threshold_curve"],
        min_probability=metrics["low_confidence"].get("min_probability"),
        path=directory / FIGURES["threshold"],
    )
    drawn["threshold"] = FIGURES["threshold"]
    if metrics["variants_used"]["varies"]:
        plots.accuracy_by_variants_used(
            metrics["variants_used"]["bins"],
            num_model_variants=metrics["variants_used"]["num_model_variants"],
            path=directory / FIGURES["variants_used"],
        )
        drawn["variants_used"] = FIGURES["variants_used"]
    return drawn
