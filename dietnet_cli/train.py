"""The ``train`` stage: a dataset directory to a model file.

The story of a run: open the dataset, split its samples into training and
validation (stratified, seeded), get the embedding of the training samples
(from the cache or computed), fit the network with early stopping on
validation accuracy while checkpointing every epoch, then write the model
file, the per-epoch metrics and a training curve.
"""

from __future__ import annotations

import csv
import dataclasses
import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from dietnet_cli import (
    __version__,
    embed,
    modelfile,
    outputs,
    plots,
    progress,
    provenance,
)
from dietnet_cli.dataset import open_dataset
from dietnet_cli.errors import DietnetError
from dietnet_cli.fit import FitResult, TrainConfig, fit, resolve_learning_rate
from dietnet_cli.model import ModelConfig
from dietnet_cli.splits import SplitConfig, split_samples

logger = logging.getLogger(__name__)

# Layout of the training state in checkpoints: 2 since the shrinkage stopped
# being a parameter (the optimizer's state lost a tensor); _load_checkpoint
# refuses others.
CHECKPOINT_FORMAT = 2


@dataclass(frozen=True)
class TrainSummary:
    """Where a training run wrote its outputs and how well it did."""

    model_path: Path
    metrics_path: Path
    curve_path: Path
    best_epoch: int
    val_accuracy: float | None
    seconds: float


def sidecar_paths(model_path: Path) -> tuple[Path, Path, Path]:
    """Per-epoch metrics TSV, training-curve PNG and checkpoint of a model."""
    return (
        model_path.with_name(model_path.name + ".metrics.tsv"),
        model_path.with_name(model_path.name + ".curve.png"),
        model_path.with_name(model_path.name + ".checkpoint"),
    )


def resolve_device(device: str) -> str:
    """``auto`` picks CUDA when present; ``cuda`` without a GPU is an error."""
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        raise DietnetError(
            "--device cuda was asked for but torch sees no CUDA GPU; use --device "
            "cpu or install a CUDA build of torch."
        )
    return device


def train(
    dataset_path: Path,
    *,
    out: Path,
    model_config: ModelConfig,
    train_config: TrainConfig,
    split: SplitConfig,
    embedding_path: Path | None = None,
    build: str | None = None,
    resume: bool = False,
    force: bool = False,
    show_progress: bool = True,
) -> TrainSummary:
    """Train a Diet Network (or the MLP baseline) on a dataset directory.

    Parameters
    ----------
    dataset_path
        A directory written by ``dietnet prepare``.
    out
        The model file to write.
    embedding_path
        An embedding written by ``dietnet embed -o``; by default the cache in
        the dataset directory, computed when missing or stale.
    build
        Genome build to record when the dataset does not know it.
    resume
        Continue from the checkpoint a killed run left beside ``out``.
    """
    started = time.perf_counter()
    out = Path(out)
    metrics_path, curve_path, checkpoint_path = sidecar_paths(out)
    outputs.check_writable(out, force=force or resume, what="model file")
    dataset = open_dataset(dataset_path)
    genome_build = dataset.build or build
    if dataset.build and build and dataset.build != build:
        raise DietnetError(
            f"--build {build} contradicts dataset {dataset.path}, whose input said "
            f"{dataset.build}; drop --build."
        )

    # Split the samples; the embedding sees the training part only.
    train_index, val_index = split_samples(dataset.label, split)
    if len(val_index) == 0:
        raise DietnetError(
            "Training needs validation samples for early stopping and calibration; "
            "use a --val-fraction above 0 or --folds."
        )
    if embedding_path is not None:
        embedding = embed.load_embedding(Path(embedding_path), dataset)
        if embedding.key != embed.embedding_key(dataset, train_index):
            raise DietnetError(
                f"Embedding {embedding_path} was computed from other samples than "
                f"this run's training split ({split.describe()}); re-run dietnet "
                "embed with the same split options, or leave out --embedding."
            )
    else:
        embedding = embed.embed(
            dataset, train_index=train_index, show_progress=show_progress
        )
    classes = dataset.classes()
    codes = embed.class_codes(dataset)
    logger.info(
        "Training on %d samples, validating on %d (%s); %d variants, %d classes.",
        len(train_index),
        len(val_index),
        split.describe(),
        dataset.num_variants,
        len(classes),
    )

    # Resume from a checkpoint left by a killed run with the same settings.
    train_config = resolve_learning_rate(train_config, model_config)
    run_key = {
        "dataset_checksum": dataset.checksum,
        "model_config": dataclasses.asdict(model_config),
        "train_config": dataclasses.asdict(train_config),
        "split": dataclasses.asdict(split),
    }
    resume_state = _load_checkpoint(checkpoint_path, run_key) if resume else None

    def on_epoch(state: dict) -> None:
        _save_checkpoint(
            checkpoint_path,
            {"format": CHECKPOINT_FORMAT, "run_key": repr(run_key), "state": state},
        )

    torch.manual_seed(train_config.seed)
    with (
        dataset.genotype_rows() as genotypes,
        progress.bar("Training", enabled=show_progress) as bar,
    ):
        result = fit(
            genotypes,
            codes,
            train_index,
            val_index,
            model_config,
            train_config,
            num_classes=len(classes),
            class_group=_group_codes(classes, dataset.group_of()),
            on_epoch=on_epoch,
            resume_state=resume_state,
            progress=lambda done, planned: bar.update(completed=done, total=planned),
        )

    # Write the model file, then the metrics and the curve beside it.
    summary_metrics = _summary_metrics(result, len(train_index), len(val_index))
    model = modelfile.ModelFile(
        model_config=dataclasses.asdict(model_config),
        train_config=dataclasses.asdict(train_config),
        classes=tuple(classes),
        group_of=dataset.group_of(),
        variants=modelfile.ModelVariants(
            chrom=dataset.variants.chrom,
            position=dataset.variants.position,
            variant_id=dataset.variants.variant_id,
            ref=dataset.variants.ref,
            alt=dataset.variants.alt,
        ),
        build=genome_build,
        temperature=float(result.temperature),
        weights={
            name: tensor.detach().cpu().numpy()
            for name, tensor in result.model.state_dict().items()
        },
        class_counts=np.asarray(result.class_counts, dtype=np.float32),
        metrics=summary_metrics,
        dataset_checksum=dataset.checksum,
        provenance=provenance.record(
            dataset=str(dataset.path),
            dataset_inputs=dataset.manifest.get("inputs"),
            split=dataclasses.asdict(split),
            training_samples=int(len(train_index)),
            validation_samples=int(len(val_index)),
            device=train_config.device,
            torch=torch.__version__,
        ),
        dietnet_version=__version__,
    )
    modelfile.save(out, model, force=True)
    _write_history(metrics_path, result.history)
    plots.training_curve(result.history, result.best_epoch, curve_path)
    checkpoint_path.unlink(missing_ok=True)

    seconds = time.perf_counter() - started
    logger.info(
        "Kept epoch %d: validation accuracy %s; temperature %.3f; %.0f s in all.",
        result.best_epoch,
        _format(result.best_val_accuracy),
        result.temperature,
        seconds,
    )
    return TrainSummary(
        model_path=out,
        metrics_path=metrics_path,
        curve_path=curve_path,
        best_epoch=result.best_epoch,
        val_accuracy=result.best_val_accuracy,
        seconds=seconds,
    )


def _group_codes(classes: list[str], group_of: dict[str, str]) -> np.ndarray:
    """(num_classes,) int64 code of each class's group; all 0 without groups."""
    if not group_of:
        return np.zeros(len(classes), dtype=np.int64)
    groups = sorted(set(group_of.values()))
    return np.array([groups.index(group_of[c]) for c in classes], dtype=np.int64)


def _format(value: float | None) -> str:
    return "n/a" if value is None or np.isnan(value) else f"{value:.4f}"


def _summary_metrics(result: FitResult, num_train: int, num_val: int) -> dict:
    best = next(
        (row for row in result.history if row["epoch"] == result.best_epoch),
        result.history[-1],
    )
    return {
        "best_epoch": result.best_epoch,
        "epochs_run": len(result.history),
        "val_accuracy": result.best_val_accuracy,
        "train_accuracy": best.get("train_accuracy"),
        "val_loss": best.get("val_loss"),
        "temperature": result.temperature,
        "num_training_samples": num_train,
        "num_validation_samples": num_val,
        "seconds_per_epoch": float(np.mean([row["seconds"] for row in result.history])),
    }


def _write_history(path: Path, history: list[dict]) -> None:
    columns = list(history[0].keys())
    with outputs.atomic_file(path, force=True, what="metrics file") as temporary:
        with open(temporary, "w", newline="") as handle:
            writer = csv.DictWriter(
                handle, fieldnames=columns, delimiter="\t", lineterminator="\n"
            )
            writer.writeheader()
            writer.writerows(history)


def _save_checkpoint(path: Path, payload: dict) -> None:
    # numpy's RNG state is a tuple holding an array; store it as tensors so
    # that the checkpoint loads with weights_only=True.
    rng = payload["state"].get("rng", {})
    if isinstance(rng.get("numpy"), tuple):
        name, keys, position, has_gauss, cached = rng["numpy"]
        rng["numpy"] = [
            name,
            torch.from_numpy(keys.copy()),
            position,
            has_gauss,
            cached,
        ]
    temporary = path.with_name(path.name + f".partial-{os.getpid()}")
    torch.save(payload, temporary)
    os.replace(temporary, path)


def _load_checkpoint(path: Path, run_key: dict) -> dict | None:
    if not path.exists():
        logger.warning("No checkpoint %s to resume from; starting afresh.", path)
        return None
    try:
        payload = torch.load(path, weights_only=True)
    except Exception as error:
        raise DietnetError(
            f"Checkpoint {path} cannot be read ({str(error).splitlines()[0]}); "
            "delete it and train without --resume."
        ) from None
    if payload.get("format") != CHECKPOINT_FORMAT:
        raise DietnetError(
            f"Checkpoint {path} was written by another version of dietnet; "
            "delete it and train without --resume."
        )
    if payload.get("run_key") != repr(run_key):
        raise DietnetError(
            f"Checkpoint {path} was written by a run with other data or options; "
            "resume with the same options, or delete it to start afresh."
        )
    state = payload["state"]
    rng = state.get("rng", {})
    if isinstance(rng.get("numpy"), list):
        name, keys, position, has_gauss, cached = rng["numpy"]
        rng["numpy"] = (name, keys.numpy(), position, has_gauss, cached)
    logger.info("Resuming after epoch %s from %s.", state.get("epoch"), path)
    return state
