"""Tests of the in-memory genotype blocks' helpers."""

import numpy as np
import pytest

from dietnet_cli.genotypes import alt_alleles, to_sample_major


class TestSampleMajor:
    @pytest.mark.parametrize("shape", [(1, 1), (3, 1300), (1030, 700), (512, 1024)])
    def test_sample_major_copy(self, shape):
        variant_major = np.random.default_rng(0).integers(-1, 3, shape).astype(np.int8)
        copy = to_sample_major(variant_major)
        assert copy.flags.c_contiguous
        np.testing.assert_array_equal(copy, variant_major.T)


class TestAltAlleles:
    @pytest.mark.parametrize(
        ("alt", "alleles"),
        [(".", []), ("A", ["A"]), ("A,C", ["A", "C"]), ("A,", ["A", "."]), ("", ["."])],
    )
    def test_as_htslib_gives_them(self, alt, alleles):
        assert alt_alleles(alt) == alleles
