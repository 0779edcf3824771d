"""The ``embed`` stage: per-class genotype histograms of each variant.

For each variant and each class, the histogram counts how many *training*
samples of that class carry 0, 1 and 2 copies of the ALT allele (missing
calls are not counted). ``embedding.npy`` holds the frequencies, float32
(num_variants, 3 * num_classes), columns ordered class by class
(``c0:g0, c0:g1, c0:g2, c1:g0, ...``), classes sorted by name;
``embedding-counts.npy`` holds the counts (num_variants, num_classes, 3),
which training needs to leave a batch's own samples out; ``embedding.json``
holds the key: the dataset checksum and a checksum of the training sample
set. A cached embedding is reused only when both match.

Only training samples are counted: counting validation samples would leak
their labels into early stopping.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from dietnet_cli import outputs, progress
from dietnet_cli.dataset import Dataset
from dietnet_cli.errors import DatasetError, DietnetError
from dietnet_cli.splits import SplitConfig, split_samples

logger = logging.getLogger(__name__)

EMBEDDING = "embedding.npy"
CHUNK_BYTES = 1 << 26


@dataclass(frozen=True)
class Embedding:
    """Genotype counts per variant and class among the training samples."""

    class_counts: np.ndarray  # (num_variants, num_classes, 3) float32
    classes: tuple[str, ...]
    key: dict

    def frequencies(self) -> np.ndarray:
        """(num_variants, 3 * num_classes) float32 genotype frequencies; a
        class with no call at a variant gets zeros."""
        totals = self.class_counts.sum(axis=2, keepdims=True)
        with np.errstate(invalid="ignore", divide="ignore"):
            freq = np.where(totals > 0, self.class_counts / totals, 0.0)
        return freq.reshape(freq.shape[0], -1).astype(np.float32)


def sidecar_paths(path: Path) -> tuple[Path, Path]:
    """The counts and key files that go with an embedding file."""
    stem = path.with_suffix("")
    return stem.with_name(stem.name + "-counts.npy"), path.with_suffix(".json")


def embedding_key(dataset: Dataset, train_index: np.ndarray) -> dict:
    """What an embedding depends on: the dataset and the training samples."""
    chosen = "\n".join(sorted(dataset.sample_id[i] for i in train_index))
    return {
        "dataset_checksum": dataset.checksum,
        "training_samples_sha256": hashlib.sha256(chosen.encode()).hexdigest(),
        "num_training_samples": int(len(train_index)),
        "classes": dataset.classes(),
    }


def class_codes(dataset: Dataset) -> np.ndarray:
    """(num_samples,) int64 index of each sample's label in ``classes()``."""
    index = {label: code for code, label in enumerate(dataset.classes())}
    return np.array([index[label] for label in dataset.label], dtype=np.int64)


def count_by_class(
    dataset: Dataset,
    train_index: np.ndarray,
    *,
    show_progress: bool = False,
) -> np.ndarray:
    """Count genotypes per variant and class over ``train_index`` rows,
    a chunk of variants at a time.

    Returns (num_variants, num_classes, 3) float32.
    """
    train_index = np.sort(train_index)
    codes = class_codes(dataset)[train_index]
    num_classes = len(dataset.classes())
    # Rows of each class within a block read at train_index.
    rows_of = [np.flatnonzero(codes == c) for c in range(num_classes)]
    counts = np.zeros((dataset.num_variants, num_classes, 3), dtype=np.float32)
    width = max(1, CHUNK_BYTES // max(1, len(train_index)))
    with (
        dataset.genotype_rows() as genotypes,
        progress.bar(
            "Counting genotypes", total=dataset.num_variants, enabled=show_progress
        ) as bar,
    ):
        for start in range(0, dataset.num_variants, width):
            stop = min(start + width, dataset.num_variants)
            # (num_training_samples, width) int8, -1 = missing
            block = genotypes[train_index, start:stop]
            for c in range(num_classes):
                mine = block[rows_of[c]]
                for genotype in range(3):
                    counts[start:stop, c, genotype] = (mine == genotype).sum(axis=0)
            bar.advance(stop - start)
    return counts


def training_index(
    dataset: Dataset, *, samples_file: Path | None, split: SplitConfig
) -> np.ndarray:
    """Rows that train: those listed in ``samples_file``, else the training
    part of ``split``."""
    if samples_file is None:
        return split_samples(dataset.label, split)[0]
    try:
        lines = [line.split("\t")[0].strip() for line in open(samples_file)]
    except OSError as error:
        raise DietnetError(
            f"Cannot read sample list {samples_file}: {error}."
        ) from None
    wanted = {line for line in lines if line and line not in ("sample_id", "sample")}
    rows = np.array(
        [i for i, sample in enumerate(dataset.sample_id) if sample in wanted],
        dtype=np.int64,
    )
    unknown = len(wanted) - len(rows)
    if len(rows) == 0:
        raise DietnetError(
            f"No sample of {samples_file} is in dataset {dataset.path}; list one "
            "sample ID per line, as in the dataset's samples.tsv."
        )
    if unknown:
        logger.warning(
            "%d samples of %s are not in the dataset and are ignored.",
            unknown,
            samples_file,
        )
    return rows


def load_embedding(path: Path, dataset: Dataset) -> Embedding:
    """Load an embedding file and check it was made from ``dataset``."""
    counts_path, key_path = sidecar_paths(path)
    if not (path.is_file() and counts_path.is_file() and key_path.is_file()):
        raise DatasetError(
            f"Embedding {path} is incomplete (it needs {counts_path.name} and "
            f"{key_path.name} beside it); re-run dietnet embed."
        )
    key = json.loads(key_path.read_text())
    if key.get("dataset_checksum") != dataset.checksum:
        raise DatasetError(
            f"Embedding {path} was made from another dataset (checksum "
            f"{str(key.get('dataset_checksum'))[:12]}…, not {dataset.checksum[:12]}…); "
            f"re-run 'dietnet embed {dataset.path}'."
        )
    counts = np.load(counts_path)
    if counts.shape[0] != dataset.num_variants:
        raise DatasetError(
            f"Embedding {path} has {counts.shape[0]} variants but dataset "
            f"{dataset.path} has {dataset.num_variants}; re-run dietnet embed."
        )
    return Embedding(class_counts=counts, classes=tuple(key["classes"]), key=key)


def embed(
    dataset: Dataset,
    *,
    train_index: np.ndarray,
    out: Path | None = None,
    show_progress: bool = False,
) -> Embedding:
    """Return the embedding for ``train_index``, from the cache when its key
    matches, otherwise computed and cached at ``out`` (default: in the
    dataset directory; not cached when that is not writable)."""
    path = Path(out) if out is not None else dataset.path / EMBEDDING
    key = embedding_key(dataset, train_index)
    counts_path, key_path = sidecar_paths(path)
    if path.is_file() and key_path.is_file() and counts_path.is_file():
        try:
            cached = json.loads(key_path.read_text())
        except ValueError:
            cached = None
        if cached == key:
            logger.info("Reusing embedding %s (same dataset and samples).", path)
            return load_embedding(path, dataset)
        logger.info(
            "Embedding %s is stale (other dataset or samples); recomputing.", path
        )

    counts = count_by_class(dataset, train_index, show_progress=show_progress)
    embedding = Embedding(class_counts=counts, classes=tuple(key["classes"]), key=key)
    try:
        _write(path, embedding)
    except (OSError, DietnetError) as error:
        if out is not None:
            raise DietnetError(f"Cannot write embedding {path}: {error}") from None
        logger.warning("Cannot cache the embedding in %s (%s).", path.parent, error)
    logger.info(
        "Embedding: %d variants x %d classes from %d training samples.",
        counts.shape[0],
        counts.shape[1],
        len(train_index),
    )
    return embedding


def _write(path: Path, embedding: Embedding) -> None:
    counts_path, key_path = sidecar_paths(path)
    # Write the key last: a key file promises complete data files.
    key_path.unlink(missing_ok=True)
    with outputs.atomic_file(path, force=True, what="embedding") as temporary:
        with open(temporary, "wb") as handle:
            np.save(handle, embedding.frequencies())
    with outputs.atomic_file(counts_path, force=True, what="embedding") as temporary:
        with open(temporary, "wb") as handle:
            np.save(handle, embedding.class_counts)
    with outputs.atomic_file(key_path, force=True, what="embedding key") as temporary:
        temporary.write_text(json.dumps(embedding.key, indent=2) + "\n")
