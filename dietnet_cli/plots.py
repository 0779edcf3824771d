"""Figures written beside models and reports (matplotlib, PNG)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (the backend is chosen first)
import numpy as np  # noqa: E402


def training_curve(history: list[dict], best_epoch: int, path: Path) -> None:
    """Loss and accuracy per epoch, the kept epoch marked."""
    epochs = [row["epoch"] for row in history]
    figure, (loss_axis, accuracy_axis) = plt.subplots(1, 2, figsize=(10, 4))
    loss_axis.plot(epochs, [row["loss"] for row in history], label="training")
    if any(row.get("val_loss") is not None for row in history):
        loss_axis.plot(
            epochs, [row.get("val_loss") for row in history], label="validation"
        )
    loss_axis.set_xlabel("epoch")
    loss_axis.set_ylabel("loss")
    loss_axis.legend()
    accuracy_axis.plot(
        epochs, [row["train_accuracy"] for row in history], label="training"
    )
    if any(row.get("val_accuracy") is not None for row in history):
        accuracy_axis.plot(
            epochs, [row.get("val_accuracy") for row in history], label="validation"
        )
    accuracy_axis.axvline(best_epoch, color="grey", linestyle=":", label="kept")
    accuracy_axis.set_xlabel("epoch")
    accuracy_axis.set_ylabel("accuracy")
    accuracy_axis.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)


def save_figure(figure: plt.Figure, path: Path) -> None:
    """Save a figure as PNG, cropped to what is drawn, and free it."""
    figure.tight_layout()
    figure.savefig(path, dpi=110, bbox_inches="tight", pad_inches=0.15)
    plt.close(figure)


def confusion_heatmap(
    matrix: np.ndarray, row_labels: list[str], column_labels: list[str], path: Path
) -> None:
    """Row-normalised confusion matrix with counts in the cells."""
    totals = matrix.sum(axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        share = np.where(totals > 0, matrix / totals, 0.0)
    size = max(6.0, 0.32 * len(column_labels) + 2)
    figure, axis = plt.subplots(figsize=(size + 1, size))
    image = axis.imshow(share, cmap="Blues", vmin=0, vmax=1)
    axis.set_xticks(range(len(column_labels)), column_labels, rotation=90, fontsize=8)
    axis.set_yticks(range(len(row_labels)), row_labels, fontsize=8)
    axis.set_xlabel("predicted")
    axis.set_ylabel("true")
    for row in range(matrix.shape[0]):
        for column in range(matrix.shape[1]):
            if matrix[row, column]:
                axis.text(
                    column,
                    row,
                    str(int(matrix[row, column])),
                    ha="center",
                    va="center",
                    fontsize=6,
                    color="white" if share[row, column] > 0.5 else "black",
                )
    figure.colorbar(image, ax=axis, fraction=0.046, label="share of true class")
    save_figure(figure, path)


# -- figures of `dietnet evaluate` -------------------------------------------


def _group_colors(groups: list[str | None]) -> dict[str | None, tuple]:
    """One tab10 colour per group, in sorted order; grey for no group."""
    palette = plt.get_cmap("tab10").colors
    names = sorted({group for group in groups if group is not None})
    colors: dict[str | None, tuple] = {
        name: palette[i % len(palette)] for i, name in enumerate(names)
    }
    colors[None] = (0.6, 0.6, 0.6)
    return colors


def _runs(values: list) -> list[tuple[int, int, object]]:
    """(start, stop, value) of each run of equal consecutive values."""
    runs = []
    start = 0
    for index in range(1, len(values) + 1):
        if index == len(values) or values[index] != values[start]:
            runs.append((start, index, values[start]))
            start = index
    return runs


def grouped_confusion_heatmap(
    matrix: np.ndarray,
    *,
    row_labels: list[str],
    column_labels: list[str],
    row_groups: list[str | None],
    column_groups: list[str | None],
    known_rows: list[bool],
    path: Path,
    title: str | None = None,
) -> None:
    """Row-normalised confusion matrix with counts, group bands and names.

    Rows are true labels, columns predicted classes, both in group order.
    Lines separate the groups and their names stand above the columns and
    beside the rows; rows of labels the model does not know come last, set
    apart by a thick line and marked '(not in model)'.
    """
    num_rows, num_columns = matrix.shape
    totals = matrix.sum(axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        share = np.where(totals > 0, matrix / np.maximum(totals, 1), 0.0)
    cell = 0.3
    width = max(6.0, cell * num_columns + 3.4)
    height = max(5.0, cell * num_rows + 2.4)
    figure, axis = plt.subplots(figsize=(width, height))
    image = axis.imshow(share, cmap="Blues", vmin=0, vmax=1, aspect="auto")

    # Tick labels, coloured by group; unknown labels marked.
    colors = _group_colors(list(row_groups) + list(column_groups))
    shown_rows = [
        label if known else f"{label} (not in model)"
        for label, known in zip(row_labels, known_rows, strict=True)
    ]
    font = 8 if max(num_rows, num_columns) <= 40 else 6
    axis.set_xticks(range(num_columns), column_labels, rotation=90, fontsize=font)
    axis.set_yticks(range(num_rows), shown_rows, fontsize=font)
    for tick, group in zip(axis.get_xticklabels(), column_groups, strict=True):
        tick.set_color(colors[group])
    for tick, group, known in zip(
        axis.get_yticklabels(), row_groups, known_rows, strict=True
    ):
        tick.set_color(colors[group] if known else "#b00020")
    axis.set_xlabel("predicted class")
    axis.set_ylabel("true label")

    # Counts in the cells; white on dark cells.
    count_font = 7 if num_columns <= 30 else 5
    for row in range(num_rows):
        for column in range(num_columns):
            if matrix[row, column]:
                axis.text(
                    column,
                    row,
                    str(int(matrix[row, column])),
                    ha="center",
                    va="center",
                    fontsize=count_font,
                    color="white" if share[row, column] > 0.5 else "#222222",
                )

    # Group separators and names.
    if any(group is not None for group in column_groups):
        for start, stop, group in _runs(list(column_groups)):
            if start:
                axis.axvline(start - 0.5, color="#444444", linewidth=1.0)
            axis.text(
                (start + stop - 1) / 2,
                -0.8,
                str(group or ""),
                ha="center",
                va="bottom",
                fontsize=9,
                fontweight="bold",
                color=colors[group],
            )
        num_known = sum(known_rows)
        for start, stop, group in _runs(list(row_groups[:num_known])):
            if start:
                axis.axhline(start - 0.5, color="#444444", linewidth=1.0)
            axis.text(
                num_columns - 0.3,
                (start + stop - 1) / 2,
                str(group or ""),
                ha="left",
                va="center",
                fontsize=9,
                fontweight="bold",
                color=colors[group],
            )
    num_known = sum(known_rows)
    if num_known < num_rows:
        axis.axhline(num_known - 0.5, color="#b00020", linewidth=2.5)
    axis.set_xlim(-0.5, num_columns - 0.5)
    axis.set_ylim(num_rows - 0.5, -0.5)
    if title:
        axis.set_title(title, pad=24, fontsize=12)
    colorbar = figure.colorbar(image, ax=axis, fraction=0.035, pad=0.08)
    colorbar.set_label("share of the true label's samples")
    save_figure(figure, path)


def reliability_diagram(bins: list[dict], *, ece: float, path: Path) -> None:
    """Accuracy against mean top-class probability per bin, with counts.

    ``bins`` are dicts with ``lower``, ``upper``, ``count``,
    ``mean_probability`` and ``accuracy`` (None in empty bins).
    """
    figure, (axis, count_axis) = plt.subplots(
        2, 1, figsize=(5.5, 5.5), sharex=True, gridspec_kw={"height_ratios": [3, 1]}
    )
    centers = [(b["lower"] + b["upper"]) / 2 for b in bins]
    widths = [b["upper"] - b["lower"] for b in bins]
    filled = [b for b in bins if b["count"]]
    axis.plot([0, 1], [0, 1], linestyle="--", color="grey", label="perfect calibration")
    axis.bar(
        [(b["lower"] + b["upper"]) / 2 for b in filled],
        [b["accuracy"] for b in filled],
        width=[0.9 * (b["upper"] - b["lower"]) for b in filled],
        color="#4c72b0",
        edgecolor="white",
        label="accuracy in bin",
    )
    axis.plot(
        [b["mean_probability"] for b in filled],
        [b["accuracy"] for b in filled],
        marker="o",
        color="#dd8452",
        linewidth=1,
        label="(mean probability, accuracy)",
    )
    axis.set_xlim(0, 1)
    axis.set_ylim(0, 1)
    axis.set_ylabel("accuracy")
    axis.set_title(f"Reliability (ECE {ece:.3f}, {len(bins)} equal-width bins)")
    axis.legend(loc="upper left", fontsize=8)
    count_axis.bar(
        centers,
        [b["count"] for b in bins],
        width=[0.9 * w for w in widths],
        color="#999999",
    )
    count_axis.set_xlabel("top-class probability")
    count_axis.set_ylabel("samples")
    save_figure(figure, path)


def per_class_f1(
    labels: list[str],
    *,
    f1: list[float],
    groups: list[str | None],
    support: list[int],
    path: Path,
    title: str | None = None,
) -> None:
    """Horizontal F1 bars per label, coloured by group, support beside each."""
    colors = _group_colors(list(groups))
    height = max(3.0, 0.26 * len(labels) + 1.2)
    figure, axis = plt.subplots(figsize=(6.5, height))
    positions = np.arange(len(labels))
    axis.barh(positions, f1, color=[colors[g] for g in groups], height=0.75)
    for position, value, count in zip(positions, f1, support, strict=True):
        axis.text(
            min(value, 1.0) + 0.01,
            position,
            f"{value:.2f} (n={count})",
            va="center",
            fontsize=8,
        )
    axis.set_yticks(positions, labels, fontsize=9)
    axis.set_ylim(len(labels) - 0.5, -0.5)
    axis.set_xlim(0, 1.25)
    axis.set_xticks([0, 0.25, 0.5, 0.75, 1.0])
    axis.set_xlabel("F1")
    axis.grid(axis="x", color="#dddddd")
    axis.set_axisbelow(True)
    if title:
        axis.set_title(title)
    named = sorted({g for g in groups if g is not None})
    if named:
        # Below the axis, where no bar or value can hide under it.
        handles = [plt.Rectangle((0, 0), 1, 1, color=colors[g]) for g in named]
        axis.legend(
            handles,
            named,
            loc="upper center",
            bbox_to_anchor=(0.5, -0.6 / max(height - 1.2, 1.0)),
            ncol=min(len(named), 6),
            fontsize=8,
            frameon=False,
        )
    save_figure(figure, path)


def accuracy_by_threshold(
    curve: list[dict], *, min_probability: float | None, path: Path
) -> None:
    """Accuracy and coverage of the samples kept at each probability threshold."""
    figure, axis = plt.subplots(figsize=(5.5, 4))
    thresholds = [point["threshold"] for point in curve]
    accuracy = [
        np.nan if point["accuracy"] is None else point["accuracy"] for point in curve
    ]
    axis.plot(thresholds, accuracy, marker="o", markersize=3, label="accuracy")
    axis.plot(
        thresholds,
        [point["coverage"] for point in curve],
        marker="s",
        markersize=3,
        label="coverage (share kept)",
    )
    if min_probability is not None:
        axis.axvline(
            min_probability,
            color="grey",
            linestyle=":",
            label=f"--min-probability {min_probability:g}",
        )
    axis.set_xlim(0, 1)
    axis.set_ylim(0, 1.02)
    axis.set_xlabel("threshold on the top-class probability")
    axis.set_ylabel("share")
    axis.grid(color="#eeeeee")
    axis.legend(loc="lower left", fontsize=8)
    axis.set_title("Accuracy and coverage against the probability threshold")
    save_figure(figure, path)


def accuracy_by_variants_used(
    bins: list[dict], *, num_model_variants: int, path: Path
) -> None:
    """Accuracy per bin of the number of model variants with a call."""
    figure, axis = plt.subplots(figsize=(5.5, 4))
    names = [f"{b['lower']:,}-{b['upper']:,}" for b in bins]
    positions = np.arange(len(bins))
    axis.bar(positions, [b["accuracy"] for b in bins], color="#55a868")
    for position, b in zip(positions, bins, strict=True):
        axis.text(
            position,
            b["accuracy"] + 0.01,
            f"n={b['count']}",
            ha="center",
            va="bottom",
            fontsize=7,
        )
    axis.set_xticks(positions, names, rotation=30, ha="right", fontsize=8)
    axis.set_ylim(0, 1.1)
    axis.set_ylabel("accuracy")
    axis.set_xlabel(f"model variants with a call (of {num_model_variants:,})")
    axis.set_title("Accuracy against the number of variants used")
    save_figure(figure, path)
