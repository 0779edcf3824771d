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

    @pytest.mark.parametrize("threads", [2, 3, 8])
    @pytest.mark.parametrize("shape", [(0, 5), (5, 0), (7, 1), (1030, 2504)])
    def test_threads_and_floor(self, shape, threads):
        variant_major = (
            np.random.default_rng(1).integers(-127, 3, shape).astype(np.int8)
        )
        copy = to_sample_major(variant_major, floor=-1, threads=threads)
        assert copy.flags.c_contiguous
        np.testing.assert_array_equal(copy, np.maximum(variant_major, -1).T)


class TestAltAlleles:
    @pytest.mark.parametrize(
        ("alt", "alleles"),
        [(".", []), ("A", ["A"]), ("A,C", ["A", "C"]), ("A,", ["A", "."]), ("", ["."])],
    )
    def test_as_htslib_gives_them(self, alt, alleles):
        assert alt_alleles(alt) == alleles
