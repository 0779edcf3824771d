"""The PLINK 1 reader: allele 1 is ALT, -127 becomes -1, filesets checked."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from dietnet_cli import plink, vcf
from dietnet_cli.errors import InputError

from .conftest import run_tool, write_bed, write_vcf


def read_all(path, **options):
    """Concatenate the blocks of a fileset: (dosage, variants, dropped)."""
    fileset = plink.read_fileset(path)
    blocks = list(plink.iter_blocks(fileset, **options))
    dosage = np.concatenate([b.dosage for b in blocks], axis=1)
    variants = [
        (c, int(p), r, a)
        for b in blocks
        for c, p, r, a in zip(b.chrom, b.position, b.ref, b.alt, strict=True)
    ]
    return dosage, variants, sum((b.dropped for b in blocks), Counter())


class TestReading:
    def test_bed_reader_fileset(self, tmp_path, edge_cohort):
        bed = write_bed(tmp_path / "cohort", edge_cohort)
        dosage, variants, dropped = read_all(bed)
        np.testing.assert_array_equal(dosage, edge_cohort.dosage)
        assert dosage.dtype == np.int8
        assert [v[2:] for v in variants] == list(
            zip(edge_cohort.ref, edge_cohort.alt, strict=True)
        )
        assert not dropped

    def test_prefix_or_bed_path(self, tmp_path, cohort):
        write_bed(tmp_path / "cohort", cohort)
        assert plink.is_plink(tmp_path / "cohort")
        assert plink.is_plink(tmp_path / "cohort.bed")
        assert not plink.is_plink(tmp_path / "other")
        by_prefix, _, _ = read_all(tmp_path / "cohort")
        np.testing.assert_array_equal(by_prefix, cohort.dosage)

    def test_plink2_conversion_matches_vcf(self, tmp_path, edge_cohort):
        """plink2 --make-bed writes ALT as allele 1 (column 5) and REF as
        allele 2, so both readers must agree call for call."""
        source = write_vcf(tmp_path / "cohort.vcf", edge_cohort)
        run_tool(
            "plink2", "--vcf", str(source), "--make-bed", "--out", str(tmp_path / "p")
        )
        bim = (tmp_path / "p.bim").read_text().split("\n")[0].split("\t")
        assert (bim[4], bim[5]) == (edge_cohort.alt[0], edge_cohort.ref[0])
        from_plink, variants, _ = read_all(tmp_path / "p.bed")
        blocks = list(vcf.iter_blocks(source))
        from_vcf = np.concatenate([b.dosage for b in blocks], axis=1)
        np.testing.assert_array_equal(from_plink, from_vcf)
        np.testing.assert_array_equal(from_plink, edge_cohort.dosage)
        assert [v[1] for v in variants] == list(edge_cohort.position)

    def test_sample_subset_in_given_order(self, tmp_path, cohort):
        bed = write_bed(tmp_path / "cohort", cohort)
        rows = np.array([7, 0, 12])
        dosage, _, _ = read_all(bed, sample_index=rows)
        np.testing.assert_array_equal(dosage, cohort.dosage[rows])

    @pytest.mark.parametrize("block_size", [1, 4, 8192])
    def test_variant_mask_and_blocks(self, tmp_path, cohort, block_size):
        bed = write_bed(tmp_path / "cohort", cohort)
        mask = np.zeros(cohort.num_variants, dtype=bool)
        mask[[1, 2, 9]] = True
        dosage, _, dropped = read_all(bed, variant_mask=mask, block_size=block_size)
        np.testing.assert_array_equal(dosage, cohort.dosage[:, [1, 2, 9]])
        assert not dropped


class TestRecordsPassedOver:
    def test_counted_by_reason(self, tmp_path, cohort):
        bed = write_bed(tmp_path / "cohort", cohort)
        bim = tmp_path / "cohort.bim"
        rows = [line.split("\t") for line in bim.read_text().splitlines()]
        rows[0][4:6] = ["AT", "A"]  # an indel
        rows[1][4:6] = ["0", "G"]  # monomorphic in PLINK: no ALT
        rows[2][0] = "23"  # PLINK's code for X
        rows[3][0] = "X"
        rows[4][4:6] = ["A", "N"]
        bim.write_text("".join("\t".join(row) + "\n" for row in rows))
        dosage, variants, dropped = read_all(bed)
        assert dropped == {"not_snp": 2, "no_alt": 1, "contig": 2}
        np.testing.assert_array_equal(dosage, cohort.dosage[:, 5:])
        assert len(variants) == cohort.num_variants - 5
        all_contigs, _, dropped = read_all(bed, keep_contig=lambda name: True)
        assert dropped == {"not_snp": 2, "no_alt": 1}
        np.testing.assert_array_equal(all_contigs[:, :2], cohort.dosage[:, 2:4])

    @pytest.mark.parametrize("block_size", [1, 2, 3, 8192])
    def test_counted_in_the_block_of_their_window(self, tmp_path, cohort, block_size):
        bed = write_bed(tmp_path / "cohort", cohort)
        bim = tmp_path / "cohort.bim"
        rows = [line.split("\t") for line in bim.read_text().splitlines()]
        odd = {1: "not_snp", 4: "contig", 5: "not_snp", 9: "contig"}
        for index, reason in odd.items():
            if reason == "contig":
                rows[index][0] = "X"
            else:
                rows[index][4:6] = ["AT", "A"]
        bim.write_text("".join("\t".join(row) + "\n" for row in rows))
        mask = np.ones(cohort.num_variants, bool)
        mask[5] = False  # outside the region: not counted at all
        fileset = plink.read_fileset(bed)
        blocks = list(
            plink.iter_blocks(fileset, variant_mask=mask, block_size=block_size)
        )
        # a block covers block_size records of the file, kept or not
        windows = range(0, cohort.num_variants, block_size)
        expected = [
            Counter(
                reason
                for index, reason in odd.items()
                if start <= index < start + block_size and mask[index]
            )
            for start in windows
        ]
        assert [block.dropped for block in blocks] == [
            counts
            for start, counts in zip(windows, expected, strict=True)
            if counts or any(mask[start : start + block_size])
        ]


class TestBadFilesets:
    @pytest.mark.parametrize("part", [".bim", ".fam", ".bed"])
    def test_missing_part(self, tmp_path, cohort, part):
        write_bed(tmp_path / "cohort", cohort)
        (tmp_path / f"cohort{part}").unlink()
        with pytest.raises(InputError, match=rf"cohort\{part} does not exist"):
            read_all(tmp_path / "cohort.bed")

    def test_not_a_bed_file(self, tmp_path, cohort):
        write_bed(tmp_path / "cohort", cohort)
        (tmp_path / "cohort.bed").write_bytes(b"#CHROM\tPOS\n" * 20)
        with pytest.raises(InputError, match=r"wrong magic bytes"):
            read_all(tmp_path / "cohort.bed")

    @pytest.mark.parametrize(
        ("part", "change"),
        [
            (".fam", "extra"),
            (".fam", "fewer"),
            (".bim", "extra"),
            (".bim", "fewer"),
            (".bed", "fewer"),
        ],
    )
    def test_size_mismatch(self, tmp_path, cohort, part, change):
        write_bed(tmp_path / "cohort", cohort)
        path = tmp_path / f"cohort{part}"
        if part == ".bed":
            path.write_bytes(path.read_bytes()[:-2])
        else:
            # 13 samples fill 4 bytes per variant, as would 14 to 16: the
            # .fam must change by 4 rows to change the .bed size.
            lines = path.read_text().splitlines(keepends=True)
            rows = 4 if part == ".fam" else 1
            if change == "extra":
                lines += [
                    line.replace("S", "T").replace("rs", "ss") for line in lines[:rows]
                ]
            else:
                lines = lines[:-rows]
            path.write_text("".join(lines))
        with pytest.raises(InputError, match=r"do not belong together or one is trunc"):
            read_all(tmp_path / "cohort.bed")

    def test_short_bim_line(self, tmp_path, cohort):
        write_bed(tmp_path / "cohort", cohort)
        bim = tmp_path / "cohort.bim"
        lines = bim.read_text().splitlines()
        lines[3] = "1\trs1003\t0"
        bim.write_text("\n".join(lines) + "\n")
        with pytest.raises(InputError, match=r"cohort.bim line 4 has fewer than 6"):
            read_all(tmp_path / "cohort.bed")

    def test_non_numeric_position(self, tmp_path, cohort):
        write_bed(tmp_path / "cohort", cohort)
        bim = tmp_path / "cohort.bim"
        bim.write_text(bim.read_text().replace(f"\t{cohort.position[2]}\t", "\tx\t"))
        with pytest.raises(InputError, match=r"non-numeric position"):
            read_all(tmp_path / "cohort.bed")

    def test_duplicate_sample_ids(self, tmp_path, cohort):
        write_bed(tmp_path / "cohort", cohort)
        fam = tmp_path / "cohort.fam"
        fam.write_text(fam.read_text().replace("S03", "S02"))
        with pytest.raises(InputError, match=r"lists sample 'S02' more than once"):
            read_all(tmp_path / "cohort.bed")

    def test_no_samples(self, tmp_path, cohort):
        write_bed(tmp_path / "cohort", cohort)
        (tmp_path / "cohort.fam").write_text("")
        (tmp_path / "cohort.bed").write_bytes(bytes([0x6C, 0x1B, 0x01]))
        with pytest.raises(InputError, match=r"cohort.fam lists no samples"):
            read_all(tmp_path / "cohort.bed")

    def test_binary_fam(self, tmp_path, cohort):
        write_bed(tmp_path / "cohort", cohort)
        (tmp_path / "cohort.fam").write_bytes(b"\xff\xfe\x00\x81" * 10)
        with pytest.raises(InputError, match=r"Cannot read PLINK file .*cohort.fam"):
            read_all(tmp_path / "cohort.bed")
