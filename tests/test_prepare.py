"""The prepare stage: inputs in every format to one dataset directory."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from dataclasses import replace

import numpy as np
import pytest

from dietnet_cli import dataset, vcf
from dietnet_cli import prepare as prepare_module
from dietnet_cli import spans as spans_module
from dietnet_cli.errors import DietnetError, InputError
from dietnet_cli.genotypes import VariantBlock
from dietnet_cli.prepare import _consume, prepare
from dietnet_cli.variantfilter import Filters

from .conftest import (
    VCF_HEADER,
    make_cohort,
    polymorphic,
    run_tool,
    write_bed,
    write_labels,
    write_vcf,
)


def run(input_path, labels_path, out, **options):
    options.setdefault("show_progress", False)
    return prepare(str(input_path), labels_path=labels_path, out=out, **options)


def assert_nothing_left(out):
    """A failed run leaves no dataset and no temporary directory."""
    assert not out.exists()
    assert not [p.name for p in out.parent.iterdir() if ".partial-" in p.name]


def files_of(path):
    """The dataset files whose bytes must not depend on how they were made."""
    return {
        name: (path / name).read_bytes()
        for name in (dataset.GENOTYPES, dataset.SAMPLES, dataset.VARIANTS)
    }


def literal_vcf(tmp_path, records, samples=("A", "B", "C", "D", "E"), name="in.vcf"):
    columns = "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT"
    text = VCF_HEADER + "\t".join([columns, *samples]) + "\n"
    text += "".join(record.replace(" ", "\t") + "\n" for record in records)
    path = tmp_path / name
    path.write_text(text)
    return path


def literal_labels(tmp_path, samples=("A", "B", "C", "D", "E")):
    path = tmp_path / "labels.tsv"
    pops = ("GBR", "YRI")
    path.write_text(
        "sample\tpop\n"
        + "".join(f"{s}\t{pops[i % 2]}\n" for i, s in enumerate(samples))
    )
    return path


def compress(tmp_path, source, kind="z", index=False):
    out = tmp_path / (source.name.split(".")[0] + {"z": ".vcf.gz", "b": ".bcf"}[kind])
    run_tool("bcftools", "view", f"-O{kind}", "-o", str(out), str(source))
    if index:
        run_tool("bcftools", "index", str(out))
    return out


class TestDataset:
    def test_contents(self, tmp_path, cohort, labels_path):
        cohort = polymorphic(cohort)
        source = write_vcf(tmp_path / "in.vcf", cohort)
        result = run(source, labels_path, tmp_path / "ds")

        opened = dataset.open_dataset(tmp_path / "ds")
        np.testing.assert_array_equal(opened.genotypes, cohort.dosage)
        assert opened.genotypes.dtype == np.int8
        assert opened.sample_id == cohort.sample_id
        assert opened.label == cohort.label
        assert opened.group == cohort.group
        assert opened.variants.chrom == cohort.chrom
        assert opened.variants.position.tolist() == list(cohort.position)
        assert opened.variants.variant_id == cohort.variant_id
        assert opened.variants.ref == cohort.ref
        assert opened.variants.alt == cohort.alt
        called = np.where(cohort.dosage >= 0, cohort.dosage, 0).sum(axis=0)
        np.testing.assert_allclose(
            opened.variants.alt_frequency, called / (2 * 13), rtol=1e-5
        )
        assert result.checksum == dataset.dataset_checksum(tmp_path / "ds")
        # prepare returns what opening the directory gives, without reading it
        np.testing.assert_array_equal(result.genotypes, opened.genotypes)
        for name in ("path", "sample_id", "label", "group", "manifest"):
            assert getattr(result, name) == getattr(opened, name), name
        for name in ("chrom", "variant_id", "ref", "alt"):
            assert getattr(result.variants, name) == getattr(opened.variants, name)
        for name in ("position", "alt_frequency", "missing_rate"):
            returned = getattr(result.variants, name)
            assert returned.dtype == getattr(opened.variants, name).dtype
            np.testing.assert_array_equal(returned, getattr(opened.variants, name))

        manifest = opened.manifest
        assert manifest["kind"] == "dietnet-dataset"
        assert manifest["num_samples"] == 13
        assert manifest["num_variants"] == 20
        assert manifest["num_records_read"] == 20
        assert manifest["records_dropped"] == {}
        assert manifest["genome_build"] == "GRCh38"
        assert manifest["input_format"] == "vcf"
        assert manifest["num_classes"] == 3
        assert len(manifest["inputs"]["genotypes"]["sha256"]) == 64
        assert not [p for p in tmp_path.iterdir() if ".partial-" in p.name]

    @pytest.mark.parametrize(
        "index",
        [
            np.array([0]),
            np.array([12, 3, 5]),
            np.arange(13),
            (np.array([1, 7, 11]), slice(3, 17)),
            (np.arange(13), slice(19, 20)),
            (np.array([4]), slice(5, 5)),
        ],
        ids=["one-row", "unsorted", "all", "columns", "last-column", "no-column"],
    )
    def test_rows_read_like_the_memory_map(self, tmp_path, cohort, labels_path, index):
        source = write_vcf(tmp_path / "in.vcf", polymorphic(cohort))
        run(source, labels_path, tmp_path / "ds")
        opened = dataset.open_dataset(tmp_path / "ds")
        rows = opened.genotype_rows()
        assert rows.shape == opened.genotypes.shape == (13, 20)
        np.testing.assert_array_equal(rows[index], opened.genotypes[index])
        rows.close()

    @pytest.mark.parametrize("group_bytes", [1, 7, 1 << 26])
    @pytest.mark.parametrize(
        "memory_bytes",
        [(0, 0), (20, 0), (1000, 1000), (1000, 20)],
        ids=["spilled", "held-then-spilled", "in-memory", "mixed"],
    )
    @pytest.mark.parametrize("map_bytes", [0, 115], ids=["read", "mapped"])
    def test_assembly_in_groups_of_any_size(
        self, tmp_path, group_bytes, memory_bytes, map_bytes
    ):
        rng = np.random.default_rng(2)
        # (num_samples, num_variants) int8 of two stores of uneven blocks
        matrix = rng.integers(-1, 3, size=(5, 23)).astype(np.int8)
        cuts = [(0, 4), (4, 5), (5, 12), (12, 23)]
        stores = []
        for name, blocks, budget in (
            ("a", cuts[:2], memory_bytes[0]),
            ("b", cuts[2:], memory_bytes[1]),
        ):
            store = dataset.BlockStore(tmp_path / name, 5, memory_bytes=budget)
            for start, stop in blocks:
                store.append(matrix[:, start:stop].copy())
            store.close()
            assert store.in_memory == (budget >= 5 * (blocks[-1][1] - blocks[0][0]))
            assert (tmp_path / name).exists() != store.in_memory
            stores.append(store)
        digest = dataset.assemble_genotypes(
            stores, tmp_path / "g.npy", group_bytes=group_bytes, map_bytes=map_bytes
        )
        np.testing.assert_array_equal(np.load(tmp_path / "g.npy"), matrix)
        # written front to back (blocks held, or scratch files mapped as the
        # matrix fits map_bytes), the file is hashed on the way
        if all(store.in_memory for store in stores) or map_bytes >= matrix.size:
            expected = hashlib.sha256((tmp_path / "g.npy").read_bytes()).hexdigest()
            assert digest.hexdigest() == expected
        else:
            assert digest is None
        for store in stores:
            store.discard()
            assert not (tmp_path / store.path.name).exists()

    @pytest.mark.parametrize("capacity", [23, 24, 40, 10**6])
    @pytest.mark.parametrize("num_samples", [1, 5])
    def test_matrix_written_as_read(self, tmp_path, capacity, num_samples):
        # A PLINK reader writes its blocks straight into the matrix file,
        # laid out for capacity columns; finishing closes the gaps.
        rng = np.random.default_rng(3)
        matrix = rng.integers(-1, 3, size=(num_samples, 23)).astype(np.int8)
        path = tmp_path / "g.npy"
        writer = dataset.MatrixWriter(path, num_samples, capacity, group_bytes=30)
        for start, stop in [(0, 4), (4, 4), (4, 12), (12, 23)]:
            writer.append(matrix[:, start:stop])
        assert writer.num_variants == 23
        writer.finish()
        writer.discard()  # finished: the file is the result
        loaded = np.load(path, mmap_mode="r")
        np.testing.assert_array_equal(loaded, matrix)
        assert path.stat().st_size == loaded.offset + matrix.size
        assert loaded.offset % 64 == 0

    def test_matrix_writer_refuses_more_than_planned(self, tmp_path):
        writer = dataset.MatrixWriter(tmp_path / "g.npy", 2, 3)
        writer.append(np.zeros((2, 2), np.int8))
        with pytest.raises(dataset.MatrixFullError, match="More than the 3 variants"):
            writer.append(np.zeros((2, 2), np.int8))
        writer.discard()  # not finished: nothing is left
        assert not (tmp_path / "g.npy").exists()

    def test_missing_calls_kept_as_minus_one(
        self, tmp_path, cohort, vcf_path, labels_path
    ):
        filters = Filters(max_missing=1)
        result = run(vcf_path, labels_path, tmp_path / "ds", filters=filters)
        kept = [cohort.position.index(p) for p in result.variants.position]
        np.testing.assert_array_equal(result.genotypes, cohort.dosage[:, kept])
        assert (result.genotypes == -1).any()


class TestFormatsAgree:
    """VCF, BCF (by bcftools) and PLINK (by plink2 and by bed-reader) give
    byte-identical genotypes and the same variants."""

    def test_identical(self, tmp_path, edge_cohort):
        cohort = polymorphic(edge_cohort)
        source = write_vcf(tmp_path / "in.vcf", cohort)
        labels = write_labels(tmp_path / "labels.tsv", cohort)
        run_tool(
            "plink2", "--vcf", str(source), "--make-bed", "--out", str(tmp_path / "p2")
        )
        inputs = {
            "vcf": source,
            "bcf": compress(tmp_path, source, "b"),
            "vcf.gz": compress(tmp_path, source, "z"),
            "plink2": tmp_path / "p2.bed",
            "bed-reader": write_bed(tmp_path / "br", cohort),
        }
        made = {}
        for name, path in inputs.items():
            out = tmp_path / f"ds-{name}"
            result = run(path, labels, out, build="GRCh38")
            np.testing.assert_array_equal(result.genotypes, cohort.dosage, err_msg=name)
            made[name] = (
                (out / dataset.GENOTYPES).read_bytes(),
                (out / dataset.SAMPLES).read_bytes(),
                result.variants.chrom,
                result.variants.position.tolist(),
                result.variants.ref,
                result.variants.alt,
            )
        assert all(value == made["vcf"] for value in made.values())


class TestFilters:
    RECORDS = [
        "1 100 rs1 A G . . . GT 0/0 0/1 1/1 0/0 0/1",
        "1 100 rs1 A G . . . GT 0/0 0/1 1/1 0/0 0/1",  # duplicate
        "1 200 rs2 A G,T . . . GT 0/1 0/2 0/0 0/0 0/0",  # multiallelic
        "1 300 rs3 AT A . . . GT 0/1 0/0 0/0 0/0 0/0",  # not_snp
        "1 400 rs4 A <DEL> . . . GT 0/1 0/0 0/0 0/0 0/0",  # not_snp
        "1 600 rs6 A G . . . GT 0/0 0/0 0/0 0/0 0/0",  # monomorphic
        "1 700 rs7 C T . . . GT 0/1 0/0 0/0 0/0 0/0",  # maf 0.1
        "1 800 rs8 C T . . . GT ./. ./. 0/1 0/0 1/1",  # missing 0.4
        "1 900 rs9 G A . . . GT 0/1 0/1 0/0 0/0 0/0",  # maf 0.2
        "1 1000 rs10 G . . . . GT 0/0 0/0 0/0 0/0 0/0",  # no_alt
        "X 500 rs5 A G . . . GT 0/1 0/0 0/0 0/0 0/0",  # contig
    ]

    def test_counted_by_reason(self, tmp_path):
        source = literal_vcf(tmp_path, self.RECORDS)
        listed = tmp_path / "variants.txt"
        listed.write_text("1:100\n1:600\n1:700\n1:800\nrs5\n")
        result = run(
            source,
            literal_labels(tmp_path),
            tmp_path / "ds",
            filters=Filters(maf=0.15, variants_file=str(listed)),
        )
        assert result.variants.position.tolist() == [100]
        assert result.manifest["records_dropped"] == {
            "contig": 1,
            "duplicate": 1,
            "maf": 1,
            "missing": 1,
            "monomorphic": 1,
            "multiallelic": 1,
            "no_alt": 1,
            "not_listed": 1,
            "not_snp": 2,
        }
        assert result.manifest["num_records_read"] == len(self.RECORDS)
        assert result.manifest["filters"]["maf"] == 0.15

    @pytest.mark.parametrize(
        ("maf", "max_missing", "kept"),
        [
            (0.0, 0.1, [100, 700, 900]),
            (0.1, 0.1, [100, 700, 900]),
            (0.2, 0.1, [100, 900]),
            (0.0, 0.4, [100, 700, 800, 900]),
            (0.0, 0.39, [100, 700, 900]),
        ],
    )
    def test_thresholds_are_inclusive(self, tmp_path, maf, max_missing, kept):
        source = literal_vcf(tmp_path, self.RECORDS)
        result = run(
            source,
            literal_labels(tmp_path),
            tmp_path / "ds",
            filters=Filters(maf=maf, max_missing=max_missing),
        )
        assert result.variants.position.tolist() == kept

    def test_all_contigs(self, tmp_path):
        source = literal_vcf(tmp_path, self.RECORDS)
        result = run(
            source,
            literal_labels(tmp_path),
            tmp_path / "ds",
            filters=Filters(all_contigs=True),
        )
        assert result.variants.chrom == ("1", "1", "1", "X")
        assert "contig" not in result.manifest["records_dropped"]

    @pytest.mark.parametrize(
        ("text", "kept"),
        [
            ("1:100\n1:900\n", [100, 900]),
            ("chr1:700\n", [700]),
            ("1:100:A:G\n1:900:G:T\n", [100]),
            ("rs7\nrs9 extra words\n", [700, 900]),
            ("chrom\tpos\n1\t700\nchr1\t900\n", [700, 900]),
            ("id\tchrom\tpos\tref\talt\nx\t1\t900\tG\tA\nx\t1\t700\tC\tG\n", [900]),
            ("1:100\nrs9\n1:700:C:T\n", [100, 700, 900]),
            ("1:100:a:g\r\nchrom\r\n", [100]),
            ("chrom\tpos\tref\talt\r\n1\t700\tc\tt\r\n", [700]),
        ],
        ids=[
            "pos",
            "chr-prefix",
            "alleles",
            "ids",
            "tsv",
            "tsv-alleles",
            "mixed",
            "lowercase-crlf",
            "tsv-lowercase-crlf",
        ],
    )
    def test_variant_list_forms(self, tmp_path, text, kept):
        listed = tmp_path / "variants.txt"
        listed.write_text(text)
        result = run(
            literal_vcf(tmp_path, self.RECORDS),
            literal_labels(tmp_path),
            tmp_path / "ds",
            filters=Filters(variants_file=str(listed)),
        )
        assert result.variants.position.tolist() == kept

    @pytest.mark.parametrize(
        ("text", "message"),
        [
            ("\n\n", r"names no variants"),
            ("chrom\tpos\n1\tabc\n", r"line 2.*position 'abc'"),
            ("chrom\tpos\tref\n1\n", r"line 2 has 1 columns"),
        ],
        ids=["empty", "bad-position", "short-line"],
    )
    def test_bad_variant_list(self, tmp_path, text, message):
        listed = tmp_path / "variants.txt"
        listed.write_text(text)
        with pytest.raises(InputError, match=message):
            run(
                literal_vcf(tmp_path, self.RECORDS),
                literal_labels(tmp_path),
                tmp_path / "ds",
                filters=Filters(variants_file=str(listed)),
            )
        assert_nothing_left(tmp_path / "ds")

    def test_regions_need_an_index(self, tmp_path):
        with pytest.raises(InputError, match=r"--regions needs an indexed input"):
            run(
                literal_vcf(tmp_path, self.RECORDS),
                literal_labels(tmp_path),
                tmp_path / "ds",
                filters=Filters(regions=("1:1-500",)),
            )
        assert_nothing_left(tmp_path / "ds")

    @pytest.mark.parametrize(
        ("regions", "kept"),
        [(("1:1-750",), [100, 700]), (("1:650-850", "1:850-1000"), [700, 900])],
    )
    def test_regions_of_indexed_vcf(self, tmp_path, regions, kept):
        indexed = compress(tmp_path, literal_vcf(tmp_path, self.RECORDS), "z", True)
        result = run(
            indexed,
            literal_labels(tmp_path),
            tmp_path / "ds",
            filters=Filters(regions=regions),
        )
        assert result.variants.position.tolist() == kept

    @pytest.mark.parametrize("threads", [1, 2])
    def test_region_on_unknown_contig(self, tmp_path, threads):
        indexed = compress(tmp_path, literal_vcf(tmp_path, self.RECORDS), "z", True)
        with pytest.raises(InputError, match=r"Region 'chr1:1-500' names contig"):
            run(
                indexed,
                literal_labels(tmp_path),
                tmp_path / "ds",
                filters=Filters(regions=("1:1-100", "chr1:1-500")),
                threads=threads,
            )
        assert_nothing_left(tmp_path / "ds")

    def test_regions_of_plink(self, tmp_path, cohort):
        cohort = polymorphic(cohort)
        bed = write_bed(tmp_path / "in", cohort)
        labels = write_labels(tmp_path / "labels.tsv", cohort)
        start, stop = cohort.position[11], cohort.position[13]
        result = run(
            bed,
            labels,
            tmp_path / "ds",
            filters=Filters(regions=(f"2:{start}-{stop}",)),
        )
        assert result.variants.position.tolist() == list(cohort.position[11:14])
        # written as read into a layout for the region's 3 variants
        np.testing.assert_array_equal(result.genotypes, cohort.dosage[:, 11:14])
        with pytest.raises(InputError, match=r"Region '2:x' is not of the form"):
            run(bed, labels, tmp_path / "ds2", filters=Filters(regions=("2:x",)))


class TestThreads:
    # VCF text is read by one process that inflates with two threads; an
    # indexed BCF is split into regions read by two worker processes.
    @pytest.mark.parametrize("kind", ["z", "b"], ids=["vcf.gz", "bcf"])
    def test_two_threads_give_the_same_dataset(self, tmp_path, kind):
        cohort = make_cohort(13, 300, missing=0.02)
        # Contig 1 is declared 50 kb long: put records past that length, on
        # a contig the header does not declare, on X, and an indel across
        # a region boundary, all of which one reader sees.
        chrom = list(cohort.chrom)
        position = list(cohort.position)
        chrom[149], position[149] = "1", 60_000
        chrom[-1], position[-1] = "7", 500
        text = write_vcf(
            tmp_path / "x.vcf",
            replace(cohort, chrom=tuple(chrom), position=tuple(position)),
        ).read_text()
        text += "X\t100\t.\tA\tG\t.\t.\t.\tGT" + "\t0/1" * 13 + "\n"
        lines = text.splitlines()
        body = [line for line in lines if not line.startswith("#")]
        body.append("1\t6248\t.\tAAAAA\tA\t.\t.\t.\tGT" + "\t0/1" * 13)
        body.sort(key=lambda line: (line.split("\t")[0], int(line.split("\t")[1])))
        header = [line for line in lines if line.startswith("#")]
        if kind == "b":
            # BCF needs every contig declared (in file order: the regions
            # follow the order of the header).
            last = max(i for i, line in enumerate(header) if "contig" in line)
            header[last + 1 : last + 1] = ["##contig=<ID=7>", "##contig=<ID=X>"]
        source = tmp_path / "in.vcf"
        source.write_text("\n".join(header + body) + "\n")
        indexed = compress(tmp_path, source, kind, index=True)
        labels = write_labels(tmp_path / "labels.tsv", cohort)

        one = run(indexed, labels, tmp_path / "one", threads=1)
        two = run(indexed, labels, tmp_path / "two", threads=2)
        assert files_of(tmp_path / "one") == files_of(tmp_path / "two")
        for key in ("records_dropped", "num_records_read", "num_variants"):
            assert one.manifest[key] == two.manifest[key], key
        assert 60_000 in one.variants.position.tolist()
        assert "7" in one.variants.chrom
        assert one.manifest["records_dropped"]["contig"] == 1
        assert one.manifest["records_dropped"]["not_snp"] == 1

    @pytest.fixture
    def spans(self, monkeypatch):
        """Any bgzipped VCF of a few blocks is read in spans."""
        monkeypatch.setattr(vcf, "SPAN_BYTES", 1)
        monkeypatch.setattr(vcf, "SPAN_HEAD_START", 0)

    @staticmethod
    def spanned_vcf(tmp_path, cohort, edit=None, extra_header=()):
        """``cohort`` bgzipped (four or more blocks), its record lines changed
        by ``edit`` first."""
        text = write_vcf(tmp_path / "x.vcf", cohort).read_text()
        lines = text.splitlines()
        header = [line for line in lines if line.startswith("#")]
        header[-1:-1] = extra_header
        body = [line for line in lines if not line.startswith("#")]
        source = tmp_path / "in.vcf"
        source.write_text("\n".join(header + (edit or list)(body)) + "\n")
        run_tool("bgzip", "--keep", "--force", str(source))  # as bcftools would not
        path = tmp_path / "in.vcf.gz"
        assert len(vcf.text_spans(str(path), 3)) == 3
        return path

    @staticmethod
    def short_record(body):
        """The fifth record from the end, one sample column short."""
        body[-5] = body[-5].rsplit("\t", 1)[0]
        return body

    def test_spans_give_the_same_dataset(self, tmp_path, spans, caplog):
        # A bgzipped VCF is cut into spans of its blocks, read by this
        # process and two workers; with records passed over (an indel, X)
        # and a third of the samples left out by the labels.
        cohort = make_cohort(13, 3000, missing=0.02)

        def add_records(body):
            fields = body[1500].split("\t")
            body.insert(
                1500, "\t".join([fields[0], fields[1], ".", "AC", "A"] + fields[5:])
            )
            return [*body, "X\t100\t.\tA\tG\t.\t.\t.\tGT" + "\t0/1" * 13]

        path = self.spanned_vcf(tmp_path, cohort, add_records)
        labels = write_labels(tmp_path / "labels.tsv", cohort)
        lines = labels.read_text().splitlines()
        labels.write_text("\n".join(line for i, line in enumerate(lines) if i % 3 != 1))
        one = run(path, labels, tmp_path / "one", threads=1)
        caplog.set_level(logging.INFO)
        three = run(path, labels, tmp_path / "three", threads=3)
        assert files_of(tmp_path / "one") == files_of(tmp_path / "three")
        keys = ("records_dropped", "num_records_read", "num_variants")
        for key in (*keys, "dataset_checksum", "samples_dropped"):
            assert one.manifest[key] == three.manifest[key], key
        assert one.manifest["records_dropped"]["not_snp"] == 1
        assert one.manifest["records_dropped"]["contig"] == 1
        assert three.genotypes.shape[0] == 8
        assert "repeated in two parts" not in caplog.text

    @pytest.mark.parametrize("indexed", [False, True])
    def test_spans_with_every_contig(self, tmp_path, spans, indexed):
        # What the workers are sent must pickle (--all-contigs included).
        cohort = make_cohort(13, 3000)

        def on_x(body):
            return [*body, "X\t100\t.\tA\tG\t.\t.\t.\tGT" + "\t0/1" * 13]

        path = self.spanned_vcf(tmp_path, cohort, on_x)
        if indexed:
            run_tool("tabix", "-p", "vcf", str(path))
        labels = write_labels(tmp_path / "labels.tsv", cohort)
        every = Filters(all_contigs=True)
        run(path, labels, tmp_path / "one", threads=1, filters=every)
        three = run(path, labels, tmp_path / "three", threads=3, filters=every)
        assert files_of(tmp_path / "one") == files_of(tmp_path / "three")
        assert "X" in three.variants.chrom

    @pytest.mark.parametrize("threads", [1, 3], ids=["whole", "spans"])
    def test_written_as_read_from_an_indexed_file(
        self, tmp_path, spans, caplog, monkeypatch, threads
    ):
        # The index counts the records: the first reader writes straight
        # into the matrix file, laid out for them all (some are dropped),
        # and the span workers' blocks after its own as they come.
        cohort = make_cohort(13, 3000, missing=0.02)
        path = self.spanned_vcf(tmp_path, cohort)
        labels = write_labels(tmp_path / "labels.tsv", cohort)
        plain = run(path, labels, tmp_path / "plain", threads=threads)
        run_tool("tabix", "-p", "vcf", str(path))
        assert vcf.count_records(str(path)) == 3000
        streamed = []
        stream = spans_module._stream_blocks

        def spy(*args):
            streamed.append(stream(*args))
            return streamed[-1]

        monkeypatch.setattr(spans_module, "_stream_blocks", spy)
        indexed = run(path, labels, tmp_path / "indexed", threads=threads)
        monkeypatch.setattr(spans_module, "_stream_blocks", stream)
        assert indexed.num_variants < 3000
        if threads > 1:  # both workers' blocks, and every block
            ((first, second),) = streamed
            assert first > 0
            assert second > 0
        assert files_of(tmp_path / "plain") == files_of(tmp_path / "indexed")
        assert (
            plain.manifest["dataset_checksum"] == indexed.manifest["dataset_checksum"]
        )
        # An index that counts fewer records than the file holds (the file
        # was re-made after indexing): read again without the count. The
        # first reader runs out of room while workers read, and some lines
        # go to htslib through temporary files.
        more = make_cohort(13, 12000, missing=0.02)

        def with_depth(body):
            for at in range(0, len(body), 7):
                fields = body[at].split("\t")
                depths = [f"{gt}:{7 ** (i % 5)}" for i, gt in enumerate(fields[9:])]
                body[at] = "\t".join([*fields[:8], "GT:DP", *depths])
            return body

        index = path.with_name(path.name + ".tbi")
        kept_index = index.read_bytes()
        depth = '##FORMAT=<ID=DP,Number=1,Type=Integer,Description="Depth">'
        path = self.spanned_vcf(tmp_path, more, with_depth, [depth])
        index.write_bytes(kept_index)
        labels = write_labels(tmp_path / "labels.tsv", more)
        caplog.set_level(logging.WARNING)
        stale = run(path, labels, tmp_path / "stale", threads=threads)
        assert "counts 3,000 records, but the file holds more" in caplog.text
        index.unlink()
        run(path, labels, tmp_path / "fresh", threads=threads)
        assert files_of(tmp_path / "stale") == files_of(tmp_path / "fresh")
        assert stale.num_variants > 3000 * threads

    def test_a_failed_worker_leaves_no_open_matrix(self, tmp_path, spans):
        # This process writes the matrix as it reads (the file is indexed)
        # when a worker fails: the matrix file is closed and removed.
        cohort = make_cohort(13, 3000, missing=0.02)

        path = self.spanned_vcf(tmp_path, cohort, self.short_record)
        run_tool("tabix", "-p", "vcf", str(path))
        labels = write_labels(tmp_path / "labels.tsv", cohort)
        with pytest.raises(InputError, match=r"in.vcf.gz is damaged or malformed"):
            run(path, labels, tmp_path / "ds", threads=3)
        assert_nothing_left(tmp_path / "ds")
        open_files = []
        for descriptor in os.listdir("/proc/self/fd"):
            try:
                open_files.append(os.readlink(f"/proc/self/fd/{descriptor}"))
            except FileNotFoundError:  # the listing's own descriptor
                continue
        assert not [name for name in open_files if dataset.GENOTYPES in name]

    def test_a_worker_fails_while_its_blocks_are_copied(
        self, tmp_path, spans, monkeypatch
    ):
        # The order is pinned by hooks that only wait: the worker announces
        # two blocks and waits until this process copies the first; this
        # process then waits until the worker has failed on a bad record
        # before it copies the second. The worker's error is what is
        # reported (its scratch file was once removed under the copy).
        cohort = make_cohort(13, 20_000)

        path = self.spanned_vcf(tmp_path, cohort, self.short_record)
        run_tool("tabix", "-p", "vcf", str(path))
        labels = write_labels(tmp_path / "labels.tsv", cohort)
        copying, failed = tmp_path / "copying", tmp_path / "failed"

        def wait_for(done):
            deadline = time.monotonic() + 60
            while not done() and time.monotonic() < deadline:
                time.sleep(0.01)

        write = dataset.BlockStore._write

        def write_then_wait(store, block):
            write(store, block)
            if store.announced and len(store.widths) == 2:
                wait_for(copying.exists)

        new_blocks = dataset.BlockReader.new_blocks

        def one_block_then_wait(reader, max_bytes):
            if reader.count == 0:  # both blocks announced first
                widths = dataset.widths_path(reader.path)
                wait_for(lambda: widths.exists() and widths.stat().st_size >= 16)
            blocks = new_blocks(reader, 1)
            if reader.count == 1 and not copying.exists():
                copying.touch()
                wait_for(failed.exists)
            return blocks

        consume = prepare_module._consume

        def consume_or_tell(*args, **kwargs):
            try:
                return consume(*args, **kwargs)
            except BaseException:
                failed.touch()
                raise

        monkeypatch.setattr(dataset.BlockStore, "_write", write_then_wait)
        monkeypatch.setattr(dataset.BlockReader, "new_blocks", one_block_then_wait)
        monkeypatch.setattr(prepare_module, "_consume", consume_or_tell)
        with pytest.raises(InputError, match=r"in.vcf.gz is damaged or malformed"):
            run(path, labels, tmp_path / "ds", threads=2)
        assert copying.exists()
        assert failed.exists()
        assert_nothing_left(tmp_path / "ds")

    @pytest.mark.parametrize("indexed", [False, True], ids=["held", "streamed"])
    def test_a_failed_worker_does_not_wait_for_the_others(
        self, tmp_path, spans, monkeypatch, indexed
    ):
        # The last span's worker fails on a bad record while the first
        # worker is still reading (held up here by a hook that only waits):
        # the error comes at once, and the slow worker is stopped. With an
        # index, this process is copying the first worker's blocks then.
        cohort = make_cohort(13, 3000)

        path = self.spanned_vcf(tmp_path, cohort, self.short_record)
        if indexed:
            run_tool("tabix", "-p", "vcf", str(path))
        labels = write_labels(tmp_path / "labels.tsv", cohort)
        write = dataset.BlockStore._write

        def slow_first_worker(store, block):
            if store.path.name == "span-1":
                time.sleep(60)
            write(store, block)

        monkeypatch.setattr(dataset.BlockStore, "_write", slow_first_worker)
        started = time.monotonic()
        with pytest.raises(InputError, match=r"in.vcf.gz is damaged or malformed"):
            run(path, labels, tmp_path / "ds", threads=3)
        assert time.monotonic() - started < 30
        assert_nothing_left(tmp_path / "ds")

    def test_a_reader_stops_between_blocks_when_asked(self, tmp_path):
        # What lets dietnet stop reading its own span once a worker failed.
        def block(position):
            dosage = np.array([[0], [2]], np.int8)
            return VariantBlock(
                ["1"], np.array([position]), ["."], ["A"], ["G"], dosage
            )

        asked = []
        result = _consume(
            iter([block(10), block(20), block(30)]),
            dataset.BlockStore(tmp_path / "store", 2),
            Filters(),
            None,
            False,
            stop=lambda: asked.append(1) or len(asked) == 2,
        )
        assert result.num_read == 2
        assert result.store.num_variants == 2

    def test_a_repeat_across_spans_is_dropped(self, tmp_path, spans, caplog):
        # The first record comes again at the end, in another span: the
        # file is read again by one process, which drops it.
        cohort = polymorphic(make_cohort(13, 3000, missing=0.0))
        path = self.spanned_vcf(tmp_path, cohort, lambda body: [*body, body[0]])
        labels = write_labels(tmp_path / "labels.tsv", cohort)
        caplog.set_level(logging.INFO)
        dataset_ = run(path, labels, tmp_path / "ds", threads=3)
        assert "repeated in two parts" in caplog.text
        assert dataset_.manifest["records_dropped"] == {"duplicate": 1}
        np.testing.assert_array_equal(dataset_.genotypes, cohort.dosage)

    @pytest.mark.parametrize("where", [5, -5], ids=["this-process", "worker"])
    def test_a_bad_record_in_a_span(self, tmp_path, spans, where):
        cohort = make_cohort(13, 3000, missing=0.02)

        def damage(body):
            fields = body[where].split("\t")
            body[where] = "\t".join(fields[:-1])  # one sample column short
            return body

        path = self.spanned_vcf(tmp_path, cohort, self.short_record)
        labels = write_labels(tmp_path / "labels.tsv", cohort)
        with pytest.raises(InputError, match=r"in.vcf.gz is damaged or malformed"):
            run(path, labels, tmp_path / "ds", threads=3)
        assert_nothing_left(tmp_path / "ds")
        # The workers were stopped; the next run gets a pool of its own.
        again = run(
            self.spanned_vcf(tmp_path, cohort), labels, tmp_path / "ok", threads=3
        )
        assert again.genotypes.shape[0] == 13
        assert again.genotypes.shape[1] > 2800

    def test_regions_without_records(self, tmp_path):
        # The first regions of contig 1 hold no record (as the first
        # megabases of chromosome 22 hold none): their parts are empty but
        # still have every sample.
        cohort = polymorphic(make_cohort(6, 40, seed=3))
        cohort = replace(cohort, position=tuple(p + 15_000 for p in cohort.position))
        indexed = compress(tmp_path, write_vcf(tmp_path / "in.vcf", cohort), "b", True)
        labels = write_labels(tmp_path / "labels.tsv", cohort)
        one = run(indexed, labels, tmp_path / "one", threads=1)
        two = run(indexed, labels, tmp_path / "two", threads=2)
        assert two.genotypes.shape == (6, 40)
        assert files_of(tmp_path / "one") == files_of(tmp_path / "two")
        regions = Filters(regions=("1:1-50", "1:1-30000"))
        listed = run(indexed, labels, tmp_path / "regions", filters=regions)
        inside = (np.array(one.variants.chrom) == "1") & (
            one.variants.position <= 30_000
        )
        assert 0 < inside.sum() < 40
        np.testing.assert_array_equal(listed.genotypes, one.genotypes[:, inside])


class TestSamples:
    def test_only_shared_samples_in_input_order(self, tmp_path, cohort):
        cohort = polymorphic(cohort)
        source = write_vcf(tmp_path / "in.vcf", cohort)
        listed = tuple(reversed(cohort.sample_id[3:])) + ("Z1", "Z2")
        labels = write_labels(tmp_path / "labels.tsv", cohort, samples=listed)
        with open(labels, "a") as handle:
            handle.write("Z3\tNA\tNA\tmale\n")
        result = run(source, labels, tmp_path / "ds")
        assert result.sample_id == cohort.sample_id[3:]
        assert result.label == cohort.label[3:]
        np.testing.assert_array_equal(
            result.genotypes, cohort.dosage[3:][:, : result.num_variants]
        )
        assert result.manifest["samples_dropped"] == {
            "input_only": 3,
            "labels_only": 2,
            "unlabelled": 1,
        }

    def test_plink_sample_subset(self, tmp_path, cohort):
        cohort = polymorphic(cohort)
        bed = write_bed(tmp_path / "in", cohort)
        # Samples 0 and 1 make every variant polymorphic.
        chosen = (cohort.sample_id[9], cohort.sample_id[1], cohort.sample_id[0])
        labels = write_labels(tmp_path / "labels.tsv", cohort, samples=chosen)
        result = run(bed, labels, tmp_path / "ds", build="hg19")
        np.testing.assert_array_equal(result.genotypes, cohort.dosage[[0, 1, 9]])
        assert result.manifest["samples_dropped"]["input_only"] == 10
        assert result.manifest["genome_build"] == "GRCh37"
        assert result.manifest["genome_build_evidence"] == "--build"

    def test_label_and_group_columns(self, tmp_path, cohort):
        cohort = polymorphic(cohort)
        source = write_vcf(tmp_path / "in.vcf", cohort)
        labels = tmp_path / "labels.tsv"
        labels.write_text(
            "IID\tancestry\tcontinent\n"
            + "".join(
                f"{s}\t{p}\t{g}\n"
                for s, p, g in zip(
                    cohort.sample_id, cohort.label, cohort.group, strict=True
                )
            )
        )
        result = run(
            source,
            labels,
            tmp_path / "ds",
            label_column="ancestry",
            group_column="continent",
        )
        assert result.label == cohort.label
        assert result.group_of() == {"GBR": "EUR", "YRI": "AFR", "CHB": "EAS"}
        assert result.manifest["label_column"] == "ancestry"
        header = (tmp_path / "ds" / dataset.SAMPLES).read_text().splitlines()[0]
        assert header == "sample_id\tlabel\tgroup"


class TestBuild:
    def test_contradiction(self, tmp_path, cohort):
        source = write_vcf(tmp_path / "in.vcf", cohort)
        labels = write_labels(tmp_path / "labels.tsv", cohort)
        with pytest.raises(InputError, match=r"--build hg19 contradicts .*GRCh38"):
            run(source, labels, tmp_path / "ds", build="hg19")
        assert_nothing_left(tmp_path / "ds")

    def test_unknown_build(self, tmp_path, cohort):
        bed = write_bed(tmp_path / "in", cohort)
        labels = write_labels(tmp_path / "labels.tsv", cohort)
        with pytest.raises(InputError, match=r"Unknown genome build 'hg17'"):
            run(bed, labels, tmp_path / "ds", build="hg17")

    def test_plink_without_build_warns(self, tmp_path, cohort, caplog):
        cohort = polymorphic(cohort)
        bed = write_bed(tmp_path / "in", cohort)
        labels = write_labels(tmp_path / "labels.tsv", cohort)
        with caplog.at_level(logging.WARNING, logger="dietnet_cli"):
            result = run(bed, labels, tmp_path / "ds")
        assert result.build is None
        assert "pass --build" in caplog.text


class TestBadInputs:
    """Each error names the problem, and no dataset is left behind."""

    @pytest.fixture
    def labels(self, tmp_path, cohort):
        return write_labels(tmp_path / "labels.tsv", cohort)

    @pytest.fixture
    def unlisted(self, tmp_path):
        """Filters that keep only a variant the input does not have."""
        listed = tmp_path / "variants.txt"
        listed.write_text("rs99999\n")
        return Filters(variants_file=str(listed))

    def test_missing_input(self, tmp_path, labels):
        with pytest.raises(InputError, match=r"nothere.vcf does not exist"):
            run(tmp_path / "nothere.vcf", labels, tmp_path / "ds")
        assert_nothing_left(tmp_path / "ds")

    def test_not_an_input_format(self, tmp_path, labels):
        path = tmp_path / "table.csv"
        path.write_text("a,b\n1,2\n")
        with pytest.raises(InputError, match=r"table.csv is not a readable VCF or BCF"):
            run(path, labels, tmp_path / "ds")
        assert_nothing_left(tmp_path / "ds")

    def test_malformed_record_midway(self, tmp_path, cohort, labels):
        source = write_vcf(tmp_path / "in.vcf", polymorphic(cohort))
        lines = source.read_text().splitlines()
        lines[12] = "\t".join(lines[12].split("\t")[:-2])
        source.write_text("\n".join(lines) + "\n")
        with pytest.raises(InputError, match=r"in.vcf is damaged or malformed"):
            run(source, labels, tmp_path / "ds")
        assert_nothing_left(tmp_path / "ds")

    def test_allele_index_beyond(self, tmp_path, cohort, labels):
        source = write_vcf(tmp_path / "in.vcf", polymorphic(cohort))
        source.write_text(source.read_text().replace("1/1", "1/2", 1))
        with pytest.raises(InputError, match=r"allele index 2 at"):
            run(source, labels, tmp_path / "ds")
        assert_nothing_left(tmp_path / "ds")

    def test_duplicate_input_samples(self, tmp_path, cohort, labels):
        source = write_vcf(tmp_path / "in.vcf", cohort)
        source.write_text(source.read_text().replace("\tS04", "\tS03"))
        with pytest.raises(InputError, match=r"lists sample 'S03' more than once"):
            run(source, labels, tmp_path / "ds")
        assert_nothing_left(tmp_path / "ds")

    def test_duplicate_label_samples(self, tmp_path, cohort, labels):
        labels.write_text(labels.read_text().replace("S04\t", "S03\t"))
        with pytest.raises(InputError, match=r"lists sample 'S03' twice"):
            run(write_vcf(tmp_path / "in.vcf", cohort), labels, tmp_path / "ds")
        assert_nothing_left(tmp_path / "ds")

    def test_no_shared_sample(self, tmp_path, cohort, labels):
        labels.write_text(labels.read_text().replace("\nS", "\nNA"))
        with pytest.raises(InputError, match=r"No sample of .* is in label file"):
            run(write_vcf(tmp_path / "in.vcf", cohort), labels, tmp_path / "ds")
        assert_nothing_left(tmp_path / "ds")

    def test_no_variant_left(self, tmp_path, cohort, labels, unlisted):
        with pytest.raises(InputError, match=r"No variant of .* is left after filter"):
            run(
                write_vcf(tmp_path / "in.vcf", cohort),
                labels,
                tmp_path / "ds",
                filters=unlisted,
            )
        assert_nothing_left(tmp_path / "ds")

    def test_fileset_parts_do_not_match(self, tmp_path, cohort, labels):
        bed = write_bed(tmp_path / "in", cohort)
        bim = tmp_path / "in.bim"
        bim.write_text("".join(bim.read_text().splitlines(keepends=True)[:-1]))
        with pytest.raises(InputError, match=r"do not belong together"):
            run(bed, labels, tmp_path / "ds")
        assert_nothing_left(tmp_path / "ds")

    def test_output_exists(self, tmp_path, cohort, labels):
        cohort = polymorphic(cohort)
        source = write_vcf(tmp_path / "in.vcf", cohort)
        out = tmp_path / "ds"
        out.mkdir()
        (out / "mine.txt").write_text("keep me")
        with pytest.raises(
            DietnetError, match=r"Dataset .*ds already exists; .*--force"
        ):
            run(source, labels, out)
        assert (out / "mine.txt").read_text() == "keep me"

        run(source, labels, out, force=True)
        assert not (out / "mine.txt").exists()
        assert dataset.open_dataset(out).num_samples == 13
        assert not [p for p in tmp_path.iterdir() if p.name.startswith(".ds.")]

    def test_failed_forced_run_keeps_the_old_dataset(
        self, tmp_path, cohort, labels, unlisted
    ):
        cohort = polymorphic(cohort)
        out = tmp_path / "ds"
        run(write_vcf(tmp_path / "in.vcf", cohort), labels, out)
        before = files_of(out)
        with pytest.raises(InputError, match=r"No variant"):
            run(tmp_path / "in.vcf", labels, out, force=True, filters=unlisted)
        assert files_of(out) == before
        assert json.loads((out / dataset.MANIFEST).read_text())["num_variants"] == 20

    def test_output_directory_missing(self, tmp_path, cohort, labels):
        with pytest.raises(DietnetError, match=r"directory .*nowhere does not exist"):
            run(
                write_vcf(tmp_path / "in.vcf", cohort),
                labels,
                tmp_path / "nowhere" / "ds",
            )
