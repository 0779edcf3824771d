"""The dataset directory: the contract between ``prepare`` and later stages.

A dataset directory holds

``genotypes.npy``
    int8, shape (num_samples, num_variants): copies of the ALT allele (0, 1,
    2), -1 = missing. Open it with ``numpy.load(path, mmap_mode="r")``.
``samples.tsv``
    ``sample_id``, ``label`` and, when the label file had one, ``group``; in
    matrix row order.
``variants.tsv``
    ``chrom``, ``pos``, ``id``, ``ref``, ``alt``, ``alt_frequency``,
    ``missing_rate``; in matrix column order, chromosome names as in the
    input.
``manifest.json``
    Provenance, inputs with checksums, filters, counts, genome build and the
    dataset checksum that models and embeddings refer to.
"""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import io
import json
import logging
import mmap
import os
import re
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from dietnet_cli import allocator, provenance
from dietnet_cli.errors import DatasetError

logger = logging.getLogger(__name__)

GENOTYPES = "genotypes.npy"
SAMPLES = "samples.tsv"
VARIANTS = "variants.tsv"
MANIFEST = "manifest.json"
FORMAT_VERSION = 1

VARIANT_COLUMNS = ("chrom", "pos", "id", "ref", "alt", "alt_frequency", "missing_rate")


# Characters for which the csv module quotes a field of a table.
_NEEDS_QUOTES = re.compile(r'[\t\n\r"]')
_VARIANT_ROW = "\t".join(["{}"] * len(VARIANT_COLUMNS)) + "\n"


@dataclass(frozen=True)
class VariantTable:
    """Per-variant description, in genotype-matrix column order."""

    chrom: tuple[str, ...]
    position: np.ndarray  # (num_variants,) int64
    variant_id: tuple[str, ...]
    ref: tuple[str, ...]
    alt: tuple[str, ...]
    alt_frequency: np.ndarray  # (num_variants,) float64, among called genotypes
    missing_rate: np.ndarray  # (num_variants,) float64

    def __len__(self) -> int:
        return len(self.chrom)

    def write_tsv(self, path: Path) -> VariantTable:
        """Write the table; return it as :meth:`read_tsv` reads it back (the
        frequencies at the six significant digits written)."""
        number = "{:.6g}".format
        alt_frequency = list(map(number, np.asarray(self.alt_frequency).tolist()))
        missing_rate = list(map(number, np.asarray(self.missing_rate).tolist()))
        columns = (
            self.chrom,
            self.position.tolist(),
            self.variant_id,
            self.ref,
            self.alt,
            alt_frequency,
            missing_rate,
        )
        if len({len(column) for column in columns}) != 1:
            raise ValueError("The variant table's columns differ in length.")
        with open(path, "w", newline="") as handle:
            writer = csv.writer(handle, delimiter="\t", lineterminator="\n")
            writer.writerow(VARIANT_COLUMNS)
            text = [self.chrom, self.variant_id, self.ref, self.alt]
            if any(_NEEDS_QUOTES.search("".join(column)) for column in text):
                writer.writerows(zip(*columns, strict=True))
            else:  # what csv writes, written faster
                handle.write("".join(map(_VARIANT_ROW.format, *columns)))
        return dataclasses.replace(
            self,
            position=np.asarray(self.position, dtype=np.int64),
            alt_frequency=np.array(alt_frequency, dtype=np.float64),
            missing_rate=np.array(missing_rate, dtype=np.float64),
        )

    @classmethod
    def read_tsv(cls, path: Path) -> VariantTable:
        with open(path, newline="") as handle:
            rows = list(csv.reader(handle, delimiter="\t"))
        if not rows or tuple(rows[0][:5]) != VARIANT_COLUMNS[:5]:
            raise DatasetError(
                f"{path} does not start with the header "
                f"{' '.join(VARIANT_COLUMNS)}; re-run dietnet prepare."
            )
        columns = list(zip(*rows[1:], strict=True)) if len(rows) > 1 else [()] * 7
        return cls(
            chrom=tuple(columns[0]),
            position=np.array(columns[1], dtype=np.int64),
            variant_id=tuple(columns[2]),
            ref=tuple(columns[3]),
            alt=tuple(columns[4]),
            alt_frequency=np.array(columns[5], dtype=np.float64),
            missing_rate=np.array(columns[6], dtype=np.float64),
        )


@dataclass(frozen=True)
class Dataset:
    """An opened dataset directory."""

    path: Path
    # (num_samples, num_variants) int8 memory map, -1 = missing.
    genotypes: np.ndarray
    sample_id: tuple[str, ...]
    label: tuple[str, ...]
    group: tuple[str, ...] | None
    variants: VariantTable
    manifest: dict

    @property
    def num_samples(self) -> int:
        return self.genotypes.shape[0]

    @property
    def num_variants(self) -> int:
        return self.genotypes.shape[1]

    @property
    def checksum(self) -> str:
        return self.manifest["dataset_checksum"]

    @property
    def build(self) -> str | None:
        return self.manifest.get("genome_build")

    def genotype_rows(self) -> GenotypeRows:
        """The genotype matrix read by ``pread`` instead of a memory map."""
        return GenotypeRows(
            self.path / GENOTYPES, self.genotypes.shape, self.genotypes.offset
        )

    def classes(self) -> list[str]:
        """The distinct labels, sorted."""
        return sorted(set(self.label))

    def group_of(self) -> dict[str, str]:
        """Map label → group; empty when the dataset has no groups."""
        if self.group is None:
            return {}
        return dict(zip(self.label, self.group, strict=True))


class GenotypeRows:
    """Rows of ``genotypes.npy``, read from the file on demand.

    ``rows[index]`` and ``rows[index, start:stop]`` return a new
    (len(index), num_columns) int8 array, as the same index of the memory
    map would, but the pages read stay in the kernel's page cache instead of
    the process's resident set: training visits every row each epoch, and a
    memory map would make the whole matrix count as the trainer's memory.
    """

    def __init__(self, path: Path, shape: tuple[int, int], offset: int) -> None:
        # The file is a row-major int8 .npy (open_dataset checked it); its
        # data start ``offset`` bytes in.
        self._descriptor: int | None = None
        self.shape = shape
        self.dtype = np.dtype(np.int8)
        self.ndim = 2
        self._offset = offset
        self._path = path

    def __len__(self) -> int:
        return self.shape[0]

    def __getitem__(self, index) -> np.ndarray:
        columns = slice(None)
        if isinstance(index, tuple):
            index, columns = index
        if not isinstance(columns, slice) or columns.step not in (None, 1):
            raise TypeError("GenotypeRows takes rows and a column range.")
        start, stop, _ = columns.indices(self.shape[1])
        stop = max(start, stop)
        rows = np.arange(self.shape[0])[index]
        if self._descriptor is None:
            self._descriptor = os.open(self._path, os.O_RDONLY)
        # (num_rows, stop - start) int8, -1 = missing
        out = np.empty((np.size(rows), stop - start), dtype=np.int8)
        for position, row in enumerate(np.atleast_1d(rows).tolist()):
            where = self._offset + row * self.shape[1] + start
            if os.preadv(self._descriptor, [out[position]], where) != out.shape[1]:
                raise DatasetError(
                    f"{self._path} is shorter than its header says; re-run "
                    "dietnet prepare."
                )
        return out if np.ndim(rows) else out[0]

    def close(self) -> None:
        """Close the file; a later read opens it again."""
        if getattr(self, "_descriptor", None) is not None:
            os.close(self._descriptor)
            self._descriptor = None

    def __enter__(self) -> GenotypeRows:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __del__(self) -> None:
        self.close()


def open_dataset(path: str | Path) -> Dataset:
    """Open a dataset directory written by ``dietnet prepare``."""
    path = Path(path)
    if not path.is_dir():
        raise DatasetError(
            f"Dataset {path} is not a directory; create one with "
            "'dietnet prepare INPUT --labels LABELS -o DATASET'."
        )
    missing = [
        name
        for name in (GENOTYPES, SAMPLES, VARIANTS, MANIFEST)
        if not (path / name).is_file()
    ]
    if missing:
        raise DatasetError(
            f"Directory {path} is not a dietnet dataset (no {', '.join(missing)}); "
            "create one with 'dietnet prepare'."
        )
    try:
        manifest = json.loads((path / MANIFEST).read_text())
        genotypes = np.load(path / GENOTYPES, mmap_mode="r")
    except (ValueError, OSError) as error:
        raise DatasetError(
            f"Dataset {path} is damaged ({error}); re-run dietnet prepare."
        ) from None
    if (
        genotypes.dtype != np.int8
        or genotypes.ndim != 2
        or not genotypes.flags.c_contiguous
    ):
        raise DatasetError(
            f"Dataset {path}: {GENOTYPES} is not a row-major 2-D int8 matrix; re-run "
            "dietnet prepare."
        )
    sample_id, label, group = _read_samples(path / SAMPLES)
    variants = VariantTable.read_tsv(path / VARIANTS)
    if genotypes.shape != (len(sample_id), len(variants)):
        raise DatasetError(
            f"Dataset {path} is inconsistent: {GENOTYPES} has shape "
            f"{genotypes.shape} but {SAMPLES} lists {len(sample_id)} samples and "
            f"{VARIANTS} {len(variants)} variants; re-run dietnet prepare."
        )
    if "dataset_checksum" not in manifest:
        raise DatasetError(
            f"Dataset {path}: {MANIFEST} has no dataset_checksum; re-run "
            "dietnet prepare."
        )
    return Dataset(
        path=path,
        genotypes=genotypes,
        sample_id=sample_id,
        label=label,
        group=group,
        variants=variants,
        manifest=manifest,
    )


def _read_samples(
    path: Path,
) -> tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...] | None]:
    with open(path, newline="") as handle:
        rows = list(csv.reader(handle, delimiter="\t"))
    if not rows or rows[0][:2] != ["sample_id", "label"]:
        raise DatasetError(
            f"{path} does not start with the header sample_id, label; re-run "
            "dietnet prepare."
        )
    has_group = len(rows[0]) > 2 and rows[0][2] == "group"
    body = rows[1:]
    return (
        tuple(row[0] for row in body),
        tuple(row[1] for row in body),
        tuple(row[2] for row in body) if has_group else None,
    )


def write_samples(
    path: Path,
    sample_id: list[str],
    label: list[str],
    group: list[str] | None,
) -> None:
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle, delimiter="\t", lineterminator="\n")
        writer.writerow(
            ["sample_id", "label", "group"] if group else ["sample_id", "label"]
        )
        if group:
            writer.writerows(zip(sample_id, label, group, strict=True))
        else:
            writer.writerows(zip(sample_id, label, strict=True))


def matrix_digest(path: Path) -> Any:
    """The SHA-256 state after the genotype matrix of dataset ``path``, for
    :func:`dataset_checksum` (hashlib releases the GIL, so this can run in a
    thread while the tables are written)."""
    digest = hashlib.sha256()
    provenance.hash_file(digest, path / GENOTYPES)
    return digest


def dataset_checksum(path: Path, matrix: Any = None) -> str:
    """SHA-256 over the genotype matrix, sample and variant tables.

    ``matrix`` is :func:`matrix_digest` of ``path`` when already computed.
    """
    digest = matrix_digest(path) if matrix is None else matrix.copy()
    for name in (SAMPLES, VARIANTS):
        provenance.hash_file(digest, path / name)
    return digest.hexdigest()


def write_manifest(path: Path, manifest: dict) -> None:
    (path / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")


class BlockStore:
    """Genotype blocks kept in order, in memory while they fit, else in a
    scratch file.

    Each block is (num_samples, width) int8, sample-major, so the final
    matrix can be assembled column range by column range without holding
    more than a group of blocks in memory. The first blocks stay in memory
    up to ``memory_bytes``; at the first block beyond it, all of them go to
    the scratch file ``path``, and so does every later block.
    """

    def __init__(
        self,
        path: Path,
        num_samples: int,
        memory_bytes: int = 0,
        *,
        announce: bool = False,
    ) -> None:
        self.path = Path(path)
        self.num_samples = num_samples
        self.memory_bytes = memory_bytes
        self.widths: list[int] = []
        self.blocks: list[np.ndarray] = []  # held in memory, not yet spilled
        self._held = 0
        self._handle = None
        self._spilled = False
        # With announce, each block written to the scratch file is then
        # announced by its width in a second file (see BlockReader).
        self.announced = announce
        self._announce = (
            os.open(
                widths_path(self.path), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o666
            )
            if announce
            else None
        )

    def append(self, dosage: np.ndarray) -> None:
        """Store a (num_samples, width) int8 block; it must not change later."""
        if dosage.shape[1] == 0:
            return
        block = np.ascontiguousarray(dosage, dtype=np.int8)
        self.widths.append(block.shape[1])
        if not self._spilled and self._held + block.nbytes <= self.memory_bytes:
            self.blocks.append(block)
            self._held += block.nbytes
            return
        if not self._spilled:
            self._handle = open(self.path, "wb")
            self._spilled = True
            if self.blocks:
                for held in self.blocks:
                    self._write(held)
                self.blocks.clear()
                del held  # the loop variable would keep the last block
                self._held = 0
                # dietnet keeps freed memory for reuse; without this, the
                # blocks' memory would stay in the process to its end.
                allocator.release_freed_memory()
        self._write(block)

    def _write(self, block: np.ndarray) -> None:
        """Append a block to the scratch file (and announce it)."""
        block.tofile(self._handle)
        if self._announce is not None:
            self._handle.flush()
            os.write(self._announce, block.shape[1].to_bytes(8, "little"))

    def close(self) -> None:
        # Dropping the handle lets a worker process send the store back.
        if self._handle is not None:
            self._handle.close()
            self._handle = None
        if self._announce is not None:
            os.close(self._announce)
            self._announce = None

    def discard(self) -> None:
        """Drop the blocks and the scratch file."""
        self.close()
        self.blocks, self._held = [], 0
        self.path.unlink(missing_ok=True)
        widths_path(self.path).unlink(missing_ok=True)

    @property
    def in_memory(self) -> bool:
        """Whether every block is held in memory."""
        return not self._spilled

    @property
    def num_variants(self) -> int:
        return sum(self.widths)

    def arrays(self) -> list[np.ndarray]:
        """The blocks in order: those held, or views of the scratch file
        mapped read-only (its pages are the page cache's, not new memory)."""
        if self.in_memory:
            return self.blocks
        mapped = _map(self.path)
        blocks = []
        at = 0
        for width in self.widths:
            size = self.num_samples * width
            blocks.append(mapped[at : at + size].reshape(self.num_samples, width))
            at += size
        return blocks

    def iter_blocks(self, start: int = 0) -> Iterator[np.ndarray]:
        """The blocks in order from block ``start`` on, each (num_samples,
        width) int8."""
        if self.in_memory:
            yield from self.blocks[start:]
            return
        if start >= len(self.widths):
            return
        with open(self.path, "rb") as handle:
            handle.seek(self.num_samples * sum(self.widths[:start]))
            for width in self.widths[start:]:
                block = np.fromfile(
                    handle, dtype=np.int8, count=self.num_samples * width
                )
                yield block.reshape(self.num_samples, width)


def widths_path(path: Path) -> Path:
    """Where a :class:`BlockStore` at ``path`` announces its blocks."""
    return Path(path).with_name(Path(path).name + ".widths")


class BlockReader:
    """The blocks of a :class:`BlockStore` that another process is still
    writing with ``announce``: each block as soon as its width is announced
    (the block's bytes are then all written), mapped read-only."""

    def __init__(self, path: Path, num_samples: int) -> None:
        self.path = Path(path)
        self.num_samples = num_samples
        self.count = 0  # blocks returned so far
        self._at = 0  # their bytes in the scratch file
        self._widths_at = 0  # bytes of the widths file read
        self._waiting: list[int] = []  # widths announced, not yet returned

    def new_blocks(self, max_bytes: int = 1 << 25) -> list[np.ndarray]:
        """The blocks announced since the last call, up to ``max_bytes`` of
        them (at least one), so that no more than that is mapped at once."""
        try:
            with open(widths_path(self.path), "rb") as handle:
                handle.seek(self._widths_at)
                data = handle.read()
        except FileNotFoundError:
            data = b""
        data = data[: len(data) // 8 * 8]  # a width half written waits
        self._widths_at += len(data)
        self._waiting += np.frombuffer(data, dtype="<i8").tolist()
        widths: list[int] = []
        size = 0
        for width in self._waiting:
            if widths and size + self.num_samples * width > max_bytes:
                break
            widths.append(width)
            size += self.num_samples * width
        if not widths:
            return []
        del self._waiting[: len(widths)]
        flat = _map(self.path, self._at, size)
        blocks = []
        at = 0
        for width in widths:
            count = self.num_samples * width
            blocks.append(flat[at : at + count].reshape(self.num_samples, width))
            at += count
        self._at += size
        self.count += len(widths)
        return blocks


class MatrixFullError(ValueError):
    """More variants than a :class:`MatrixWriter` was laid out for."""


class MatrixWriter:
    """Blocks written straight into the genotype matrix file, for a reader
    that knows an upper bound of the variants it keeps (a PLINK fileset's
    .bim, the record count of a VCF's index): the matrix's bytes are
    written once, with no more than ``group_bytes`` of blocks held.

    The file is laid out for ``capacity`` columns (sparse until written);
    :meth:`finish` closes the gap at the end of each row when fewer were
    kept. It has the interface of :class:`BlockStore` as far as a reader
    uses it.
    """

    def __init__(
        self,
        path: Path,
        num_samples: int,
        capacity: int,
        *,
        group_bytes: int = 1 << 25,
    ) -> None:
        self.path = Path(path)
        self.num_samples = num_samples
        self.capacity = capacity
        self.group_bytes = group_bytes
        self.widths: list[int] = []
        self._pending: list[np.ndarray] = []
        self._pending_bytes = 0
        self._written = 0  # columns written to the file
        matrix = np.lib.format.open_memmap(
            self.path, mode="w+", dtype=np.int8, shape=(num_samples, capacity)
        )
        self._offset = matrix.offset
        del matrix
        self._descriptor: int | None = os.open(self.path, os.O_RDWR)
        self._finished = False

    @property
    def num_variants(self) -> int:
        return sum(self.widths)

    def append(self, dosage: np.ndarray) -> None:
        """Add a (num_samples, width) int8 block after the previous ones."""
        width = dosage.shape[1]
        if width == 0:
            return
        if self.num_variants + width > self.capacity:
            raise MatrixFullError(f"More than the {self.capacity} variants planned.")
        block = np.ascontiguousarray(dosage, dtype=np.int8)
        self._pending.append(block)
        self._pending_bytes += block.nbytes
        self.widths.append(width)
        if self._pending_bytes >= self.group_bytes:
            self._flush()

    def _flush(self) -> None:
        """Write the pending blocks, each row's share with one ``pwritev``."""
        if self._pending:
            self._written = _write_columns(
                self._descriptor,
                self._offset,
                self.capacity,
                self._pending,
                self._written,
            )
            self._pending, self._pending_bytes = [], 0

    def close(self) -> None:
        """Write what is pending; the file stays open until :meth:`finish`."""
        self._flush()

    def finish(self) -> None:
        """Close the gaps of unused columns and give the file its shape."""
        self._flush()
        total = self.num_variants
        descriptor = self._descriptor
        if total < self.capacity:
            header = self._header(total)
            for row in range(1, self.num_samples):
                source = self._offset + row * self.capacity
                data = os.pread(descriptor, total, source)
                if len(data) != total:
                    raise OSError(f"Short read of {self.path} at byte {source}.")
                _pwrite_all(descriptor, memoryview(data), self._offset + row * total)
            os.ftruncate(descriptor, self._offset + self.num_samples * total)
            _pwrite_all(descriptor, memoryview(header), 0)
        os.close(descriptor)
        self._descriptor = None
        self._finished = True

    def _header(self, total: int) -> bytes:
        """The .npy header of (num_samples, total) int8: as long as the one
        written for the capacity (both fit the 128 bytes numpy pads a
        two-number shape to)."""
        buffer = io.BytesIO()
        np.lib.format.write_array_header_1_0(
            buffer,
            {
                "descr": "|i1",
                "fortran_order": False,
                "shape": (self.num_samples, total),
            },
        )
        if len(buffer.getvalue()) != self._offset:
            raise ValueError("The matrix header changed length.")
        return buffer.getvalue()

    def discard(self) -> None:
        """Remove the file, unless it was finished (it is then the result)."""
        if self._descriptor is not None:
            os.close(self._descriptor)
            self._descriptor = None
        if not self._finished:
            self.path.unlink(missing_ok=True)


def _map(path: Path, start: int = 0, size: int | None = None) -> np.ndarray:
    """``size`` bytes of a file from byte ``start`` on (to its end when
    None), mapped read-only: int8, (size,). Their pages are mapped up front
    where the system can (``MAP_POPULATE``), which writing them out then
    takes a third less time than faulting them in one at a time."""
    if size is None:
        size = os.path.getsize(path) - start
    if size == 0:
        return np.zeros(0, dtype=np.int8)
    if not hasattr(mmap, "MAP_SHARED"):  # Windows
        return np.memmap(path, dtype=np.int8, mode="r", offset=start, shape=size)
    aligned = start - start % mmap.ALLOCATIONGRANULARITY
    with open(path, "rb") as handle:
        mapped = mmap.mmap(
            handle.fileno(),
            start + size - aligned,
            flags=mmap.MAP_SHARED | getattr(mmap, "MAP_POPULATE", 0),
            prot=mmap.PROT_READ,
            offset=aligned,
        )
    return np.frombuffer(mapped, dtype=np.int8, offset=start - aligned)


def assemble_genotypes(
    stores: list[BlockStore],
    out_path: Path,
    *,
    group_bytes: int = 1 << 26,
    map_bytes: int = 0,
) -> Any:
    """Write the blocks of ``stores``, in order, as one (num_samples, total)
    int8 ``.npy`` matrix.

    When every block is in memory, or the matrix is no larger than
    ``map_bytes`` (its scratch files are then mapped), the file is written
    front to back, a group of whole rows at a time, and hashed on the way:
    the SHA-256 state over the file's bytes is returned, for
    :func:`dataset_checksum`. Otherwise it is written a group of blocks at a
    time, each sample's share of the group where its row lies, and None is
    returned.
    """
    num_samples = stores[0].num_samples
    if any(store.num_samples != num_samples for store in stores):
        raise ValueError("Block stores of different numbers of samples.")
    total = sum(store.num_variants for store in stores)
    matrix = np.lib.format.open_memmap(
        out_path, mode="w+", dtype=np.int8, shape=(num_samples, total)
    )
    # Sample i's row starts at byte offset + i * total of the file.
    offset = matrix.offset
    del matrix
    with open(out_path, "r+b", buffering=0) as out:
        if all(store.in_memory for store in stores) or num_samples * total <= map_bytes:
            blocks = [block for store in stores for block in store.arrays()]
            digest = hashlib.sha256(os.pread(out.fileno(), offset, 0))
            _write_rows(out.fileno(), offset, total, blocks, group_bytes, digest)
            return digest
        column = 0
        for store in stores:
            pending: list[np.ndarray] = []
            pending_bytes = 0
            for block in store.iter_blocks():
                pending.append(block)
                pending_bytes += block.nbytes
                if pending_bytes >= group_bytes:
                    column = _write_columns(
                        out.fileno(), offset, total, pending, column
                    )
                    pending, pending_bytes = [], 0
            if pending:
                column = _write_columns(out.fileno(), offset, total, pending, column)
    return None


def _write_rows(
    descriptor: int,
    offset: int,
    total: int,
    blocks: list[np.ndarray],
    group_bytes: int,
    digest: Any,
) -> None:
    """Write sample-major blocks side by side as a matrix of ``total``
    columns starting ``offset`` bytes into the file, whole rows at a time.

    Two buffers take turns: while one is written, a thread adds the other
    to ``digest`` (hashlib lets go of the GIL).
    """
    num_samples = blocks[0].shape[0]
    rows = max(1, min(num_samples, group_bytes // 2 // max(total, 1)))
    buffers = [np.empty((rows, total), dtype=np.int8) for _ in range(2)]
    hashed: list[Future | None] = [None, None]
    with ThreadPoolExecutor(max_workers=1) as hasher:
        for turn, start in enumerate(range(0, num_samples, rows)):
            stop = min(start + rows, num_samples)
            which = turn % 2
            if hashed[which] is not None:
                hashed[which].result()
            buffer = buffers[which][: stop - start]
            column = 0
            for block in blocks:
                width = block.shape[1]
                buffer[:, column : column + width] = block[start:stop]
                column += width
            data = memoryview(buffer).cast("B")
            # one hashing thread takes the buffers in file order
            hashed[which] = hasher.submit(digest.update, data)
            _pwrite_all(descriptor, data, offset + start * total)
        for future in hashed:
            if future is not None:
                future.result()


def _pwrite_all(descriptor: int, data: memoryview, where: int) -> None:
    """``pwrite`` all of ``data``, however many calls it takes."""
    while data:
        written = os.pwrite(descriptor, data, where)
        data, where = data[written:], where + written


def _write_columns(
    descriptor: int, offset: int, total: int, blocks: list[np.ndarray], column: int
) -> int:
    """Write sample-major blocks side by side from ``column`` on, in a matrix
    of ``total`` columns starting ``offset`` bytes into the file; return the
    column after them.

    Each sample's part of the group is one contiguous run of the file, so it
    is written with ``pwritev`` straight from the blocks' rows (as few calls
    as the system's limit on buffers per call allows): faster than
    assigning through a memory map, which faults in every page it touches,
    or than joining the blocks first.
    """
    blocks = [np.ascontiguousarray(block, dtype=np.int8) for block in blocks]
    for row in range(blocks[0].shape[0]):
        _pwritev_all(
            descriptor,
            [block[row] for block in blocks],
            offset + row * total + column,
        )
    return column + sum(block.shape[1] for block in blocks)


def _pwritev_all(descriptor: int, parts: list[np.ndarray], where: int) -> None:
    """Write ``parts`` one after another from byte ``where`` on, however many
    ``pwritev`` calls it takes."""
    at = 0
    while at < len(parts):
        batch = parts[at : at + _IOV_MAX]
        size = sum(part.nbytes for part in batch)
        written = os.pwritev(descriptor, batch, where)
        if written < size:  # a short write: the rest of the batch joined
            rest = memoryview(np.concatenate(batch)).cast("B")[written:]
            _pwrite_all(descriptor, rest, where + written)
        where += size
        at += len(batch)


# Buffers one pwritev may take (IOV_MAX: 1,024 on Linux; 16, the least
# POSIX allows, where the system does not say).
_IOV_MAX = max(os.sysconf("SC_IOV_MAX") if hasattr(os, "sysconf") else -1, 0) or 16
