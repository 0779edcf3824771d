"""The model file: one safetensors file holding all that prediction needs.

Layout. The tensors are the network's weights (``model.*``, including its
input statistics), the training embedding (``embedding.class_counts``,
(num_variants, num_classes, 3) float32 genotype counts) and the variant
positions (``variants.position``, int64). The safetensors header's metadata
holds one JSON document under ``dietnet``: format version, dietnet version,
model and training configuration, class names and their groups, the variant
list (chrom, id, ref, alt), genome build, the calibration temperature,
training metrics, the dataset checksum and provenance. A SHA-256 over the
JSON and every tensor's name, dtype, shape and bytes is stored under
``checksum`` and verified on every load, so an altered or foreign file is
refused. safetensors cannot run code when loaded, unlike pickle.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from safetensors import SafetensorError, safe_open
from safetensors.numpy import save_file

from dietnet_cli import outputs
from dietnet_cli.errors import ModelFileError

FORMAT = "dietnet-model"
FORMAT_VERSION = 1


@dataclass(frozen=True)
class ModelVariants:
    """The model's variants, in the order of its weight rows."""

    chrom: tuple[str, ...]
    position: np.ndarray  # (num_variants,) int64
    variant_id: tuple[str, ...]
    ref: tuple[str, ...]
    alt: tuple[str, ...]

    def __len__(self) -> int:
        return len(self.chrom)


@dataclass(frozen=True)
class ModelFile:
    """Everything a trained model file holds."""

    model_config: dict
    train_config: dict
    classes: tuple[str, ...]
    # label -> group (super-population); empty when the labels had no groups.
    group_of: dict[str, str]
    variants: ModelVariants
    build: str | None
    temperature: float
    # Network weights by name, as numpy arrays.
    weights: dict[str, np.ndarray]
    class_counts: np.ndarray  # (num_variants, num_classes, 3) float32
    metrics: dict
    dataset_checksum: str
    provenance: dict
    dietnet_version: str = ""

    @property
    def groups(self) -> list[str]:
        """Distinct groups in the order classes first reach them."""
        seen: dict[str, None] = {}
        for label in self.classes:
            if label in self.group_of:
                seen.setdefault(self.group_of[label], None)
        return list(seen)


def _document(model: ModelFile) -> dict:
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "dietnet_version": model.dietnet_version,
        "model_config": model.model_config,
        "train_config": model.train_config,
        "classes": list(model.classes),
        "group_of": model.group_of,
        "variants": {
            "chrom": list(model.variants.chrom),
            "id": list(model.variants.variant_id),
            "ref": list(model.variants.ref),
            "alt": list(model.variants.alt),
        },
        "build": model.build,
        "temperature": model.temperature,
        "metrics": model.metrics,
        "dataset_checksum": model.dataset_checksum,
        "provenance": model.provenance,
    }


def _checksum(document_json: str, tensors: dict[str, np.ndarray]) -> str:
    digest = hashlib.sha256(document_json.encode())
    for name in sorted(tensors):
        array = np.ascontiguousarray(tensors[name])
        digest.update(f"{name}|{array.dtype.str}|{array.shape}".encode())
        digest.update(array.tobytes())
    return digest.hexdigest()


def save(path: Path, model: ModelFile, *, force: bool = False) -> None:
    """Write ``model`` to ``path`` atomically."""
    tensors = {
        f"model.{name}": np.ascontiguousarray(w) for name, w in model.weights.items()
    }
    tensors["embedding.class_counts"] = np.ascontiguousarray(
        model.class_counts, dtype=np.float32
    )
    tensors["variants.position"] = np.ascontiguousarray(
        model.variants.position, dtype=np.int64
    )
    document_json = json.dumps(_document(model), sort_keys=True)
    metadata = {"dietnet": document_json, "checksum": _checksum(document_json, tensors)}
    with outputs.atomic_file(Path(path), force=force, what="model file") as temporary:
        save_file(tensors, str(temporary), metadata=metadata)


def load(path: Path) -> ModelFile:
    """Read and verify a model file."""
    path = Path(path)
    if not path.is_file():
        raise ModelFileError(
            f"Model file {path} does not exist; train one with 'dietnet train'."
        )
    try:
        with safe_open(str(path), framework="np") as handle:
            metadata = handle.metadata() or {}
            tensors = {name: handle.get_tensor(name) for name in handle.keys()}
    except (SafetensorError, OSError, ValueError, Exception) as error:
        raise ModelFileError(
            f"{path} is not a dietnet model file ({str(error).splitlines()[0]}); "
            "give a file written by 'dietnet train'."
        ) from None
    if "dietnet" not in metadata or "checksum" not in metadata:
        raise ModelFileError(
            f"{path} is a safetensors file but not a dietnet model; give a file "
            "written by 'dietnet train'."
        )
    if _checksum(metadata["dietnet"], tensors) != metadata["checksum"]:
        raise ModelFileError(
            f"Model file {path} fails its checksum: it was altered or damaged "
            "after training; use an intact copy."
        )
    document = json.loads(metadata["dietnet"])
    if (
        document.get("format") != FORMAT
        or document.get("format_version", 0) > FORMAT_VERSION
    ):
        raise ModelFileError(
            f"Model file {path} has format {document.get('format')} version "
            f"{document.get('format_version')}, which this dietnet cannot read; "
            "upgrade dietnet."
        )
    variants = document["variants"]
    return ModelFile(
        model_config=document["model_config"],
        train_config=document["train_config"],
        classes=tuple(document["classes"]),
        group_of=document["group_of"],
        variants=ModelVariants(
            chrom=tuple(variants["chrom"]),
            position=tensors["variants.position"],
            variant_id=tuple(variants["id"]),
            ref=tuple(variants["ref"]),
            alt=tuple(variants["alt"]),
        ),
        build=document["build"],
        temperature=float(document["temperature"]),
        weights={
            name[len("model.") :]: array
            for name, array in tensors.items()
            if name.startswith("model.")
        },
        class_counts=tensors["embedding.class_counts"],
        metrics=document["metrics"],
        dataset_checksum=document["dataset_checksum"],
        provenance=document["provenance"],
        dietnet_version=document.get("dietnet_version", ""),
    )


def file_checksum(path: Path) -> str:
    """The content checksum stored in a model file's header."""
    with safe_open(str(path), framework="np") as handle:
        return (handle.metadata() or {}).get("checksum", "")
