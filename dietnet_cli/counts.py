"""Genotype counts per variant and class: what a Diet Network's embedding
is made of.

``class_counts`` arrays are (num_variants, num_classes, 3): for each variant
and class, how many training samples carry 0, 1 or 2 copies of the ALT
allele (missing calls are not counted). The frequency embedding reads only
their ALT and called allele totals, :class:`AlleleCounts`, from which a
training batch is cheaply left out.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import torch
from torch import nn


def count_genotypes(
    genotypes: np.ndarray | torch.Tensor,
    labels: np.ndarray | torch.Tensor,
    num_classes: int,
) -> np.ndarray | torch.Tensor:
    """Count genotypes 0, 1 and 2 per variant and class.

    Parameters
    ----------
    genotypes
        (num_samples, num_variants) int8 ALT-allele dosage, -1 = missing.
        A numpy array gives a numpy result, a tensor a tensor on its device.
    labels
        (num_samples,) integer class codes in ``[0, num_classes)``.
    num_classes
        Number of classes; a class without samples gets zero counts.

    Returns
    -------
    numpy.ndarray or torch.Tensor
        (num_variants, num_classes, 3) float32; missing calls are not counted.
    """
    if isinstance(genotypes, torch.Tensor):
        labels_t = torch.as_tensor(labels, device=genotypes.device).long()
        # (num_samples, 3, num_variants) indicators, summed per class
        indicators = torch.stack([genotypes == k for k in range(3)], dim=1).float()
        counts = indicators.new_zeros(num_classes, 3, genotypes.shape[1])
        counts.index_add_(0, labels_t, indicators)
        return counts.permute(2, 0, 1).contiguous()

    labels_n = np.asarray(labels)
    onehot = np.zeros((len(labels_n), num_classes), dtype=np.float32)
    onehot[np.arange(len(labels_n)), labels_n] = 1.0
    genotypes = np.asarray(genotypes)
    parts = [onehot.T @ (genotypes == k).astype(np.float32) for k in range(3)]
    # (num_classes, num_variants, 3) -> (num_variants, num_classes, 3)
    return np.ascontiguousarray(np.stack(parts, axis=-1).transpose(1, 0, 2))


def input_stats_from_counts(
    class_counts: np.ndarray | torch.Tensor,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-variant dosage mean and standard deviation from genotype counts.

    Parameters
    ----------
    class_counts
        (num_variants, num_classes, 3) genotype counts.

    Returns
    -------
    tuple of torch.Tensor
        Mean and standard deviation of the dosage, each (num_variants,)
        float32, over the non-missing calls; the deviation is at least 1e-3
        and a variant without calls gets mean 0.
    """
    counts = torch.as_tensor(class_counts, dtype=torch.float64).sum(dim=1)
    total = counts.sum(dim=-1).clamp(min=1.0)
    mean = (counts[:, 1] + 2 * counts[:, 2]) / total
    second = (counts[:, 1] + 4 * counts[:, 2]) / total
    std = (second - mean**2).clamp(min=0).sqrt().clamp(min=1e-3)
    return mean.float(), std.float()


class AlleleCounts(NamedTuple):
    """ALT and called alleles per variant and class: all that the frequency
    embedding reads of the genotype counts.

    Both are (num_variants, num_classes) float32. Training keeps these
    instead of the (num_variants, num_classes, 3) counts, so that leaving a
    batch out costs two sums over the batch's rows.
    """

    alt: torch.Tensor
    total: torch.Tensor

    @classmethod
    def of(cls, class_counts: torch.Tensor | AlleleCounts) -> AlleleCounts:
        """From (num_variants, num_classes, 3) genotype counts (or as is)."""
        if isinstance(class_counts, AlleleCounts):
            return class_counts
        counts = torch.as_tensor(class_counts).float()
        return cls(counts[..., 1] + 2 * counts[..., 2], 2 * counts.sum(dim=-1))

    def without(self, genotypes: torch.Tensor, labels: torch.Tensor) -> AlleleCounts:
        """These counts less those of ``genotypes`` (batch, num_variants) int8
        with class codes ``labels`` (batch,): a batch of the counted rows."""
        labels = labels.long()
        num_classes = self.alt.shape[1]
        dosage = genotypes.float()
        # a minimum is far cheaper than a pass making a mask
        if genotypes.numel() and int(genotypes.min()) < 0:
            missing = genotypes < 0
            dosage.masked_fill_(missing, 0.0)
            called = (~missing).float()
            # (num_classes, num_variants) sums over the batch's rows
            total = self.alt.new_zeros(num_classes, dosage.shape[1])
            total = total.index_add_(0, labels, 2 * called).T
        else:
            # every call present: two alleles per sample of each class
            per_class = torch.bincount(labels, minlength=num_classes)
            total = 2 * per_class.to(self.total.dtype)
        alt = self.alt.new_zeros(num_classes, dosage.shape[1])
        alt = alt.index_add_(0, labels, dosage)
        return AlleleCounts(self.alt - alt.T, self.total - total)


def leave_out(
    counts: torch.Tensor | AlleleCounts,
    genotypes: torch.Tensor,
    labels: torch.Tensor,
) -> torch.Tensor | AlleleCounts:
    """Genotype or allele counts without those of a batch of counted rows."""
    if isinstance(counts, AlleleCounts):
        return counts.without(genotypes, labels)
    return counts - count_genotypes(genotypes, labels, counts.shape[1])


def alt_frequency(
    class_counts: torch.Tensor | AlleleCounts,
    class_group: torch.Tensor,
    *,
    pseudo_count: float,
    shrinkage: torch.Tensor | float,
) -> torch.Tensor:
    """Per-class ALT-allele frequency, shrunk towards the class's group.

    Parameters
    ----------
    class_counts
        (num_variants, num_classes, 3) genotype counts, or their
        :class:`AlleleCounts`.
    class_group
        (num_classes,) int64 group of each class, codes ``0..num_groups-1``.
    pseudo_count
        Added to each group's ALT count, twice to its allele total.
    shrinkage
        Prior strength ``s`` in alleles (a float, or a scalar tensor read as
        a float: no gradient reaches it).

    Returns
    -------
    torch.Tensor
        (num_variants, num_classes) ``(alt_c + s q_g) / (2 n_c + s)`` where
        ``q_g = (alt_g + a) / (2 n_g + 2 a)`` is the group's frequency.
    """
    # (num_variants, num_classes) each
    alt, num_alleles = AlleleCounts.of(class_counts)
    # (num_classes, num_groups) membership
    groups = nn.functional.one_hot(class_group.long()).to(alt.dtype)
    # (num_groups, num_variants) sums; this orientation suits BLAS better
    group_alt = groups.T @ alt.T
    group_alleles = groups.T @ num_alleles.T
    group_freq = (group_alt + pseudo_count) / (group_alleles + 2 * pseudo_count)
    # (num_variants, num_classes), laid out as alt is
    prior = group_freq.T @ groups.T
    strength = float(shrinkage)
    return torch.add(alt, prior, alpha=strength).div_(num_alleles + strength)
