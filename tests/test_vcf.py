"""The VCF/BCF reader: dosage encoding, records passed over, bad files."""

from __future__ import annotations

import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from dietnet_cli import vcf, vcftext
from dietnet_cli.errors import InputError

from .conftest import (
    COLUMNS,
    SEED,
    VCF_HEADER,
    make_cohort,
    run_tool,
    vcf_text,
    write_vcf,
)

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"

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

    def test_record_with_too_many_sample_columns(self, tmp_path):
        # htslib (and so bcftools) silently drops the extra column.
        path = literal_vcf(
            tmp_path, ["1 5 . A G . . . GT 0/1 0/0", "1 10 . A G . . . GT 0/1 0/0 1/1"]
        )
        with pytest.raises(
            InputError, match=r"malformed at 1:10: the record has 3 sample columns"
        ):
            read_all(path)

    def test_trailing_tab_is_not_a_sample_column(self, tmp_path):
        path = literal_vcf(tmp_path, ["1 10 . A G . . . GT 0/1 1/1"])
        path.write_bytes(path.read_bytes().replace(b"1/1\n", b"1/1\t\n"))
        dosage, variants, _ = read_all(path)
        assert dosage.tolist() == [[1], [2]]
        assert [v[1] for v in variants] == [10]

    def test_empty_line_is_refused(self, tmp_path):
        # htslib reads it as a record on contig "" and cyvcf2 then crashes.
        path = literal_vcf(
            tmp_path, ["1 10 . A G . . . GT 0/1 0/0", "", "1 20 . A G . . . GT 0/1 0/0"]
        )
        with pytest.raises(InputError, match=r"has an empty line among its records"):
            read_all(path)

    def test_malformed_position(self, tmp_path):
        path = literal_vcf(
            tmp_path, ["1 10 . A G . . . GT 0/1 0/0", "1 x2 . A G . . . GT 0/1 0/0"]
        )
        with pytest.raises(InputError, match=r"damaged or malformed after 1:10"):
            read_all(path)


def plain_gzip(source: Path, target: Path) -> Path:
    """``source`` compressed by gzip (one member, not BGZF)."""
    with open(target, "wb") as handle:
        subprocess.run(["gzip", "-c", str(source)], stdout=handle, check=True)
    return target


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
        whole = plain_gzip(big_vcf, tmp_path / "plain.vcf.gz")
        data = whole.read_bytes()
        cut = tmp_path / "cut.vcf.gz"
        cut.write_bytes(data[: len(data) // 2])
        with pytest.raises(InputError, match=r"cut.vcf.gz is damaged or malformed"):
            read_all(cut)

    def test_whole_file_reads(self, tmp_path, big_vcf):
        dosage, _, _ = read_all(compress(tmp_path, big_vcf, "z"))
        assert dosage.shape == (13, 4000)


# Header of the mixed files: DP and a float DS declared, one INFO and one
# FILTER; a record may still use undeclared ones (htslib adds them).
MIXED_HEADER = VCF_HEADER + (
    '##INFO=<ID=AF,Number=A,Type=Float,Description="Frequency">\n'
    '##FILTER=<ID=q10,Description="Low quality">\n'
    '##FORMAT=<ID=DP,Number=1,Type=Integer,Description="Depth">\n'
    '##FORMAT=<ID=DS,Number=1,Type=Float,Description="Dosage">\n'
    '##FORMAT=<ID=NOTE,Number=1,Type=String,Description="Note">\n'
)
FULL = ("0/0", "0/1", "1/0", "1/1", "0|0", "0|1", "1|0", "1|1")
MISSING_CALLS = ("./.", ".|.", "./1", "1/.", ".|0")


def random_alleles(rng, *, alt_less: bool = False) -> tuple[str, str]:
    """REF and ALT of a random record: mostly a SNP, else multi-allelic, an
    indel or in lowercase (or, with ``alt_less``, without an ALT)."""
    ref, alt = rng.choice(list("ACGT"), size=2, replace=False)
    shape = rng.random()
    if shape < 0.05:
        alt = f"{alt},{ref.lower() if ref != 'A' else 'C'}"
    elif shape < 0.1:
        ref = ref + "T"
    elif shape < 0.15:
        ref, alt = ref.lower(), alt.lower()
    elif alt_less and shape < 0.18:
        alt = rng.choice([".", "*", "<DEL>"])
    return ref, alt


def mixed_records(rng, num_samples: int, num_records: int) -> list[str]:
    """Records of every kind, in random order on chromosomes 1, 2 and X.

    Some the text decoder takes (3-byte diploid calls, ``GT:...`` of one
    width) and some it leaves to htslib (other widths and layouts, haploid
    missing calls, multi-allelic records, ...); none that dietnet refuses.
    """

    def calls(choices, k=num_samples):
        return list(rng.choice(choices, size=k))

    kinds = [
        lambda: ("GT", calls(FULL[:4])),
        lambda: ("GT", calls(FULL[4:])),
        lambda: ("GT", calls(FULL + MISSING_CALLS)),
        lambda: ("GT", ["./."] * num_samples),
        lambda: ("GT:DP", [c + ":" + str(rng.integers(10, 99)) for c in calls(FULL)]),
        lambda: ("GT:DP", [c + ":" + str(rng.integers(0, 300)) for c in calls(FULL)]),
        lambda: ("GT:DS", [c + ":" + f"{rng.random():.3f}" for c in calls(FULL)]),
        lambda: ("GT:NOTE", [c + ":ab" for c in calls(FULL + MISSING_CALLS)]),
        lambda: ("GT:XY", [c + ":1" for c in calls(FULL)]),
        lambda: ("DP:GT", [f"7:{c}" for c in calls(FULL)]),
        lambda: ("GT", calls(FULL + (".",))),
        lambda: (".", ["."] * num_samples),
    ]
    records = []
    for number in range(num_records):
        chrom = rng.choice(["1", "2", "X"], p=[0.45, 0.45, 0.1])
        ref, alt = random_alleles(rng)
        layout, fields = kinds[rng.integers(len(kinds))]()
        if "," in alt:
            fields = [f.replace("1", "2", 1) for f in fields]
        variant_id = "." if number % 3 else f"rs{number}"
        filters = rng.choice(["PASS", ".", "q10", "lowDP;q10"])
        info = rng.choice([".", f"AF={rng.random():.2f}", "NS=3;DB", "AF=0.5;"])
        records.append(
            "\t".join(
                [chrom, str(number + 1), variant_id, ref, alt, "50", filters, info]
                + [layout, *fields]
            )
        )
    return sorted(records, key=lambda r: (r.split("\t")[0], int(r.split("\t")[1])))


def write_mixed(path, records, num_samples: int):
    names = [f"S{i:02d}" for i in range(num_samples)]
    text = MIXED_HEADER + "\t".join([COLUMNS, *names]) + "\n"
    path.write_text(text + "\n".join(records) + "\n")
    return path


def assert_same_blocks(path, **options):
    """Both decoders give the same blocks, block for block."""
    fast = list(vcf.iter_blocks(path, **options))
    reference = list(vcf.iter_blocks(path, decoder="htslib", **options))
    assert len(fast) == len(reference)
    for one, two in zip(fast, reference, strict=True):
        assert one.chrom == two.chrom
        np.testing.assert_array_equal(one.position, two.position)
        assert one.variant_id == two.variant_id
        assert (one.ref, one.alt) == (two.ref, two.alt)
        assert one.dropped == two.dropped
        assert one.dosage.shape == two.dosage.shape
        np.testing.assert_array_equal(one.dosage, two.dosage)
        assert one.dosage.flags.c_contiguous
    return fast


def decoded_rows(path) -> tuple[int, int]:
    """(lines the text decoder took, lines it left to htslib)."""
    reader = vcf.open_reader(str(path))
    text = vcf._open_text(reader, 1)
    decoder = vcftext.Decoder(text.facts)
    taken = left = 0
    for chunk, start, end in text.stream.lines():
        lines = decoder.decode(chunk, start, end)
        taken += sum(row >= 0 for row in lines.row_of_line)
        left += len(lines.fallback)
    text.close()
    return taken, left


class TestTextDecoder:
    """The bulk text decoder against htslib record by record."""

    @pytest.mark.parametrize("num_samples", [1, 2, 13, 64])
    @pytest.mark.parametrize("block_size", [1, 7, 4096])
    def test_mixed_records(self, tmp_path, num_samples, block_size):
        rng = np.random.default_rng(SEED + num_samples)
        records = mixed_records(rng, num_samples, 300)
        path = write_mixed(tmp_path / "mixed.vcf", records, num_samples)
        blocks = assert_same_blocks(path, block_size=block_size, **ALL_CONTIGS)
        assert sum(block.num_variants for block in blocks) > 100
        taken, left = decoded_rows(path)
        assert taken > 100
        assert left > 50

    @pytest.mark.parametrize("kind", ["plain", "gzip", "bgzf"])
    def test_compressed_forms(self, tmp_path, kind):
        rng = np.random.default_rng(SEED)
        records = mixed_records(rng, 13, 2000)
        path = write_mixed(tmp_path / "mixed.vcf", records, 13)
        if kind == "gzip":
            packed = tmp_path / "mixed.vcf.gz"
            with open(packed, "wb") as handle:
                subprocess.run(["gzip", "-c", str(path)], stdout=handle, check=True)
            path = packed
        elif kind == "bgzf":
            path = compress(tmp_path, path, "z")
        assert_same_blocks(path)
        assert_same_blocks(path, threads=2, block_size=100)

    @pytest.mark.parametrize("chosen", [None, ["S03", "S07", "S11"]])
    def test_spans_read_as_the_whole_file(self, tmp_path, monkeypatch, chosen):
        rng = np.random.default_rng(SEED + 1)
        records = mixed_records(rng, 13, 3000)
        path = compress(tmp_path, write_mixed(tmp_path / "m.vcf", records, 13), "z")
        monkeypatch.setattr(vcf, "SPAN_BYTES", 1)
        monkeypatch.setattr(vcf, "SPAN_HEAD_START", 0)
        spans = vcf.text_spans(str(path), 3)
        assert len(spans) == 3
        options = dict(samples=chosen, block_size=50, **ALL_CONTIGS)
        whole = read_all(path, **options)
        parts = [read_all(path, span=span, **options) for span in spans]
        np.testing.assert_array_equal(
            np.concatenate([part[0] for part in parts], axis=1), whole[0]
        )
        assert [v for part in parts for v in part[1]] == whole[1]
        assert sum((part[2] for part in parts), start=type(whole[2])()) == whole[2]
        assert min(len(part[1]) for part in parts) > 300

    def test_no_spans_where_the_text_decoder_cannot_read(self, tmp_path, big_vcf):
        bcf = compress(tmp_path, big_vcf, "b")
        gzipped = plain_gzip(big_vcf, tmp_path / "plain.vcf.gz")
        for path in (big_vcf, bcf, gzipped):
            assert vcf.text_spans(str(path), 2) == []
        assert vcf.text_spans(str(compress(tmp_path, big_vcf, "z")), 1) == []

    @pytest.mark.parametrize("chosen", [(0,), (1, 4, 12), (0, 2, 3, 5, 6, 7, 8)])
    def test_sample_subsets(self, tmp_path, chosen):
        rng = np.random.default_rng(SEED)
        path = write_mixed(tmp_path / "mixed.vcf", mixed_records(rng, 13, 300), 13)
        samples = [f"S{i:02d}" for i in chosen]
        blocks = assert_same_blocks(path, samples=samples, **ALL_CONTIGS)
        assert blocks[0].dosage.shape[0] == len(chosen)

    def test_bad_sample_not_read_is_no_problem(self, tmp_path):
        # htslib does not parse a sample left out; the decoder leaves the
        # line to htslib rather than refuse it.
        records = ["1 10 . A G . . . GT 0/1 0/x 1/1", "1 20 . A G . . . GT 0/1 0/0 1/1"]
        path = literal_vcf(tmp_path, records, samples=("A", "B", "C"))
        blocks = assert_same_blocks(path, samples=["A", "C"])
        assert blocks[0].dosage.tolist() == [[1, 1], [2, 2]]

    def test_1000_genomes_example(self):
        path = DATA / "1kg" / "1kg-train.vcf.gz"
        if not path.exists():
            pytest.skip(f"{path} is not beside the repository")
        blocks = assert_same_blocks(path, threads=2)
        assert sum(block.num_variants for block in blocks) == 23770
        taken, left = decoded_rows(path)
        assert left == 0

    @pytest.mark.parametrize(
        ("call", "message"),
        [
            ("1", r"haploid genotype at 1:20"),
            ("0/1/1", r"polyploid genotype at 1:20"),
            ("0/2", r"allele index 2 at 1:20"),
            ("0/x", r"damaged or malformed after 1:10"),
        ],
    )
    def test_refusals_are_the_same(self, tmp_path, call, message):
        records = [
            "1 10 . A G . . . GT 0/1 0/0 1/1",
            f"1 20 . A G . . . GT 0/1 {call} 1/1",
            "1 30 . A G . . . GT 0/1 0/0 1/1",
        ]
        path = literal_vcf(tmp_path, records, samples=("A", "B", "C"))
        errors = []
        for decoder in ("auto", "htslib"):
            with pytest.raises(InputError, match=message) as caught:
                read_all(path, decoder=decoder)
            errors.append(str(caught.value))
        assert errors[0] == errors[1]

    # Records with extra sample columns, which htslib reads by dropping
    # them, are refused instead (TestBadFiles).
    @pytest.mark.parametrize(
        "record",
        [
            "1 11 . A G . . . GT 0/1 0/0\r",
            "1 12 . A G . . . GT 0/1",
            "1 14 rs\u00e9 A G . . . GT 0/1 0/0",
            "1 015 . A G 1e3 q10;PASS DB;AF=.5 GT 1|1 0|0",
            "1 16 . A G . . . GT:DP 0/1:3 0/0:",
            "1 17 . A G . . . GT:DP 0/1:-3 0/0:+4",
            "1 18 . A G . . . GT:DP 0/1:3x 0/0:4x",
            "1 19 . A G . . . GT:DS 0/1:.5 0/0:.5",
            "1 20 . A G . . . GT:DP 0/1:3:4 0/0:4:5",
            "1 21 . A G . . . GT ./1 0/.",
            "1 22 . A G . . . GT 0/1 0//",
            "1 x . A G . . . GT 0/1 0/1",
            "",
        ],
    )
    def test_odd_lines_read_as_htslib_reads_them(self, tmp_path, record):
        # "": no odd record, but the last line lacks its newline.
        records = ["1 10 . A G . . . GT 0/1 0/0", record, "1 30 . C T . . . GT 0/1 0/0"]
        path = literal_vcf(tmp_path, [line for line in records if line])
        if record == "":
            path.write_bytes(path.read_bytes().rstrip(b"\n"))
        outcomes = []
        for decoder in ("auto", "htslib"):
            try:
                blocks = list(vcf.iter_blocks(path, decoder=decoder, block_size=1))
            except InputError as error:
                outcomes.append(str(error))
            else:
                outcomes.append(
                    [
                        (b.chrom, b.position.tolist(), b.dosage.tolist(), b.dropped)
                        for b in blocks
                    ]
                )
        assert outcomes[0] == outcomes[1]

    @pytest.mark.parametrize("seed", range(4))
    def test_random_fixed_columns(self, tmp_path, seed):
        """Names htslib must add to its header, empty and odd values."""
        rng = np.random.default_rng(SEED + seed)
        letters = list("abcXYZ019_")

        def name():
            return "".join(rng.choice(letters + [".", "-"], rng.integers(1, 6)))

        def names(separator):
            return separator.join(name() for _ in range(rng.integers(1, 4)))

        records = []
        for number in range(1, 301):
            calls = rng.choice(FULL + MISSING_CALLS, 3)
            records.append(
                "\t".join(
                    [
                        rng.choice(["1", "2", "a" + name()]),
                        rng.choice([str(number), f"0{number}"]),
                        rng.choice([".", "", name(), "a;b"]),
                        rng.choice(list("ACGTacgtN") + ["", "AT"]),
                        rng.choice(["A", "C", "G", "T", ".", "*", "<DEL>", "A,", ""]),
                        rng.choice([".", "30", "abc", "1e5", ""]),
                        rng.choice([".", "PASS", names(";"), names(";") + ";"]),
                        rng.choice([".", names(";"), "b" + name() + "=1,2;DB"]),
                        "GT",
                        *calls,
                    ]
                )
            )
        path = write_mixed(tmp_path / "odd.vcf", records, 3)
        assert_same_blocks(path, block_size=5, **ALL_CONTIGS)
        taken, _ = decoded_rows(path)
        assert taken > 100


def bulk_records(rng, num_samples: int, num_records: int) -> list[str]:
    """Records the text decoder takes whole (FORMAT ``GT``, 3-byte calls)
    with every kind of fixed column it takes: SNPs in either case, indels,
    multi-allelic and ALT-less records, other contigs, empty IDs, and INFO
    and FILTER names declared or not."""
    records = []
    for number in range(1, num_records + 1):
        chrom = rng.choice(["1", "2", "X", "chrUn_1"], p=[0.4, 0.4, 0.1, 0.1])
        ref, alt = random_alleles(rng, alt_less=True)
        records.append(
            "\t".join(
                [
                    chrom,
                    str(number),
                    rng.choice([".", f"rs{number}", ""]),
                    ref,
                    alt,
                    "50",
                    rng.choice(["PASS", ".", "q10", "q10;lowDP"]),
                    rng.choice([".", "AF=0.5", "AF=0.1;DB;NS=3", "XX=1"]),
                    "GT",
                    *rng.choice(FULL + MISSING_CALLS, num_samples),
                ]
            )
        )
    return records


class TestDecodedInBulk:
    """Lines whose fixed columns are parsed together and whose records are
    passed over or kept together, against htslib."""

    @pytest.mark.parametrize("block_size", [1, 7, 50, 4096])
    @pytest.mark.parametrize("contigs", ["autosomes", "all"])
    def test_same_blocks_as_htslib(self, tmp_path, monkeypatch, block_size, contigs):
        rng = np.random.default_rng(SEED + block_size)
        path = write_mixed(tmp_path / "bulk.vcf", bulk_records(rng, 5, 400), 5)

        def one_at_a_time(*_args):
            raise AssertionError("a line was parsed on its own")

        # every line is taken in bulk (htslib still reads every line)
        monkeypatch.setattr(vcftext.Decoder, "_fixed_each", one_at_a_time)
        options = ALL_CONTIGS if contigs == "all" else {}
        blocks = assert_same_blocks(path, block_size=block_size, **options)
        dropped = Counter()
        for block in blocks:
            dropped.update(block.dropped)
        assert {"not_snp", "multiallelic", "no_alt"} <= set(dropped)
        assert ("contig" in dropped) == (contigs == "autosomes")
        assert decoded_rows(path) == (400, 0)

    @pytest.mark.parametrize("seed", range(3))
    def test_fixed_columns_together_as_one_at_a_time(self, seed):
        # Where the lines of a chunk are parsed together, each line is
        # parsed as it would be on its own (else they all are, on their own).
        facts = vcftext.HeaderFacts(
            num_samples=1,
            columns=None,
            contigs=frozenset({"1", "chr2"}),
            filters=frozenset({"PASS", "q10"}),
            infos=frozenset({"AF", "DB"}),
            formats={"GT": "String", "DP": "Integer"},
        )
        rng = np.random.default_rng(SEED + seed)
        values = [
            ["1", "chr2", "X", "1 2", "a.b", "-x", "", "1\x01"],
            ["1", "42", "007", "", "x", "1e3", "-5", "9" * 19],
            [".", "rs1", "", "a;b", "é"],
            ["A", "c", "", "AT", "N"],
            ["G", "t", ".", "", "A,C", "<DEL>", "*", "A,"],
            [".", "30", "abc"],
            ["PASS", ".", "q10", "q10;new", "1bad", "DP", "x;"],
            [".", "", "AF=0.1", "DB", "AF=1;", "DP=3", "NEW=1", "1x=2", ";", "é=1"],
        ]
        for _ in range(400):
            heads = [
                "\t".join(rng.choice(column) for column in values).encode()
                for _ in range(rng.integers(1, 5))
            ]
            together = vcftext.DecodedLines(row_of_line=[], fallback=[])
            alone = vcftext.DecodedLines(row_of_line=[], fallback=[])
            taken = vcftext.Decoder(facts)._fixed_columns(heads, together)
            each = vcftext.Decoder(facts)._fixed_each(heads, alone)
            assert taken is None or taken == each
            if taken is None:
                assert all(each), heads
            for name in ("chrom", "position", "variant_id", "ref", "alt"):
                assert getattr(together, name) == getattr(alone, name), heads

    @pytest.mark.parametrize(
        "odd",
        [
            "AF=0.5;",  # ends in ";": an empty key
            "1ab=3",  # a name htslib refuses
            "DP=3",  # a FORMAT name as INFO key
        ],
    )
    def test_one_odd_line_parses_the_lines_one_at_a_time(self, tmp_path, odd):
        rng = np.random.default_rng(SEED)
        records = bulk_records(rng, 3, 100)
        fields = records[50].split("\t")
        fields[7] = odd
        records[50] = "\t".join(fields)
        path = write_mixed(tmp_path / "odd.vcf", records, 3)
        assert_same_blocks(path, block_size=7)


class TestDamagedCompression:
    @pytest.mark.parametrize("kind", ["bgzf", "gzip"])
    def test_flipped_byte_in_the_middle(self, tmp_path, big_vcf, kind):
        if kind == "bgzf":
            whole = compress(tmp_path, big_vcf, "z")
        else:
            whole = plain_gzip(big_vcf, tmp_path / "plain.vcf.gz")
        data = bytearray(whole.read_bytes())
        data[len(data) // 2] ^= 0xFF
        bad = tmp_path / "bad.vcf.gz"
        bad.write_bytes(bytes(data))
        with pytest.raises(InputError, match=r"bad.vcf.gz is damaged or malformed"):
            read_all(bad)


READ_STDIN = (
    "import sys; import numpy as np; from dietnet_cli import vcf; "
    "blocks = list(vcf.iter_blocks('-', threads=2, block_size=500)); "
    "np.save(sys.argv[1], np.concatenate([b.dosage for b in blocks], axis=1))"
)


@pytest.mark.parametrize("kind", ["plain", "z", "b"], ids=["vcf", "vcf.gz", "bcf"])
def test_standard_input_reads_like_the_file(tmp_path, big_vcf, kind):
    source = big_vcf if kind == "plain" else compress(tmp_path, big_vcf, kind)
    out = tmp_path / "dosage.npy"
    with open(source, "rb") as handle:
        result = subprocess.run(
            [sys.executable, "-c", READ_STDIN, str(out)],
            stdin=handle,
            capture_output=True,
            text=True,
            timeout=120,
        )
    assert result.returncode == 0, result.stderr
    dosage, _, _ = read_all(source)
    np.testing.assert_array_equal(np.load(out), dosage)
