"""The dataset directory's tables."""

from __future__ import annotations

import csv
import hashlib
import mmap
import os

import numpy as np
import pytest

from dietnet_cli import dataset, provenance


def table(ids: tuple[str, ...]) -> dataset.VariantTable:
    count = len(ids)
    rng = np.random.default_rng(5)
    return dataset.VariantTable(
        chrom=tuple(["1", "chr2", "X"][i % 3] for i in range(count)),
        position=np.arange(1, count + 1, dtype=np.int64) * 1000,
        variant_id=ids,
        ref=tuple("ACGT"[i % 4] for i in range(count)),
        alt=tuple("GTAC"[i % 4] for i in range(count)),
        alt_frequency=np.concatenate([[0.0, 1.0, 1e-7], rng.random(count - 3)]),
        missing_rate=np.concatenate([[0.5, 0.0, 1 / 3], rng.random(count - 3)]),
    )


class TestVariantTable:
    @pytest.mark.parametrize(
        "odd_id",
        [None, 'rs"1', "rs\t1", "a\nb"],
        ids=["plain", "quote", "tab", "newline"],
    )
    def test_written_as_csv_writes_it(self, tmp_path, odd_id):
        ids = tuple(f"rs{i}" for i in range(50))
        if odd_id is not None:
            ids = (*ids[:20], odd_id, *ids[21:])
        variants = table(ids)
        path = tmp_path / "variants.tsv"
        read_back = variants.write_tsv(path)
        with open(tmp_path / "reference.tsv", "w", newline="") as handle:
            writer = csv.writer(handle, delimiter="\t", lineterminator="\n")
            writer.writerow(dataset.VARIANT_COLUMNS)
            for row in zip(
                variants.chrom,
                variants.position.tolist(),
                variants.variant_id,
                variants.ref,
                variants.alt,
                variants.alt_frequency,
                variants.missing_rate,
                strict=True,
            ):
                writer.writerow([*row[:5], f"{row[5]:.6g}", f"{row[6]:.6g}"])
        assert path.read_bytes() == (tmp_path / "reference.tsv").read_bytes()
        loaded = dataset.VariantTable.read_tsv(path)
        assert loaded.variant_id == ids
        np.testing.assert_array_equal(loaded.alt_frequency, read_back.alt_frequency)
        np.testing.assert_allclose(loaded.missing_rate, variants.missing_rate, 1e-5)

    def test_columns_of_different_lengths_refused(self, tmp_path):
        variants = table(tuple(f"rs{i}" for i in range(10)))
        short = dataset.VariantTable(**{**variants.__dict__, "ref": variants.ref[:9]})
        with pytest.raises(ValueError, match="differ in length"):
            short.write_tsv(tmp_path / "variants.tsv")


def blocks_of(widths: list[int], num_samples: int = 3) -> list[np.ndarray]:
    rng = np.random.default_rng(len(widths))
    return [
        rng.integers(-1, 3, size=(num_samples, width)).astype(np.int8)
        for width in widths
    ]


class TestBlockStore:
    @pytest.mark.parametrize("memory_bytes", [0, 10**6])
    @pytest.mark.parametrize("start", [0, 1, 3, 4])
    def test_blocks_from_a_start(self, tmp_path, memory_bytes, start):
        blocks = blocks_of([2, 5, 1, 4])
        store = dataset.BlockStore(tmp_path / "s", 3, memory_bytes)
        for block in blocks:
            store.append(block)
        store.close()
        got = list(store.iter_blocks(start))
        assert len(got) == len(blocks) - start
        for one, two in zip(got, blocks[start:], strict=True):
            np.testing.assert_array_equal(one, two)
        store.discard()


class TestBlockReader:
    """Blocks of a store another process writes, read as they are announced."""

    def test_each_block_once_as_announced(self, tmp_path):
        blocks = blocks_of([2, 5, 1, 4, 3])
        store = dataset.BlockStore(tmp_path / "span-1", 3, announce=True)
        reader = dataset.BlockReader(tmp_path / "span-1", 3)
        assert reader.new_blocks() == []  # nothing written yet
        seen = []
        for number, block in enumerate(blocks):
            store.append(block)
            if number % 2:  # read every other time: one or two blocks
                seen += reader.new_blocks()
        store.close()
        # a data file, as the scratch file is, not an executable one
        assert dataset.widths_path(store.path).stat().st_mode & 0o111 == 0
        seen += reader.new_blocks()
        assert reader.new_blocks() == []
        assert reader.count == len(blocks)
        for one, two in zip(seen, blocks, strict=True):
            np.testing.assert_array_equal(one, two)
        store.discard()
        assert not list(tmp_path.iterdir())  # the widths file goes too

    def test_blocks_held_before_the_spill_are_announced(self, tmp_path):
        blocks = blocks_of([2, 5, 1, 4])
        # the first two fit in memory; the third spills them all
        store = dataset.BlockStore(tmp_path / "span-1", 3, 3 * 7, announce=True)
        reader = dataset.BlockReader(tmp_path / "span-1", 3)
        store.append(blocks[0])
        store.append(blocks[1])
        assert reader.new_blocks() == []
        store.append(blocks[2])
        store.append(blocks[3])
        store.close()
        got = reader.new_blocks()
        assert [block.shape[1] for block in got] == [2, 5, 1, 4]
        for one, two in zip(got, blocks, strict=True):
            np.testing.assert_array_equal(one, two)
        store.discard()

    def test_no_more_than_asked_for_at_a_time(self, tmp_path):
        blocks = blocks_of([2, 5, 1, 4, 3])
        store = dataset.BlockStore(tmp_path / "span-1", 3, announce=True)
        for block in blocks:
            store.append(block)
        store.close()
        reader = dataset.BlockReader(tmp_path / "span-1", 3)
        sizes = []
        got = []
        while batch := reader.new_blocks(max_bytes=3 * 6):
            sizes.append([block.shape[1] for block in batch])
            got += batch
        # 6 columns' worth at most, but never nothing
        assert sizes == [[2], [5, 1], [4], [3]]
        for one, two in zip(got, blocks, strict=True):
            np.testing.assert_array_equal(one, two)
        store.discard()

    def test_a_width_half_written_waits(self, tmp_path):
        (block,) = blocks_of([4])
        path = tmp_path / "span-1"
        block.tofile(path)
        widths = dataset.widths_path(path)
        widths.write_bytes((4).to_bytes(8, "little")[:5])
        reader = dataset.BlockReader(path, 3)
        assert reader.new_blocks() == []
        with open(widths, "ab") as handle:
            handle.write((4).to_bytes(8, "little")[5:])
        (got,) = reader.new_blocks()
        np.testing.assert_array_equal(got, block)


class TestHashFile:
    @pytest.mark.parametrize("size", [0, 1, 4096, None])
    def test_same_as_hashing_the_bytes(self, tmp_path, monkeypatch, size):
        window = mmap.ALLOCATIONGRANULARITY
        monkeypatch.setattr(provenance, "WINDOW_BYTES", window)
        size = int(3.5 * window) if size is None else size
        data = np.random.default_rng(size).bytes(size)
        path = tmp_path / "file"
        path.write_bytes(data)
        digest = hashlib.sha256()
        provenance.hash_file(digest, path)
        assert digest.hexdigest() == hashlib.sha256(data).hexdigest()

    def test_read_where_mapping_fails(self, tmp_path, monkeypatch):
        window = mmap.ALLOCATIONGRANULARITY
        monkeypatch.setattr(provenance, "WINDOW_BYTES", window)
        data = np.random.default_rng(0).bytes(int(2.5 * window))
        (tmp_path / "file").write_bytes(data)

        def refuse(*_args, **_kwargs):
            raise OSError("no mappings here")

        monkeypatch.setattr(provenance.mmap, "mmap", refuse)
        digest = hashlib.sha256()
        provenance.hash_file(digest, tmp_path / "file")
        assert digest.hexdigest() == hashlib.sha256(data).hexdigest()


class TestWriteColumns:
    """Blocks written side by side into a matrix file, row by row."""

    @pytest.mark.parametrize("num_blocks", [1, 3, 1025, 2100])
    def test_any_number_of_blocks(self, tmp_path, num_blocks):
        # more blocks than one pwritev takes (1,024 on Linux)
        rng = np.random.default_rng(num_blocks)
        widths = rng.integers(1, 4, size=num_blocks).tolist()
        blocks = blocks_of(widths, num_samples=2)
        writer = dataset.MatrixWriter(tmp_path / "g.npy", 2, sum(widths) + 5)
        for block in blocks:
            writer.append(block)
        writer.finish()
        np.testing.assert_array_equal(
            np.load(tmp_path / "g.npy"), np.concatenate(blocks, axis=1)
        )

    def test_short_writes(self, tmp_path, monkeypatch):
        pwritev = os.pwritev

        def short(descriptor, buffers, where):
            # at most 5 bytes, and from the first buffer alone
            return pwritev(descriptor, [memoryview(buffers[0]).cast("B")[:5]], where)

        monkeypatch.setattr(dataset.os, "pwritev", short)
        blocks = blocks_of([4, 7, 3], num_samples=3)
        writer = dataset.MatrixWriter(tmp_path / "g.npy", 3, 14)
        for block in blocks:
            writer.append(block)
        writer.finish()
        np.testing.assert_array_equal(
            np.load(tmp_path / "g.npy"), np.concatenate(blocks, axis=1)
        )
