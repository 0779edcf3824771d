"""Matching input SNPs to a model's variants."""

import numpy as np
import pytest

from dietnet_cli import harmonize
from dietnet_cli.genotypes import VariantBlock


def block(chrom, position, ref, alt, dosage=None):
    num = len(chrom)
    if dosage is None:
        dosage = np.zeros((2, num), dtype=np.int8)
    return VariantBlock(
        chrom=list(chrom),
        position=np.array(position, dtype=np.int64),
        variant_id=["."] * num,
        ref=list(ref),
        alt=list(alt),
        dosage=np.asarray(dosage, dtype=np.int8),
    )


def matcher():
    return harmonize.VariantMatcher(
        ("1", "1", "2", "2", "chr3"),
        np.array([100, 200, 300, 400, 500]),
        ("A", "A", "C", "G", "A"),
        ("G", "T", "T", "C", "C"),
    )


class TestOrientation:
    @pytest.mark.parametrize(
        ("ref", "alt", "expected"),
        [
            ("A", "G", harmonize.SAME),
            ("G", "A", harmonize.SWAPPED),
            ("T", "C", harmonize.FLIPPED),
            ("C", "T", harmonize.FLIPPED_SWAPPED),
            ("A", "C", None),
        ],
    )
    def test_non_palindromic(self, ref, alt, expected):
        assert harmonize.orientation(ref, alt, "A", "G") == expected

    @pytest.mark.parametrize(
        ("ref", "alt", "expected"),
        [("A", "T", harmonize.SAME), ("T", "A", None), ("G", "C", None)],
    )
    def test_palindromic_only_identical(self, ref, alt, expected):
        assert harmonize.orientation(ref, alt, "A", "T") == expected

    def test_palindromic_detection(self):
        assert harmonize.is_palindromic("A", "T")
        assert harmonize.is_palindromic("G", "C")
        assert not harmonize.is_palindromic("A", "G")


class TestMatcher:
    def test_chr_prefix_swap_flip(self):
        found = matcher()
        result = found.match(
            block(
                ["chr1", "chr1", "2", "2", "3"],
                [100, 200, 300, 400, 500],
                ["G", "A", "G", "G", "A"],
                ["A", "T", "A", "C", "C"],
            )
        )
        assert result.model_index.tolist() == [0, 1, 2, 3, 4]
        assert result.swap.tolist() == [True, False, False, False, False]
        counts = found.counts
        assert (counts.same, counts.swapped, counts.flipped) == (3, 1, 1)

    def test_mismatch_and_absent(self):
        found = matcher()
        result = found.match(
            block(["1", "1", "5"], [100, 150, 100], ["A", "A", "A"], ["C", "G", "G"])
        )
        assert len(result.model_index) == 0
        assert found.counts.allele_mismatch == 1
        assert found.counts.on_model_contigs == 2
        assert found.counts.at_model_positions == 1

    def test_duplicates_in_one_block_are_dropped(self):
        found = matcher()
        result = found.match(
            block(["1", "1", "2"], [100, 100, 300], ["A", "A", "C"], ["G", "G", "T"])
        )
        assert result.model_index.tolist() == [2]
        assert found.counts.duplicate == 2
        assert found.counts.found == 1

    def test_duplicate_in_later_block_is_ignored(self):
        found = matcher()
        found.match(block(["1"], [100], ["A"], ["G"]))
        result = found.match(block(["1"], [100], ["A"], ["G"]))
        assert len(result.model_index) == 0
        assert found.counts.duplicate == 1

    def test_palindromic_swap_not_used(self):
        found = matcher()
        result = found.match(block(["1"], [200], ["T"], ["A"]))
        assert len(result.model_index) == 0
        assert found.counts.allele_mismatch == 1
