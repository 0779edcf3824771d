"""Seeded simulated cohorts for the tests of train, predict and evaluate.

Populations drift from a shared ancestral frequency (Balding-Nichols model
with differentiation ``fst``); genotypes are drawn under Hardy-Weinberg.
The VCF written is sorted, GRCh37-headed and unphased.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

GRCH37_CHR1 = 249_250_621


def simulate_genotypes(
    *,
    num_per_class: int = 20,
    num_classes: int = 3,
    num_variants: int = 300,
    fst: float = 0.1,
    missing_rate: float = 0.0,
    seed: int = 0,
) -> tuple[np.ndarray, list[str]]:
    """(num_samples, num_variants) int8 dosage (-1 missing) and labels."""
    rng = np.random.default_rng(seed)
    ancestral = rng.uniform(0.1, 0.9, num_variants)
    a = ancestral * (1 - fst) / fst
    b = (1 - ancestral) * (1 - fst) / fst
    frequency = rng.beta(a, b, size=(num_classes, num_variants))
    rows, labels = [], []
    for c in range(num_classes):
        rows.append(rng.binomial(2, frequency[c], size=(num_per_class, num_variants)))
        labels += [f"POP{c}"] * num_per_class
    genotypes = np.concatenate(rows).astype(np.int8)
    if missing_rate:
        genotypes[rng.random(genotypes.shape) < missing_rate] = -1
    return genotypes, labels


def write_vcf(
    path: Path,
    genotypes: np.ndarray,
    sample_ids: list[str],
    *,
    chrom_prefix: str = "",
    seed: int = 0,
) -> tuple[list[str], list[str]]:
    """Write genotypes as a VCF on chromosomes 1 and 2; returns REF and ALT."""
    rng = np.random.default_rng(seed + 1)
    num_variants = genotypes.shape[1]
    bases = np.array(list("ACGT"))
    refs, alts = [], []
    for _ in range(num_variants):
        # Non-palindromic allele pairs, so strand tests stay meaningful.
        while True:
            ref, alt = rng.choice(bases, 2, replace=False)
            if {ref, alt} not in ({"A", "T"}, {"C", "G"}):
                break
        refs.append(str(ref))
        alts.append(str(alt))
    code = {0: "0/0", 1: "0/1", 2: "1/1", -1: "./."}
    half = (num_variants + 1) // 2
    lines = [
        "##fileformat=VCFv4.2",
        "##reference=GRCh37",
        f"##contig=<ID={chrom_prefix}1,length={GRCH37_CHR1}>",
        f"##contig=<ID={chrom_prefix}2,length=243199373>",
        '##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">',
        "\t".join(
            ["#CHROM", "POS", "ID", "REF", "ALT", "QUAL", "FILTER", "INFO", "FORMAT"]
            + list(sample_ids)
        ),
    ]
    for j in range(num_variants):
        chrom = "1" if j < half else "2"
        position = 1000 + 100 * (j if j < half else j - half)
        calls = [code[int(g)] for g in genotypes[:, j]]
        lines.append(
            "\t".join(
                [f"{chrom_prefix}{chrom}", str(position), f"{chrom}:{position}"]
                + [refs[j], alts[j], ".", "PASS", ".", "GT"]
                + calls
            )
        )
    Path(path).write_text("\n".join(lines) + "\n")
    return refs, alts


def write_labels(path: Path, sample_ids: list[str], labels: list[str]) -> None:
    rows = ["sample\tpop\tsuper_pop"]
    rows += [
        f"{s}\t{label}\t{'GROUP_A' if label in ('POP0', 'POP1') else 'GROUP_B'}"
        for s, label in zip(sample_ids, labels, strict=True)
    ]
    Path(path).write_text("\n".join(rows) + "\n")


def make_cohort(directory: Path, *, seed: int = 0, **options) -> dict[str, Path]:
    """A training VCF, a test VCF of other samples and one label file."""
    directory = Path(directory)
    genotypes, labels = simulate_genotypes(seed=seed, **options)
    rng = np.random.default_rng(seed + 2)
    order = rng.permutation(len(labels))
    test = np.sort(order[: len(order) // 4])
    train = np.sort(order[len(order) // 4 :])
    sample_ids = [f"S{i:03d}" for i in range(len(labels))]
    write_vcf(
        directory / "train.vcf",
        genotypes[train],
        [sample_ids[i] for i in train],
        seed=seed,
    )
    write_vcf(
        directory / "test.vcf",
        genotypes[test],
        [sample_ids[i] for i in test],
        seed=seed,
    )
    write_labels(directory / "labels.tsv", sample_ids, labels)
    return {
        "train": directory / "train.vcf",
        "test": directory / "test.vcf",
        "labels": directory / "labels.tsv",
    }
