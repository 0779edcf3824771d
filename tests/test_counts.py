"""Tests of the genotype and allele counts the embedding is made of."""

import numpy as np
import pytest
import torch

from dietnet_cli.counts import AlleleCounts, count_genotypes, leave_out

from .simulate import simulate_genotypes


@pytest.fixture(scope="module")
def data():
    genotypes, names = simulate_genotypes(
        num_per_class=30, num_classes=4, num_variants=400, fst=0.01, seed=3
    )
    labels = np.array([int(name[3:]) for name in names])
    train = np.sort(np.random.default_rng(0).permutation(len(labels))[:80])
    return genotypes, labels, train


class TestCounts:
    def test_tensor_counts_match_numpy_counts(self, data):
        genotypes, labels, _ = data
        counts = count_genotypes(torch.from_numpy(genotypes), labels, 5)
        expected = count_genotypes(genotypes, labels, 5)
        assert counts.shape == (400, 5, 3)  # class 4 has no samples
        np.testing.assert_array_equal(counts.numpy(), expected)

    @pytest.mark.parametrize("missing", [0.1, 0.0], ids=["missing", "all-called"])
    def test_leaving_a_batch_out_of_allele_counts(self, data, missing):
        genotypes, labels, train = data
        genotypes = genotypes.copy()
        genotypes[np.random.default_rng(2).random(genotypes.shape) < missing] = -1
        counts = torch.from_numpy(count_genotypes(genotypes[train], labels[train], 4))
        batch = train[::7]
        g, y = torch.from_numpy(genotypes[batch]), torch.from_numpy(labels[batch])
        left = leave_out(AlleleCounts.of(counts), g, y)
        rest = np.setdiff1d(train, batch)
        direct = count_genotypes(genotypes[rest], labels[rest], 4)
        expected = AlleleCounts.of(torch.from_numpy(direct))
        torch.testing.assert_close(left.alt, expected.alt)
        torch.testing.assert_close(left.total, expected.total)
        torch.testing.assert_close(leave_out(counts, g, y), torch.from_numpy(direct))
