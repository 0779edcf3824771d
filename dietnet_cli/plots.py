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
    figure.tight_layout()
    figure.savefig(path, dpi=110)
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
