"""Training loop for Diet Networks: no file formats, no CLI.

The genotype matrix may be a memory map: only the rows of one batch are read
at a time and converted to float on the device. The embedding (per-class
genotype counts) comes from the training rows only; with leave-batch-out the
counts of the current batch's own samples are subtracted, so a sample never
sees its own genotype in the embedding that weighs it (as at prediction).

A Diet Network with the assignment-test path starts from a fitted head
(:func:`calibrate_linear_head`, recorded as epoch 0): the map from the
assignment test's class scores to logits is a small convex problem, solved
exactly on leave-batch-out scores before gradient training fine-tunes the
whole network at a small step size (on the 1000 Genomes data a ten times
larger one was no better on validation; benchmarks/RESULTS.md).

Randomness is reseeded at the start of every epoch from ``(seed, epoch)``,
so a run resumed from the state after epoch k ends with exactly the weights
of an uninterrupted run.
"""

from __future__ import annotations

import copy
import dataclasses
import logging
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from dietnet_cli.counts import (
    AlleleCounts,
    count_genotypes,
    input_stats_from_counts,
    leave_out,
)
from dietnet_cli.model import DietNetwork, FirstLayer, ModelConfig

logger = logging.getLogger(__name__)

OPTIMIZERS = ("adam", "rmsprop")
# Ridge penalties tried for the assignment-test head, in units of the
# class scores the linear path sees (log-likelihoods / sqrt(num_variants)).
HEAD_PENALTIES = (1e-3, 1e-2, 1e-1)
# Default step sizes: fine-tuning a fitted head, and training from scratch.
FINE_TUNE_RATE = 1e-4
FREE_RATE = 1e-3


@dataclass(frozen=True)
class TrainConfig:
    """How to train.

    Attributes
    ----------
    optimizer
        ``"adam"`` or ``"rmsprop"``.
    learning_rate
        Step size; None takes :data:`FINE_TUNE_RATE` for a network that
        starts from a fitted assignment-test head and :data:`FREE_RATE` for
        one trained from scratch (the MLP, or a Diet Network without the
        assignment-test path).
    weight_decay
        L2 penalty (coupled, as in torch's optimizers).
    clip_norm
        Clip the gradient norm to this value; 0 turns clipping off.
    batch_size
        Samples per batch (batches are made near-equal in size).
    epochs
        Maximum number of epochs.
    patience
        Stop after this many epochs without a better validation accuracy.
    seed
        Seed of the initialisation, the shuffling and dropout.
    leave_batch_out
        Compute the embedding without the current batch's samples.
    device
        Torch device string, e.g. ``"cpu"`` or ``"cuda"``.
    mixed_precision
        Run forward passes in bfloat16 autocast (CUDA only; ignored on CPU).
    eval_batch_size
        Samples per batch when evaluating.
    """

    optimizer: str = "adam"
    learning_rate: float | None = None
    weight_decay: float = 0.0
    clip_norm: float = 0.0
    batch_size: int = 64
    epochs: int = 15
    patience: int = 5
    seed: int = 0
    leave_batch_out: bool = True
    device: str = "cpu"
    mixed_precision: bool = False
    eval_batch_size: int = 256

    def __post_init__(self) -> None:
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(
                f"TrainConfig.optimizer is {self.optimizer!r}; use one of {OPTIMIZERS}."
            )
        if self.batch_size < 1 or self.epochs < 1 or self.patience < 1:
            raise ValueError(
                "TrainConfig.batch_size, epochs and patience must be positive."
            )


@dataclass
class FitResult:
    """Outcome of :func:`fit`.

    Attributes
    ----------
    model
        The network with the best validation weights, in eval mode, on CPU.
    history
        One dict per epoch: ``epoch``, ``loss``, ``train_accuracy`` (running,
        during the epoch), ``val_loss``, ``val_accuracy``, ``seconds``.
    best_epoch
        1-based epoch whose weights were kept.
    best_val_accuracy
        Validation accuracy of those weights.
    class_counts
        (num_variants, num_classes, 3) float32 genotype counts of the
        training samples, the embedding the model needs at prediction.
    temperature
        Temperature for calibrated probabilities, ``softmax(logits / T)``,
        fitted on the validation split.
    """

    model: DietNetwork
    history: list[dict[str, float]]
    best_epoch: int
    best_val_accuracy: float
    class_counts: np.ndarray
    temperature: float


def _epoch_seed(seed: int, epoch: int) -> int:
    """Seed for one epoch, distinct for every (seed, epoch) pair."""
    return (seed * 1_000_003 + epoch * 7_919 + 17) % (2**63 - 1)


def _clone_state(state: dict[str, Any]) -> dict[str, Any]:
    """Deep copy of a (nested) state dict, tensors moved to CPU."""
    return copy.deepcopy(
        {
            k: (v.detach().cpu().clone() if isinstance(v, torch.Tensor) else v)
            for k, v in state.items()
        }
    )


def training_class_counts(
    genotypes: np.ndarray,
    labels: np.ndarray,
    rows: np.ndarray,
    num_classes: int,
    *,
    chunk_size: int = 256,
) -> np.ndarray:
    """Genotype counts per variant and class over ``rows``, read in chunks.

    Returns (num_variants, num_classes, 3) float32.
    """
    rows = np.sort(np.asarray(rows))
    counts = np.zeros((genotypes.shape[1], num_classes, 3), dtype=np.float32)
    for start in range(0, len(rows), chunk_size):
        chunk = rows[start : start + chunk_size]
        counts += count_genotypes(
            np.asarray(genotypes[chunk]), labels[chunk], num_classes
        )
    return counts


def resolve_learning_rate(
    config: TrainConfig, model_config: ModelConfig
) -> TrainConfig:
    """``config`` with its default step size made explicit for this model."""
    if config.learning_rate is not None:
        return config
    fitted_head = model_config.uses_linear_path
    rate = FINE_TUNE_RATE if fitted_head else FREE_RATE
    return dataclasses.replace(config, learning_rate=rate)


def _make_optimizer(model: nn.Module, config: TrainConfig) -> torch.optim.Optimizer:
    options = {"lr": config.learning_rate, "weight_decay": config.weight_decay}
    if config.optimizer == "adam":
        # one kernel for all the parameters: the model has a few dozen small
        # ones, and the per-tensor steps took about 1 ms of each batch
        return torch.optim.Adam(model.parameters(), fused=True, **options)
    return torch.optim.RMSprop(model.parameters(), **options)


def _linear_scores(
    model: DietNetwork,
    genotypes: np.ndarray,
    labels: torch.Tensor,
    batches: list[np.ndarray],
    class_counts: torch.Tensor | AlleleCounts,
    *,
    leave_batch_out: bool,
) -> torch.Tensor:
    """Assignment-test scores (the linear path's inputs) of ``batches``.

    Returns (num_rows, num_classes) float64 on CPU, rows in batch order.
    """
    device = model.variant_mean.device
    out = []
    if not leave_batch_out:
        first = model.first_layer_weights(class_counts, variant_terms=True)
    for batch in batches:
        g = torch.from_numpy(np.asarray(genotypes[batch])).to(device)
        if leave_batch_out:
            counts = leave_out(class_counts, g, labels[batch].to(device))
            first = model.first_layer_weights(counts, variant_terms=True)
        h = _first_layer_sum(model, first, g)
        out.append((h[:, : model.num_classes] * model.input_gain).double().cpu())
    return torch.cat(out)


def _first_layer_sum(
    model: DietNetwork, first: FirstLayer, genotypes: torch.Tensor
) -> torch.Tensor:
    """(batch, num_hidden) first-layer pre-activation of int8 ``genotypes``,
    with missing calls left out as ``dietnet predict`` leaves them out."""
    called = genotypes >= 0
    part = first.partial_sum(model.transform(genotypes), called, slice(None))
    return first.complete(part, called.sum(dim=1))


def _fit_head(
    scores: torch.Tensor,
    labels: torch.Tensor,
    penalty: float,
    start: tuple[torch.Tensor, torch.Tensor, torch.Tensor],
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Multinomial logistic regression of ``labels`` on class scores.

    The logits are ``scores @ (t I + W) + b`` with an L2 penalty on ``W``:
    a temperature for the assignment test plus a ridge-penalised correction
    that lets one class's score speak for another (as admixed and closely
    related populations need). ``start`` and the result are ``(log t, W,
    b)``, float64 tensors of shapes (), (num_classes, num_classes) and
    (num_classes,).
    """
    log_t, correction, bias = (v.detach().clone().requires_grad_() for v in start)
    optimizer = torch.optim.LBFGS(
        [log_t, correction, bias],
        max_iter=200,
        tolerance_change=1e-10,
        line_search_fn="strong_wolfe",
    )

    def closure() -> torch.Tensor:
        optimizer.zero_grad()
        logits = scores * log_t.exp() + scores @ correction + bias
        loss = nn.functional.cross_entropy(logits, labels)
        loss = loss + penalty * (correction**2).sum()
        loss.backward()
        return loss

    optimizer.step(closure)
    return log_t.detach(), correction.detach(), bias.detach()


@torch.no_grad()
def calibrate_linear_head(
    model: DietNetwork,
    genotypes: np.ndarray,
    labels: np.ndarray,
    train_index: np.ndarray,
    val_index: np.ndarray,
    class_counts: torch.Tensor | AlleleCounts,
    *,
    batch_size: int,
    seed: int,
    penalties: tuple[float, ...] = HEAD_PENALTIES,
) -> dict[str, float]:
    """Fit the map from assignment-test scores to logits before training.

    The training rows are scored in batches with the batch's own genotypes
    left out of the embedding, so each score is what an unseen sample would
    get; the validation rows with the whole training embedding. For each
    ridge penalty the head is fitted on the training scores; the one with
    the lowest validation loss is kept in ``linear_output`` and the output
    bias. Returns the epoch-0 record of the training history.
    """
    model.eval()
    labels_t = torch.from_numpy(np.asarray(labels, dtype=np.int64))
    shuffle = torch.Generator().manual_seed(_epoch_seed(seed, 0))
    order = train_index[torch.randperm(len(train_index), generator=shuffle)]
    num_batches = max(1, math.ceil(len(order) / batch_size))
    batches = [np.sort(b) for b in np.array_split(order, num_batches)]
    train_rows = np.concatenate(batches)
    # (num_rows, num_classes) float64 scores
    train_scores = _linear_scores(
        model, genotypes, labels_t, batches, class_counts, leave_batch_out=True
    )
    val_scores = _linear_scores(
        model, genotypes, labels_t, [val_index], class_counts, leave_batch_out=False
    )
    train_labels, val_labels = labels_t[train_rows], labels_t[val_index]
    num_classes = model.num_classes
    eye = torch.eye(num_classes, dtype=torch.float64)
    scale = float(model.linear_output.diagonal().mean())
    head = (
        torch.tensor(math.log(scale), dtype=torch.float64),
        torch.zeros(num_classes, num_classes, dtype=torch.float64),
        torch.zeros(num_classes, dtype=torch.float64),
    )

    # Strongest penalty first, each fit starting from the previous one.
    chosen = None
    for penalty in sorted(penalties, reverse=True):
        head = _fit_head(train_scores, train_labels, penalty, head)
        weight, bias = eye * head[0].exp() + head[1], head[2]
        val_logits = val_scores @ weight + bias
        val_loss = float(nn.functional.cross_entropy(val_logits, val_labels))
        logger.debug("head penalty %g: validation loss %.4f", penalty, val_loss)
        if chosen is None or val_loss < chosen[0]:
            chosen = (val_loss, penalty, weight, bias, val_logits)
    val_loss, penalty, weight, bias, val_logits = chosen
    model.linear_output.copy_(weight.float())
    model.output.bias.copy_(bias.float())
    train_logits = train_scores @ weight + bias
    logger.info("Assignment-test head fitted with ridge penalty %g.", penalty)
    return {
        "epoch": 0,
        "loss": float(nn.functional.cross_entropy(train_logits, train_labels)),
        "train_accuracy": float(
            (train_logits.argmax(dim=1) == train_labels).double().mean()
        ),
        "val_loss": val_loss,
        "val_accuracy": float((val_logits.argmax(dim=1) == val_labels).double().mean()),
    }


@torch.no_grad()
def predict_logits(
    model: DietNetwork,
    genotypes: np.ndarray,
    rows: np.ndarray,
    class_counts: torch.Tensor | AlleleCounts,
    *,
    batch_size: int = 256,
    device: str = "cpu",
) -> torch.Tensor:
    """Logits of ``rows`` in eval mode.

    Missing calls are treated as ``dietnet predict`` treats them (left out
    of the sum, which is then scaled up), so validation and calibration see
    what prediction computes. A Diet Network without decoder computes them
    as a training step does, without forming ``W_e`` (cheaper for a
    validation split); other models form their first layer once.

    Returns (len(rows), num_classes) float32 on CPU.
    """
    model.eval()
    first = None
    if model.config.model != "dietnet" or model.aux_decoder is not None:
        first = model.first_layer_weights(class_counts, variant_terms=True)
    out = []
    for start in range(0, len(rows), batch_size):
        chunk = rows[start : start + batch_size]
        g = torch.from_numpy(np.asarray(genotypes[chunk])).to(device)
        if first is None:
            logits, _ = model(g, class_counts)
        else:
            logits = model.head(_first_layer_sum(model, first, g))
        out.append(logits.float().cpu())
    if not out:
        return torch.zeros(0, model.num_classes)
    return torch.cat(out)


def fit_temperature(
    logits: torch.Tensor | np.ndarray, labels: torch.Tensor | np.ndarray
) -> float:
    """Temperature ``T`` minimising the log loss of ``softmax(logits / T)``.

    Parameters
    ----------
    logits
        (num_samples, num_classes) validation logits.
    labels
        (num_samples,) integer class codes.

    Returns
    -------
    float
        The temperature, in [0.01, 100]; 1.0 when there are no samples.
    """
    logits = torch.as_tensor(logits, dtype=torch.float64)
    labels = torch.as_tensor(labels, dtype=torch.long)
    if len(labels) == 0:
        return 1.0
    log_t = torch.zeros((), dtype=torch.float64, requires_grad=True)
    optimizer = torch.optim.LBFGS([log_t], lr=0.5, max_iter=100)

    def closure() -> torch.Tensor:
        optimizer.zero_grad()
        loss = nn.functional.cross_entropy(logits / log_t.exp(), labels)
        loss.backward()
        return loss

    optimizer.step(closure)
    value = float(log_t.detach().exp())
    if not math.isfinite(value):
        return 1.0
    return min(max(value, 0.01), 100.0)


def fit(
    genotypes: np.ndarray,
    labels: np.ndarray,
    train_index: np.ndarray,
    val_index: np.ndarray,
    model_config: ModelConfig,
    train_config: TrainConfig,
    *,
    num_classes: int | None = None,
    class_group: np.ndarray | None = None,
    on_epoch: Callable[[dict[str, Any]], None] | None = None,
    resume_state: dict[str, Any] | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> FitResult:
    """Train a network with early stopping on validation accuracy.

    Parameters
    ----------
    genotypes
        (num_samples, num_variants) int8 ALT-allele dosage, -1 = missing; a
        numpy array or memory map, read one batch of rows at a time.
    labels
        (num_samples,) int64 class codes.
    train_index, val_index
        Rows used for training (and the embedding) and for early stopping.
    model_config, train_config
        Architecture and training options.
    num_classes
        Number of classes; defaults to ``labels.max() + 1``.
    class_group
        (num_classes,) group code of each class (its super-population), which
        the class frequencies are shrunk towards; None: one group.
    on_epoch
        Called after every epoch with a complete resumable state (plain
        dicts, tensors on CPU); pass it back as ``resume_state``.
    resume_state
        A state given to ``on_epoch``; training continues after its epoch.
    progress
        Called after every batch with (batches done, batches planned).

    Returns
    -------
    FitResult
        The best model, history, best epoch, class counts and temperature.
    """
    labels = np.asarray(labels, dtype=np.int64)
    train_index = np.asarray(train_index, dtype=np.int64)
    val_index = np.sort(np.asarray(val_index, dtype=np.int64))
    if num_classes is None:
        num_classes = int(labels.max()) + 1
    device = torch.device(train_config.device)
    # TODO(#3): the CUDA and bfloat16 paths have not run on a GPU yet; time
    # an epoch there and compare accuracy with float32.
    autocast = train_config.mixed_precision and device.type == "cuda"
    num_variants = genotypes.shape[1]
    if len(train_index) < 2:
        raise ValueError("fit needs at least 2 training samples.")

    # Embedding and input statistics from the training rows only
    class_counts = training_class_counts(genotypes, labels, train_index, num_classes)
    counts_t = torch.from_numpy(class_counts).to(device)
    if model_config.model == "dietnet" and model_config.embedding == "frequency":
        # all the frequency embedding reads, and cheaper to leave a batch out of
        counts_t = AlleleCounts.of(counts_t)
    mean, std = input_stats_from_counts(class_counts)

    # Model, seeded; the optimizer
    torch.manual_seed(train_config.seed)
    model = DietNetwork(
        model_config,
        num_variants=num_variants,
        num_classes=num_classes,
        class_group=class_group,
    )
    model.set_input_stats(mean, std)
    model.to(device)
    labels_t = torch.from_numpy(labels)

    # Resume or start afresh; a fresh Diet Network starts as the assignment
    # test with its class scores mapped to logits by a fitted linear head.
    history: list[dict[str, float]] = []
    best = (-1.0, math.inf)  # (val accuracy, val loss)
    if resume_state is None and model_config.uses_linear_path:
        started = time.perf_counter()
        record = calibrate_linear_head(
            model,
            genotypes,
            labels,
            train_index,
            val_index,
            counts_t,
            batch_size=train_config.batch_size,
            seed=train_config.seed,
        )
        record["seconds"] = time.perf_counter() - started
        history.append(record)
        best = (record["val_accuracy"], record["val_loss"])
        logger.info(
            "epoch 0 (assignment test, calibrated head): validation accuracy "
            "%.4f (loss %.4f)",
            record["val_accuracy"],
            record["val_loss"],
        )
    optimizer = _make_optimizer(
        model, resolve_learning_rate(train_config, model_config)
    )
    best_state = _clone_state(model.state_dict())
    best_epoch = 0
    stale_epochs = 0
    start_epoch = 1
    if resume_state is not None:
        model.load_state_dict(resume_state["model"])
        optimizer.load_state_dict(resume_state["optimizer"])
        history = copy.deepcopy(resume_state["history"])
        best_state = _clone_state(resume_state["best_model"])
        best = tuple(resume_state["best"])
        best_epoch = resume_state["best_epoch"]
        stale_epochs = resume_state["stale_epochs"]
        start_epoch = resume_state["epoch"] + 1
        torch.set_rng_state(resume_state["rng"]["torch"])
        np.random.set_state(resume_state["rng"]["numpy"])
        logger.info("Resuming after epoch %d", resume_state["epoch"])

    num_batches = max(1, math.ceil(len(train_index) / train_config.batch_size))
    total_steps = num_batches * train_config.epochs
    logger.info(
        "Training %s on %d samples x %d variants (%d classes), %d validation",
        model_config.model,
        len(train_index),
        num_variants,
        num_classes,
        len(val_index),
    )

    for epoch in range(start_epoch, train_config.epochs + 1):
        if stale_epochs >= train_config.patience:
            break
        started = time.perf_counter()

        # Per-epoch randomness: shuffling and dropout depend on (seed, epoch)
        seed = _epoch_seed(train_config.seed, epoch)
        torch.manual_seed(seed)
        shuffle = torch.Generator().manual_seed(seed)
        order = train_index[torch.randperm(len(train_index), generator=shuffle)]
        batches = np.array_split(order, num_batches)

        model.train()
        sum_loss, num_correct, num_seen = 0.0, 0, 0
        for step, batch in enumerate(batches, start=1):
            batch = np.sort(batch)
            g = torch.from_numpy(np.asarray(genotypes[batch])).to(device)
            y = labels_t[batch].to(device)
            counts = counts_t
            if train_config.leave_batch_out:
                counts = leave_out(counts_t, g, y)

            # (batch, num_classes) logits; reconstruction loss or None
            with torch.autocast(device.type, torch.bfloat16, enabled=autocast):
                logits, reconstruction = model(g, counts)
            loss = nn.functional.cross_entropy(logits.float(), y)
            if reconstruction is not None:
                loss = loss + model_config.gamma * reconstruction.float()

            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if train_config.clip_norm > 0:
                nn.utils.clip_grad_norm_(model.parameters(), train_config.clip_norm)
            optimizer.step()

            sum_loss += float(loss.detach()) * len(batch)
            num_correct += int((logits.argmax(dim=1) == y).sum())
            num_seen += len(batch)
            if progress is not None:
                progress((epoch - 1) * num_batches + step, total_steps)

        # Validation with the full training embedding
        val_logits = predict_logits(
            model,
            genotypes,
            val_index,
            counts_t,
            batch_size=train_config.eval_batch_size,
            device=str(device),
        )
        val_labels = labels_t[val_index]
        val_loss = float(nn.functional.cross_entropy(val_logits, val_labels))
        val_accuracy = float((val_logits.argmax(dim=1) == val_labels).float().mean())
        record = {
            "epoch": epoch,
            "loss": sum_loss / num_seen,
            "train_accuracy": num_correct / num_seen,
            "val_loss": val_loss,
            "val_accuracy": val_accuracy,
            "seconds": time.perf_counter() - started,
        }
        history.append(record)
        logger.info(
            "epoch %d: loss %.4f, train accuracy %.4f, validation accuracy %.4f"
            " (loss %.4f), %.1f s",
            epoch,
            record["loss"],
            record["train_accuracy"],
            val_accuracy,
            val_loss,
            record["seconds"],
        )

        # Early stopping: accuracy first, loss breaks ties
        if (val_accuracy, -val_loss) > (best[0], -best[1]):
            best = (val_accuracy, val_loss)
            best_state = _clone_state(model.state_dict())
            best_epoch = epoch
            stale_epochs = 0
        else:
            stale_epochs += 1

        if on_epoch is not None:
            on_epoch(
                {
                    "epoch": epoch,
                    "model": _clone_state(model.state_dict()),
                    "optimizer": copy.deepcopy(optimizer.state_dict()),
                    "best_model": _clone_state(best_state),
                    "best": list(best),
                    "best_epoch": best_epoch,
                    "stale_epochs": stale_epochs,
                    "history": copy.deepcopy(history),
                    "rng": {
                        "torch": torch.get_rng_state(),
                        "numpy": np.random.get_state(),
                    },
                    "model_config": asdict(model_config),
                    "train_config": asdict(train_config),
                }
            )

    # Best weights, and a temperature fitted on the validation split
    model.load_state_dict(best_state)
    model.eval()
    val_logits = predict_logits(
        model,
        genotypes,
        val_index,
        counts_t,
        batch_size=train_config.eval_batch_size,
        device=str(device),
    )
    temperature = fit_temperature(val_logits, labels_t[val_index])
    logger.info(
        "Best validation accuracy %.4f at epoch %d; temperature %.3f",
        best[0],
        best_epoch,
        temperature,
    )
    return FitResult(
        model=model.cpu(),
        history=history,
        best_epoch=best_epoch,
        best_val_accuracy=best[0],
        class_counts=class_counts,
        temperature=temperature,
    )
