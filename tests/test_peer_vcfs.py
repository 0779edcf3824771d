"""Every VCF of the htslib and bcftools test suites, read against bcftools.

For each file dietnet either reads exactly the genotypes that ``bcftools
query`` reports for the biallelic SNPs it keeps (on every contig), or
refuses the file with a one-line :class:`InputError`; for a file that
bcftools 1.16 reads, the refusal must name a call dietnet cannot encode
(haploid, polyploid, an allele index beyond the ALT) or a record with
more sample columns than the header, which bcftools silently drops.
Never another exception, never output on the C-level stderr, never a
silently different number.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from dietnet_cli import vcf
from dietnet_cli.errors import InputError

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "peer-vcfs"
FILES = sorted(DATA.glob("*.vcf")) if DATA.is_dir() else []
READABLE = set((DATA / "READABLE.txt").read_text().split()) if DATA.is_dir() else set()
BASES = frozenset("ACGT")

pytestmark = [
    pytest.mark.skipif(
        not DATA.is_dir(),
        reason=f"the shared peer VCFs are not beside the repository ({DATA})",
    ),
    pytest.mark.skipif(shutil.which("bcftools") is None, reason="needs bcftools"),
]


@dataclass
class BcftoolsView:
    """What bcftools reports for the records dietnet would keep."""

    num_samples: int
    # (chrom, pos, id, REF, ALT) of each biallelic SNP, in file order.
    variants: list[tuple[str, int, str, str, str]]
    # (num_samples, num_variants) int8 dosage; -1 where any allele is missing.
    dosage: np.ndarray
    # Why dietnet may refuse the file: "haploid", "polyploid", "allele
    # index", "sample columns" (a record with more than the header names).
    problems: set[str]


def is_biallelic_snp(ref: str, alt: str) -> bool:
    return "," not in alt and ref.upper() in BASES and alt.upper() in BASES


def dosage_of(gt: str, problems: set[str]) -> int:
    """bcftools' GT text as ALT copies; notes calls dietnet cannot take."""
    alleles = re.split(r"[/|]", gt)
    if "." in alleles:
        return -1
    if len(alleles) != 2:
        problems.add("haploid" if len(alleles) < 2 else "polyploid")
        return -9
    if any(int(allele) > 1 for allele in alleles):
        problems.add("allele index")
        return -9
    return sum(int(allele) for allele in alleles)


def bcftools_view(path: Path) -> BcftoolsView | None:
    """One ``bcftools query`` run; None when bcftools refuses the file."""
    result = subprocess.run(
        [
            "bcftools",
            "query",
            "--print-header",
            "-f",
            "%CHROM\t%POS\t%ID\t%REF\t%ALT[\t%GT]\n",
            str(path),
        ],
        capture_output=True,
        text=True,
    )
    if result.returncode != 0:
        return None
    lines = result.stdout.splitlines()
    num_samples = len(lines[0].split("\t")) - 5
    variants, rows, problems = [], [], set()
    for line in lines[1:]:
        chrom, pos, variant_id, ref, alt, *calls = line.split("\t")
        if not is_biallelic_snp(ref, alt):
            continue
        variants.append((chrom, int(pos), variant_id, ref.upper(), alt.upper()))
        rows.append([dosage_of(gt, problems) for gt in calls])
    dosage = np.array(rows, dtype=np.int8).reshape(len(rows), num_samples).T
    if has_extra_sample_columns(path):
        problems.add("sample columns")
    return BcftoolsView(num_samples, variants, dosage, problems)


def has_extra_sample_columns(path: Path) -> bool:
    """True when a record has more non-empty columns than the header line
    names (bcftools drops the extra ones without a word)."""
    num_columns = None
    with open(path, "rb") as handle:
        for line in handle:
            if line.startswith(b"##"):
                continue
            fields = line.rstrip(b"\r\n").split(b"\t")
            if num_columns is None:
                num_columns = len(fields)
            elif num_columns > 9 and any(fields[num_columns:]):
                return True
    return False


def read_with_dietnet(path: Path):
    blocks = list(vcf.iter_blocks(path, keep_contig=lambda name: True))
    variants = [
        (c, int(p), i, r, a)
        for b in blocks
        for c, p, i, r, a in zip(
            b.chrom, b.position, b.variant_id, b.ref, b.alt, strict=True
        )
    ]
    matrices = [b.dosage for b in blocks if b.num_variants]
    dosage = np.concatenate(matrices, axis=1) if matrices else None
    return variants, dosage


def test_lists_cover_the_files():
    refused = set((DATA / "REFUSED-BY-BCFTOOLS-1.16.txt").read_text().split())
    assert READABLE | refused == {path.name for path in FILES}
    assert len(FILES) == 282


@pytest.mark.parametrize("path", FILES, ids=[path.name for path in FILES])
def test_reads_like_bcftools_or_refuses(path, capfd):
    expected = bcftools_view(path)
    capfd.readouterr()
    try:
        variants, dosage = read_with_dietnet(path)
    except InputError as error:
        message = str(error)
        assert "\n" not in message
        assert path.name in message
        if expected is not None and expected.num_samples == 0:
            assert "has no samples" in message
        elif path.name in READABLE:
            # bcftools reads it: the refusal must name a real problem.
            assert expected.problems, f"refused a file bcftools reads: {message}"
            assert any(problem in message for problem in expected.problems), message
        refused = True
    else:
        refused = False
    captured = capfd.readouterr()
    assert captured.err == "", "htslib or cyvcf2 wrote to stderr"
    if refused:
        return

    assert expected is not None, "read a file that bcftools refuses"
    assert expected.num_samples > 0
    assert not expected.problems, f"read calls dietnet cannot encode: {expected}"
    assert variants == expected.variants
    if expected.variants:
        np.testing.assert_array_equal(dosage, expected.dosage)
    if path.name in READABLE and expected.variants:
        assert dosage.shape == (expected.num_samples, len(expected.variants))
