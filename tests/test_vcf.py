"""The VCF/BCF reader: dosage encoding, records passed over, bad files."""

from __future__ import annotations

import os
import subprocess

import numpy as np
import pytest

from dietnet_cli import vcf
from dietnet_cli.errors import InputError

from .conftest import VCF_HEADER, make_cohort, run_tool, vcf_text, write_vcf

ALL_CONTIGS = {"keep_contig": lambda name: True}


def read_all(path, **options):
    """Concatenate the blocks of a file: (dosage, variants, dropped)."""
    blocks = list(vcf.iter_blocks(path, **options))
    dosage = np.concatenate([b.dosage for b in blocks], axis=1) if blocks else None
    variants = [
        (c, int(p), i, r, a)
        for b in blocks
        for c, p, i, r, a in zip(
            b.chrom, b.position, b.variant_id, b.ref, b.alt, strict=True
        )
    ]
    dropped = sum((b.dropped for b in blocks), start=type(blocks[0].dropped)())
    return dosage, variants, dropped


def literal_vcf(tmp_path, records: list[str], samples=("A", "B"), header=VCF_HEADER):
    """A VCF from literal record lines (tab-separated after the FORMAT)."""
    columns = "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT"
    text = header + "\t".join([columns, *samples]) + "\n"
    text += "".join(record.replace(" ", "\t") + "\n" for record in records)
    path = tmp_path / "literal.vcf"
    path.write_text(text)
    return path


def compress(tmp_path, source, kind: str, *, index: bool = False):
    """bcftools view -Oz/-Ob as an independent converter, with an index."""
    suffix = {"z": ".vcf.gz", "b": ".bcf"}[kind]
    out = tmp_path / (source.name.split(".")[0] + suffix)
    run_tool("bcftools", "view", f"-O{kind}", "-o", str(out), str(source))
    if index:
        run_tool("bcftools", "index", str(out))
    return out


class TestDosage:
    @pytest.mark.parametrize(
        ("gt", "expected"),
        [
            ("0/0", 0),
            ("0|1", 1),
            ("1/0", 1),
            ("1|1", 2),
            ("./.", -1),
            (".|.", -1),
            ("./1", -1),
            ("1/.", -1),
            (".", -1),
        ],
    )
    def test_call_encoding(self, tmp_path, gt, expected):
        path = literal_vcf(tmp_path, [f"1 10 . A G . . . GT {gt} 0/1"])
        dosage, _, _ = read_all(path)
        assert dosage.tolist() == [[expected], [1]]

    def test_record_without_gt_is_missing(self, tmp_path):
        path = literal_vcf(
            tmp_path,
            [
                "1 10 . A G . . . GT 0/1 1/1",
                "1 20 . C T . . . . . .",
                "1 30 . G A . . . GT 0/0 0/1",
            ],
        )
        dosage, variants, _ = read_all(path)
        assert dosage.tolist() == [[1, -1, 0], [2, -1, 1]]
        assert [v[1] for v in variants] == [10, 20, 30]

    def test_mixed_ploidy_missing_calls(self, tmp_path):
        # "." is a haploid missing call among diploid ones: still missing.
        path = literal_vcf(tmp_path, ["1 10 . A G . . . GT . 0/1"])
        dosage, _, _ = read_all(path)
        assert dosage.tolist() == [[-1], [1]]

    def test_alleles_uppercased_and_ids_kept(self, tmp_path):
        path = literal_vcf(tmp_path, ["1 10 rs7 a g . . . GT 0/1 1/1"])
        _, variants, _ = read_all(path)
        assert variants == [("1", 10, "rs7", "A", "G")]

    @pytest.mark.parametrize(
        ("gt", "kind"),
        [("1", "haploid"), ("0", "haploid"), ("0/1/1", "polyploid")],
    )
    def test_non_diploid_call_refused(self, tmp_path, gt, kind):
        path = literal_vcf(
            tmp_path, ["1 10 . A G . . . GT 0/1 0/1", f"1 15 . A G . . . GT {gt} 0/1"]
        )
        with pytest.raises(InputError, match=rf"{kind} genotype at 1:15.*diploid"):
            read_all(path)

    def test_allele_index_beyond_alleles_refused(self, tmp_path):
        path = literal_vcf(tmp_path, ["1 10 . A G . . . GT 0/1 0/2"])
        with pytest.raises(InputError, match=r"allele index 2 at 1:10.*only REF"):
            read_all(path)

    def test_phased_and_unphased_agree(self, tmp_path, cohort):
        unphased = read_all(write_vcf(tmp_path / "u.vcf", cohort))[0]
        phased = read_all(write_vcf(tmp_path / "p.vcf", cohort, phased=True))[0]
        np.testing.assert_array_equal(unphased, cohort.dosage)
        np.testing.assert_array_equal(phased, cohort.dosage)

    def test_blocks_of_any_size_agree(self, vcf_path, cohort):
        for block_size in (1, 3, 4096):
            dosage, _, _ = read_all(vcf_path, block_size=block_size)
            np.testing.assert_array_equal(dosage, cohort.dosage)


class TestRecordsPassedOver:
    def test_counted_by_reason(self, tmp_path):
        path = literal_vcf(
            tmp_path,
            [
                "1 10 . A G . . . GT 0/1 0/0",
                "1 11 . A G,T . . . GT 0/1 0/2",
                "1 12 . AT A . . . GT 0/1 0/0",
                "1 13 . A <DEL> . . . GT 0/1 0/0",
                "1 14 . N A . . . GT 0/1 0/0",
                "1 15 . A . . . . GT 0/0 0/0",
                "1 16 . A * . . . GT 0/1 0/0",
                "X 17 . A G . . . GT 0/1 0/0",
                "chrY 18 . A G . . . GT 0/1 0/0",
                "2 19 . C T . . . GT 1/1 0/0",
            ],
        )
        dosage, variants, dropped = read_all(path)
        assert [v[:2] for v in variants] == [("1", 10), ("2", 19)]
        assert dropped == {"multiallelic": 1, "not_snp": 3, "no_alt": 2, "contig": 2}
        assert dosage.tolist() == [[1, 2], [0, 0]]

    def test_all_contigs(self, tmp_path):
        path = literal_vcf(
            tmp_path, ["X 17 . A G . . . GT 0/1 0/0", "MT 18 . A G . . . GT 1/1 0/0"]
        )
        _, variants, dropped = read_all(path, **ALL_CONTIGS)
        assert [v[0] for v in variants] == ["X", "MT"]
        assert not dropped


class TestSamples:
    def test_subset_keeps_file_order(self, vcf_path, cohort):
        chosen = [cohort.sample_id[i] for i in (2, 5, 11)]
        dosage, _, _ = read_all(vcf_path, samples=chosen)
        np.testing.assert_array_equal(dosage, cohort.dosage[[2, 5, 11]])

    def test_header(self, vcf_path, cohort):
        header = vcf.read_header(vcf_path)
        assert header.sample_id == cohort.sample_id
        assert header.contigs == (("1", 50000), ("2", 40000))
        assert header.build == "GRCh38"
        assert not header.indexed


class TestCompressedAndBinary:
    """bcftools converts; every form must give back the same matrix."""

    @pytest.mark.parametrize("kind", ["z", "b"], ids=["vcf.gz", "bcf"])
    def test_same_matrix(self, tmp_path, edge_cohort, kind):
        source = write_vcf(tmp_path / "cohort.vcf", edge_cohort)
        converted = compress(tmp_path, source, kind)
        dosage, variants, _ = read_all(converted)
        np.testing.assert_array_equal(dosage, edge_cohort.dosage)
        assert [v[1] for v in variants] == list(edge_cohort.position)
        assert [v[4] for v in variants] == list(edge_cohort.alt)

    def test_region_of_indexed_file(self, tmp_path, cohort):
        source = write_vcf(tmp_path / "cohort.vcf", cohort)
        indexed = compress(tmp_path, source, "z", index=True)
        assert vcf.read_header(indexed).indexed
        _, variants, _ = read_all(indexed, region="2")
        assert [v[0] for v in variants] == ["2"] * cohort.chrom.count("2")
        start, stop = cohort.position[1], cohort.position[3]
        _, variants, _ = read_all(
            indexed, region=f"1:{start}-{stop}", region_bounds=(start, stop)
        )
        assert [v[1] for v in variants] == list(cohort.position[1:4])

    def test_region_with_unknown_contig_refused(self, tmp_path, cohort):
        source = write_vcf(tmp_path / "cohort.vcf", cohort)
        indexed = compress(tmp_path, source, "z", index=True)
        with pytest.raises(InputError, match=r"Region 'chr9:1-5' names contig 'chr9'"):
            read_all(indexed, region="chr9:1-5")


class TestBadFiles:
    def test_missing_file(self, tmp_path):
        with pytest.raises(InputError, match=r"nothere.vcf does not exist"):
            read_all(tmp_path / "nothere.vcf")

    def test_directory(self, tmp_path):
        with pytest.raises(InputError, match=r"is a directory"):
            read_all(tmp_path)

    @pytest.mark.skipif(os.geteuid() == 0, reason="root reads files without permission")
    def test_unreadable_file(self, vcf_path):
        vcf_path.chmod(0)
        with pytest.raises(InputError, match=r"is not readable; check permissions"):
            read_all(vcf_path)

    def test_unreadable_file_reported(self, vcf_path, monkeypatch):
        monkeypatch.setattr(vcf.os, "access", lambda path, mode: False)
        with pytest.raises(InputError, match=r"cohort.vcf is not readable"):
            read_all(vcf_path)

    @pytest.mark.parametrize(
        "content",
        [b"sample\tpop\nA\tGBR\n", b"\x00\x01\x02binary", b""],
        ids=["text", "binary", "empty"],
    )
    def test_not_a_vcf(self, tmp_path, content):
        path = tmp_path / "notvcf.vcf"
        path.write_bytes(content)
        with pytest.raises(
            InputError, match=r"notvcf.vcf is not a readable VCF or BCF"
        ):
            read_all(path)

    def test_no_samples(self, tmp_path):
        path = literal_vcf(tmp_path, ["1 10 . A G . . ."], samples=())
        path.write_text(path.read_text().replace("\tFORMAT", ""))
        with pytest.raises(InputError, match=r"has no samples"):
            read_all(path)

    def test_duplicate_sample_ids(self, tmp_path):
        path = literal_vcf(
            tmp_path, ["1 10 . A G . . . GT 0/1 0/0 1/1"], samples=("A", "B", "A")
        )
        with pytest.raises(InputError, match=r"lists sample 'A' more than once"):
            read_all(path)

    def test_no_gt_in_header(self, tmp_path):
        header = VCF_HEADER.replace("##FORMAT=<ID=GT", "##FORMAT=<ID=DP")
        path = literal_vcf(tmp_path, ["1 10 . A G . . . DP 3 4"], header=header)
        with pytest.raises(InputError, match=r"declares no FORMAT/GT"):
            read_all(path)

    def test_gt_declared_as_integer(self, tmp_path):
        header = VCF_HEADER.replace("Type=String", "Type=Integer")
        path = literal_vcf(tmp_path, ["1 10 . A G . . . GT 0/1 0/0"], header=header)
        with pytest.raises(InputError, match=r"FORMAT/GT with Type=Integer"):
            read_all(path)

    def test_record_with_too_few_sample_columns(self, tmp_path):
        path = literal_vcf(
            tmp_path, ["1 10 . A G . . . GT 0/1 0/0", "1 20 . A G . . . GT 0/1"]
        )
        with pytest.raises(InputError, match=r"literal.vcf is damaged or malformed"):
            read_all(path)

    @pytest.mark.xfail(
        strict=True,
        reason="htslib (and so bcftools) silently drops extra sample columns; "
        "cyvcf2 gives no way to see them",
    )
    def test_record_with_too_many_sample_columns(self, tmp_path):
        path = literal_vcf(tmp_path, ["1 10 . A G . . . GT 0/1 0/0 1/1"])
        with pytest.raises(InputError, match=r"damaged or malformed"):
            read_all(path)

    def test_malformed_position(self, tmp_path):
        path = literal_vcf(
            tmp_path, ["1 10 . A G . . . GT 0/1 0/0", "1 x2 . A G . . . GT 0/1 0/0"]
        )
        with pytest.raises(InputError, match=r"damaged or malformed after 1:10"):
            read_all(path)


@pytest.fixture(scope="module")
def big_vcf(tmp_path_factory):
    """About 300 kB of VCF text: several 64 kB BGZF blocks once compressed."""
    cohort = make_cohort(13, 4000, missing=0.0)
    path = tmp_path_factory.mktemp("big") / "big.vcf"
    path.write_text(vcf_text(cohort))
    return path


class TestTruncated:
    """A file cut short must be refused, never read as a shorter file."""

    @staticmethod
    def _blocks(data: bytes) -> list[int]:
        """Offsets of the BGZF blocks: BSIZE sits at bytes 16-17."""
        offsets, at = [], 0
        while at < len(data):
            offsets.append(at)
            at += int.from_bytes(data[at + 16 : at + 18], "little") + 1
        return offsets

    @pytest.mark.parametrize("kind", ["z", "b"], ids=["vcf.gz", "bcf"])
    def test_cut_inside_a_block(self, tmp_path, big_vcf, kind):
        whole = compress(tmp_path, big_vcf, kind)
        data = whole.read_bytes()
        cut = tmp_path / ("cut" + "".join(whole.suffixes))
        cut.write_bytes(data[: len(data) * 2 // 3])
        with pytest.raises(InputError, match=r"cut\.(vcf\.gz|bcf) is truncated"):
            read_all(cut)

    @pytest.mark.parametrize("kind", ["z", "b"], ids=["vcf.gz", "bcf"])
    def test_cut_at_a_block_boundary(self, tmp_path, big_vcf, kind):
        whole = compress(tmp_path, big_vcf, kind)
        data = whole.read_bytes()
        offsets = self._blocks(data)
        assert len(offsets) > 3
        cut = tmp_path / ("cut" + "".join(whole.suffixes))
        cut.write_bytes(data[: offsets[-3]])
        with pytest.raises(InputError, match=r"is truncated \(its BGZF end-of-file"):
            read_all(cut)

    def test_plain_gzip_cut(self, tmp_path, big_vcf):
        whole = tmp_path / "plain.vcf.gz"
        with open(whole, "wb") as handle:
            subprocess.run(["gzip", "-c", str(big_vcf)], stdout=handle, check=True)
        data = whole.read_bytes()
        cut = tmp_path / "cut.vcf.gz"
        cut.write_bytes(data[: len(data) // 2])
        with pytest.raises(InputError, match=r"cut.vcf.gz is damaged or malformed"):
            read_all(cut)

    def test_whole_file_reads(self, tmp_path, big_vcf):
        dosage, _, _ = read_all(compress(tmp_path, big_vcf, "z"))
        assert dosage.shape == (13, 4000)
