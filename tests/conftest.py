"""Shared fixtures: small cohorts generated with a fixed seed, and writers
that turn them into VCF text, PLINK filesets and label files.

Every random fixture draws from ``numpy.random.default_rng(SEED)`` so a
failure reproduces exactly. Genotypes are dosages: copies of the ALT allele
(0, 1, 2), -1 = missing, as in a dataset's ``genotypes.npy``.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pytest
from bed_reader import to_bed

SEED = 20240611
BASES = "ACGT"
VCF_HEADER = """\
##fileformat=VCFv4.2
##reference=GRCh38
##contig=<ID=1,length=50000>
##contig=<ID=2,length=40000>
##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">
"""
COLUMNS = "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT"


@dataclass(frozen=True)
class Cohort:
    """A small genotype matrix with the variant and sample descriptions."""

    sample_id: tuple[str, ...]
    chrom: tuple[str, ...]
    position: tuple[int, ...]
    variant_id: tuple[str, ...]
    ref: tuple[str, ...]
    alt: tuple[str, ...]
    # (num_samples, num_variants) int8: ALT copies, -1 = missing.
    dosage: np.ndarray
    # One population label per sample, and each population's group.
    label: tuple[str, ...]
    group: tuple[str, ...]

    @property
    def num_samples(self) -> int:
        return len(self.sample_id)

    @property
    def num_variants(self) -> int:
        return len(self.chrom)


def make_cohort(
    num_samples: int, num_variants: int, *, seed: int = SEED, missing: float = 0.05
) -> Cohort:
    """Random biallelic SNPs on chromosomes 1 and 2 with some missing calls."""
    rng = np.random.default_rng(seed)
    dosage = rng.choice(
        np.array([0, 1, 2], dtype=np.int8), size=(num_samples, num_variants)
    )
    dosage[rng.random(dosage.shape) < missing] = -1
    # Variants split between chromosomes 1 and 2, sorted within each.
    num_chr1 = (num_variants + 1) // 2
    chrom = ("1",) * num_chr1 + ("2",) * (num_variants - num_chr1)
    position = tuple(
        int(p)
        for size in (num_chr1, num_variants - num_chr1)
        for p in np.sort(rng.choice(np.arange(100, 30000), size, replace=False))
    )
    ref = tuple(BASES[i] for i in rng.integers(0, 4, num_variants))
    shift = rng.integers(1, 4, num_variants)
    alt = tuple(
        BASES[(BASES.index(r) + int(k)) % 4] for r, k in zip(ref, shift, strict=True)
    )
    populations = ("GBR", "YRI", "CHB")
    groups = {"GBR": "EUR", "YRI": "AFR", "CHB": "EAS"}
    label = tuple(populations[i % 3] for i in range(num_samples))
    return Cohort(
        sample_id=tuple(f"S{i:02d}" for i in range(num_samples)),
        chrom=chrom,
        position=position,
        variant_id=tuple(f"rs{1000 + j}" for j in range(num_variants)),
        ref=ref,
        alt=alt,
        dosage=dosage,
        label=label,
        group=tuple(groups[p] for p in label),
    )


def polymorphic(cohort: Cohort) -> Cohort:
    """The same cohort with every variant made polymorphic and fully called,
    so that prepare keeps all of them with its default filters."""
    dosage = cohort.dosage.copy()
    dosage[dosage < 0] = 1
    if cohort.num_samples > 1:
        dosage[0] = 0
        dosage[1] = 2
    else:
        dosage[:] = 1
    return replace(cohort, dosage=dosage)


def _gt(dosage: int, phased: bool) -> str:
    sep = "|" if phased else "/"
    return {-1: f".{sep}.", 0: f"0{sep}0", 1: f"0{sep}1", 2: f"1{sep}1"}[int(dosage)]


def vcf_text(cohort: Cohort, *, header: str = VCF_HEADER, phased: bool = False) -> str:
    """The cohort as VCF text; half the heterozygous calls written 1/0."""
    lines = [header.rstrip("\n"), "\t".join([COLUMNS, *cohort.sample_id])]
    for j in range(cohort.num_variants):
        calls = [_gt(d, phased) for d in cohort.dosage[:, j]]
        calls = [
            c[::-1] if c[0] == "0" and c[-1] == "1" and (i + j) % 2 else c
            for i, c in enumerate(calls)
        ]
        lines.append(
            "\t".join(
                [
                    cohort.chrom[j],
                    str(cohort.position[j]),
                    cohort.variant_id[j],
                    cohort.ref[j],
                    cohort.alt[j],
                    ".",
                    "PASS",
                    ".",
                    "GT",
                    *calls,
                ]
            )
        )
    return "\n".join(lines) + "\n"


def write_vcf(path: Path, cohort: Cohort, **options) -> Path:
    path.write_text(vcf_text(cohort, **options))
    return path


def write_bed(prefix: Path, cohort: Cohort) -> Path:
    """The cohort as a PLINK 1 fileset written by bed-reader; allele 1 = ALT."""
    values = cohort.dosage.astype(np.float32)
    values[cohort.dosage < 0] = np.nan
    to_bed(
        prefix.with_suffix(".bed"),
        values,
        properties={
            "iid": list(cohort.sample_id),
            "chromosome": list(cohort.chrom),
            "sid": list(cohort.variant_id),
            "bp_position": list(cohort.position),
            "allele_1": list(cohort.alt),
            "allele_2": list(cohort.ref),
        },
        count_A1=True,
    )
    return prefix.with_suffix(".bed")


def write_labels(
    path: Path, cohort: Cohort, *, samples: tuple[str, ...] | None = None
) -> Path:
    """A label TSV in the 1000 Genomes panel layout (sample, pop, super_pop)."""
    chosen = cohort.sample_id if samples is None else samples
    label_of = dict(zip(cohort.sample_id, cohort.label, strict=True))
    group_of = dict(zip(cohort.label, cohort.group, strict=True))
    rows = ["sample\tpop\tsuper_pop\tgender"]
    for sample in chosen:
        label = label_of.get(sample, "GBR")
        rows.append(f"{sample}\t{label}\t{group_of[label]}\tfemale")
    path.write_text("\n".join(rows) + "\n")
    return path


def run_tool(*command: str) -> None:
    """Run bcftools, plink2 or tabix; skip the test when it is not installed."""
    if shutil.which(command[0]) is None:
        pytest.skip(f"{command[0]} is not installed (CI installs it)")
    subprocess.run(command, check=True, capture_output=True)


def run_dietnet(*args: str, stdin=None, cwd: Path | None = None):
    """Run ``python -m dietnet_cli`` in a real subprocess."""
    return subprocess.run(
        [sys.executable, "-m", "dietnet_cli", *args],
        stdin=stdin,
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=120,
    )


@pytest.fixture
def cohort() -> Cohort:
    """13 samples (not a multiple of 4) and 20 variants, 5% missing calls."""
    return make_cohort(13, 20)


@pytest.fixture(
    params=[(13, 20), (1, 7), (13, 1), (1, 1)],
    ids=["13x20", "1-sample", "1-variant", "1x1"],
)
def edge_cohort(request) -> Cohort:
    """Edge sizes, for readers that must not depend on the shape."""
    num_samples, num_variants = request.param
    return make_cohort(num_samples, num_variants, missing=0.15)


@pytest.fixture
def vcf_path(tmp_path, cohort) -> Path:
    return write_vcf(tmp_path / "cohort.vcf", cohort)


@pytest.fixture
def labels_path(tmp_path, cohort) -> Path:
    return write_labels(tmp_path / "labels.tsv", cohort)
