"""The dataset directory's tables."""

from __future__ import annotations

import csv

import numpy as np
import pytest

from dietnet_cli import dataset


def table(ids: tuple[str, ...]) -> dataset.VariantTable:
    count = len(ids)
    rng = np.random.default_rng(5)
    return dataset.VariantTable(
        chrom=tuple(["1", "chr2", "X"][i % 3] for i in range(count)),
        position=np.arange(1, count + 1, dtype=np.int64) * 1000,
        variant_id=ids,
        ref=tuple("ACGT"[i % 4] for i in range(count)),
        alt=tuple("GTAC"[i % 4] for i in range(count)),
        alt_frequency=np.concatenate([[0.0, 1.0, 1e-7], rng.random(count - 3)]),
        missing_rate=np.concatenate([[0.5, 0.0, 1 / 3], rng.random(count - 3)]),
    )


class TestVariantTable:
    @pytest.mark.parametrize(
        "odd_id",
        [None, 'rs"1', "rs\t1", "a\nb"],
        ids=["plain", "quote", "tab", "newline"],
    )
    def test_written_as_csv_writes_it(self, tmp_path, odd_id):
        ids = tuple(f"rs{i}" for i in range(50))
        if odd_id is not None:
            ids = (*ids[:20], odd_id, *ids[21:])
        variants = table(ids)
        path = tmp_path / "variants.tsv"
        read_back = variants.write_tsv(path)
        with open(tmp_path / "reference.tsv", "w", newline="") as handle:
            writer = csv.writer(handle, delimiter="\t", lineterminator="\n")
            writer.writerow(dataset.VARIANT_COLUMNS)
            for row in zip(
                variants.chrom,
                variants.position.tolist(),
                variants.variant_id,
                variants.ref,
                variants.alt,
                variants.alt_frequency,
                variants.missing_rate,
                strict=True,
            ):
                writer.writerow([*row[:5], f"{row[5]:.6g}", f"{row[6]:.6g}"])
        assert path.read_bytes() == (tmp_path / "reference.tsv").read_bytes()
        loaded = dataset.VariantTable.read_tsv(path)
        assert loaded.variant_id == ids
        np.testing.assert_array_equal(loaded.alt_frequency, read_back.alt_frequency)
        np.testing.assert_allclose(loaded.missing_rate, variants.missing_rate, 1e-5)

    def test_columns_of_different_lengths_refused(self, tmp_path):
        variants = table(tuple(f"rs{i}" for i in range(10)))
        short = dataset.VariantTable(**{**variants.__dict__, "ref": variants.ref[:9]})
        with pytest.raises(ValueError, match="differ in length"):
            short.write_tsv(tmp_path / "variants.tsv")
