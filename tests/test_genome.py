"""Contig names and genome builds."""

from __future__ import annotations

import pytest

from dietnet_cli import genome


class TestContigs:
    @pytest.mark.parametrize(
        ("name", "bare"),
        [
            ("chr7", "7"),
            ("7", "7"),
            ("CHR7", "7"),
            ("chrM", "MT"),
            ("MT", "MT"),
            ("m", "MT"),
            ("chrx", "X"),
            ("Y", "Y"),
            ("chrUn_gl000220", "Un_gl000220"),
        ],
    )
    def test_normalize(self, name, bare):
        assert genome.normalize_contig(name) == bare

    @pytest.mark.parametrize("name", ["1", "chr1", "22", "chr22"])
    def test_autosomes(self, name):
        assert genome.is_autosome(name)

    @pytest.mark.parametrize(
        "name", ["X", "chrY", "MT", "23", "0", "chr1_random", "GL000192.1", "Pf3D7_01"]
    )
    def test_not_autosomes(self, name):
        assert not genome.is_autosome(name)


class TestBuildNames:
    @pytest.mark.parametrize(
        ("text", "build"),
        [
            ("GRCh37", "GRCh37"),
            ("hg19", "GRCh37"),
            ("b37", "GRCh37"),
            ("37", "GRCh37"),
            ("file:///ref/human_g1k_v37.fasta", "GRCh37"),
            ("hs37d5", "GRCh37"),
            ("GRCh38.p14", "GRCh38"),
            ("hg38", "GRCh38"),
            ("file:///ref/GRCh38_full_analysis_set_plus_decoy_hla.fa", "GRCh38"),
            ("38", "GRCh38"),
            ("T2T-CHM13", None),
            ("mm10", None),
            ("137", None),
        ],
    )
    def test_canonical_build(self, text, build):
        assert genome.canonical_build(text) == build


class TestBuildFromHeader:
    def test_chr1_length_decides(self):
        lines = [
            "##reference=hg19",
            "##contig=<ID=chr1,length=248956422,assembly=hg19>",
        ]
        build, evidence = genome.build_from_vcf_header(lines)
        assert build == "GRCh38"
        assert "248,956,422" in evidence

    def test_grch37_length(self):
        build, _ = genome.build_from_vcf_header(["##contig=<ID=1,length=249250621>"])
        assert build == "GRCh37"

    def test_reference_line(self):
        build, evidence = genome.build_from_vcf_header(
            ["##contig=<ID=1,length=1000>", "##reference=file:///hs37d5.fa"]
        )
        assert build == "GRCh37"
        assert evidence.startswith("##reference")

    def test_assembly_field(self):
        build, evidence = genome.build_from_vcf_header(
            ['##contig=<ID=2,length=5,assembly=GRCh38,URL="http://x,y">']
        )
        assert build == "GRCh38"
        assert "assembly=GRCh38" in evidence

    def test_unknown(self):
        build, evidence = genome.build_from_vcf_header(["##contig=<ID=1>"])
        assert build is None
        assert "no ##reference" in evidence
