"""Which variants a dataset keeps: repeats, within and across readers."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from dietnet_cli import dataset
from dietnet_cli.genotypes import VariantBlock
from dietnet_cli.variantfilter import (
    Filters,
    PartResult,
    SeenVariants,
    column_counts,
    keep,
)


def test_repeats_are_found_across_and_within_blocks(tmp_path):
    """The bulk check of repeated variants: within a block, across blocks,
    under another contig name or base case, and beyond 2**36."""

    def block(records):
        chrom, position, ref, alt = zip(*records, strict=True)
        dosage = np.tile(np.array([[0], [1], [2]], dtype=np.int8), len(records))
        return VariantBlock(
            list(chrom),
            np.array(position, dtype=np.int64),
            [f"v{p}" for p in position],
            list(ref),
            list(alt),
            dosage,
        )

    far = 1 << 37
    blocks = [
        [("1", 10, "A", "G"), ("1", 20, "C", "T"), ("2", 10, "A", "G")],
        [("chr1", 10, "A", "G"), ("1", 30, "G", "A"), ("1", 30, "G", "A")],
        [("1", 20, "c", "t"), ("1", 20, "C", "A"), ("3", far, "A", "C")],
        [("3", far, "A", "C"), ("3", far + 1, "A", "C")],
        [("5", -5, "A", "G"), ("6", -5, "A", "G"), ("6", -5, "A", "G")],
    ]
    result = PartResult(store=dataset.BlockStore(tmp_path / "unused", 3, 1 << 20))
    seen = SeenVariants()
    for records in blocks:
        keep(block(records), result, Filters(), None, seen)
    positions = np.concatenate(result.position).tolist()
    kept = list(zip(result.chrom, positions, strict=True))
    assert kept == [
        ("1", 10), ("1", 20), ("2", 10), ("1", 30), ("1", 20), ("3", far),
        ("3", far + 1), ("5", -5), ("6", -5),
    ]  # fmt: skip
    assert result.alt == ["G", "T", "G", "A", "A", "C", "C", "G", "G"]
    assert result.dropped == Counter(duplicate=5)


def test_keys_of_two_readers_compare_once_renumbered(tmp_path):
    """Readers of two parts number contigs as they meet them; renumbered,
    their keys match exactly where the variants do (integer and tuple keys)."""

    def seen_in(blocks):
        seen = SeenVariants()
        for records in blocks:
            chrom, position, ref, alt = zip(*records, strict=True)
            block = VariantBlock(
                list(chrom),
                np.array(position, dtype=np.int64),
                ["."] * len(records),
                list(ref),
                list(alt),
                np.zeros((1, len(records)), dtype=np.int8),
            )
            seen.add_if_new(seen.keys(block, np.arange(len(records))))
        return seen

    far = 1 << 37
    # Contig 1 comes first to one reader, contig 3 to the other.
    first = [[("1", 10, "A", "G")], [("2", 5, "C", "T"), ("3", far, "A", "C")]]
    second = [[("3", far, "A", "C")], [("2", 5, "C", "T"), ("1", 11, "A", "G")]]
    numbers: dict[str, int] = {}
    keys_one = seen_in(first).renumbered(numbers)
    keys_two = seen_in(second).renumbered(numbers)
    assert len(keys_one & keys_two) == 2
    assert sorted(numbers) == ["1", "2", "3"]
    assert sorted(numbers.values()) == [0, 1, 2]
    # Without renumbering the same variants would have other keys.
    assert len(seen_in(first).seen & seen_in(second).seen) < 2
    described = sorted(SeenVariants.describe(key, numbers) for key in keys_one)
    assert described == ["1:10", "2:5", f"3:{far}"]


class TestColumnCounts:
    @pytest.mark.parametrize("num_samples", [1, 62, 63, 64, 200, 2504])
    def test_against_a_direct_count(self, num_samples):
        rng = np.random.default_rng(num_samples)
        dosage = rng.integers(-1, 3, size=(num_samples, 37)).astype(np.int8)
        dosage[:, 0] = 2  # sums far beyond int8
        dosage[:, 1] = -1
        missing, alt_count = column_counts(dosage)
        np.testing.assert_array_equal(missing, (dosage < 0).sum(axis=0))
        np.testing.assert_array_equal(alt_count, np.where(dosage > 0, dosage, 0).sum(0))
        assert alt_count[0] == 2 * num_samples
        assert missing[1] == num_samples
