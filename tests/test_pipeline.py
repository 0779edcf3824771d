"""embed, train, the model file and predict, on a small simulated cohort."""

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from dietnet_cli import baselines, embed, modelfile, predict
from dietnet_cli.dataset import open_dataset
from dietnet_cli.errors import (
    AlignmentError,
    DatasetError,
    DietnetError,
    ModelFileError,
)
from dietnet_cli.splits import SplitConfig, split_samples

from .degrade import degrade_vcf
from .simulate import make_cohort, write_vcf

QUICK = ["--epochs", "4", "--patience", "4", "--batch-size", "16", "--no-progress"]


def dietnet(*args, stdin=None, check=True):
    """Run the real command line in a subprocess."""
    env = dict(os.environ, OMP_NUM_THREADS="1")
    result = subprocess.run(
        [sys.executable, "-m", "dietnet_cli", *map(str, args)],
        input=stdin,
        capture_output=True,
        text=True,
        env=env,
    )
    if check and result.returncode != 0:
        raise AssertionError(f"dietnet {args} failed:\n{result.stderr}")
    return result


def read_tsv(path_or_text, *, text=False):
    content = path_or_text if text else Path(path_or_text).read_text()
    lines = content.strip().split("\n")
    header = lines[0].split("\t")
    return [dict(zip(header, line.split("\t"), strict=True)) for line in lines[1:]]


@pytest.fixture(scope="module")
def cohort(tmp_path_factory):
    directory = tmp_path_factory.mktemp("cohort")
    files = make_cohort(directory, num_per_class=24, num_variants=400, fst=0.08)
    dietnet("prepare", files["train"], "-l", files["labels"], "-o", directory / "ds")
    dietnet("train", directory / "ds", "-o", directory / "model.dietnet", *QUICK)
    files["dataset"] = directory / "ds"
    files["model"] = directory / "model.dietnet"
    files["dir"] = directory
    return files


class TestEmbed:
    def test_counts_match_a_direct_count(self, cohort):
        dataset = open_dataset(cohort["dataset"])
        rows = np.arange(dataset.num_samples)
        counts = embed.count_by_class(dataset, rows)
        genotypes = np.asarray(dataset.genotypes)
        codes = embed.class_codes(dataset)
        for c in range(len(dataset.classes())):
            for g in range(3):
                expected = (genotypes[codes == c] == g).sum(axis=0)
                np.testing.assert_array_equal(counts[:, c, g], expected)

    def test_validation_genotypes_do_not_change_the_embedding(self, cohort, tmp_path):
        dataset = open_dataset(cohort["dataset"])
        train_index, val_index = split_samples(dataset.label, SplitConfig())
        before = embed.count_by_class(dataset, train_index)
        # A copy of the dataset whose validation rows are changed on disk.
        copy = tmp_path / "altered"
        shutil.copytree(cohort["dataset"], copy)
        genotypes = np.array(dataset.genotypes)
        genotypes[val_index] = 2 - np.maximum(genotypes[val_index], 0)
        np.save(copy / "genotypes.npy", genotypes)
        altered = open_dataset(copy)
        after = embed.count_by_class(altered, train_index)
        np.testing.assert_array_equal(before, after)
        # The change is visible to a count that includes validation rows.
        every_row = np.arange(dataset.num_samples)
        assert not np.array_equal(
            embed.count_by_class(dataset, every_row),
            embed.count_by_class(altered, every_row),
        )

    def test_missing_calls_and_absent_class(self, tmp_path):
        from .simulate import write_labels

        genotypes = np.array(
            [[0, 1, -1], [2, -1, -1], [1, 1, 0], [0, 0, 2]], dtype=np.int8
        )
        ids = ["a", "b", "c", "d"]
        write_vcf(tmp_path / "x.vcf", genotypes, ids)
        write_labels(tmp_path / "l.tsv", ids, ["POP0", "POP0", "POP1", "POP1"])
        dietnet(
            "prepare",
            tmp_path / "x.vcf",
            "-l",
            tmp_path / "l.tsv",
            "-o",
            tmp_path / "ds",
            "--max-missing",
            "1",
        )
        dataset = open_dataset(tmp_path / "ds")
        # Only POP0 samples train: POP1 gets zero counts everywhere.
        counts = embed.count_by_class(dataset, np.array([0, 1]))
        np.testing.assert_array_equal(counts[:, 1, :], 0)
        np.testing.assert_array_equal(
            counts[:, 0, :], [[1, 0, 1], [0, 1, 0], [0, 0, 0]]
        )
        frequencies = embed.Embedding(counts, ("POP0", "POP1"), {}).frequencies()
        assert frequencies.shape == (3, 6)
        np.testing.assert_allclose(frequencies[0, :3], [0.5, 0, 0.5])

    def test_cache_is_reused_and_recomputed_when_stale(self, cohort, tmp_path):
        dataset = open_dataset(cohort["dataset"])
        out = tmp_path / "e.npy"
        first = embed.embed(dataset, train_index=np.arange(10), out=out)
        stamp = out.stat().st_mtime_ns
        embed.embed(dataset, train_index=np.arange(10), out=out)
        assert out.stat().st_mtime_ns == stamp
        second = embed.embed(dataset, train_index=np.arange(12), out=out)
        assert second.key != first.key
        assert np.load(out).shape == (dataset.num_variants, 3 * 3)

    def test_embedding_of_another_dataset_is_refused(self, cohort, tmp_path):
        files = make_cohort(tmp_path, seed=5, num_per_class=8, num_variants=50)
        dietnet("prepare", files["train"], "-l", files["labels"], "-o", tmp_path / "ds")
        dietnet("embed", tmp_path / "ds", "-o", tmp_path / "other.npy", "--no-progress")
        result = dietnet(
            "train",
            cohort["dataset"],
            "-o",
            tmp_path / "m.dietnet",
            "--embedding",
            tmp_path / "other.npy",
            *QUICK,
            check=False,
        )
        assert result.returncode == 1
        assert "made from another dataset" in result.stderr
        assert "Traceback" not in result.stderr
        assert not (tmp_path / "m.dietnet").exists()
        with pytest.raises(DatasetError, match="another dataset"):
            embed.load_embedding(
                tmp_path / "other.npy", open_dataset(cohort["dataset"])
            )


class TestTrain:
    def test_outputs(self, cohort):
        model = modelfile.load(cohort["model"])
        assert model.classes == ("POP0", "POP1", "POP2")
        assert model.group_of["POP0"] == "GROUP_A"
        assert model.build == "GRCh37"
        assert len(model.variants) == open_dataset(cohort["dataset"]).num_variants
        assert model.temperature > 0
        assert Path(str(cohort["model"]) + ".metrics.tsv").exists()
        assert Path(str(cohort["model"]) + ".curve.png").stat().st_size > 1000
        history = read_tsv(str(cohort["model"]) + ".metrics.tsv")
        # epoch 0 is the assignment test with its fitted head, then 4 epochs
        assert [int(row["epoch"]) for row in history] == [0, 1, 2, 3, 4]

    def test_seeded_cpu_runs_are_identical(self, cohort, tmp_path):
        dietnet("train", cohort["dataset"], "-o", tmp_path / "again.dietnet", *QUICK)
        first = modelfile.load(cohort["model"]).weights
        second = modelfile.load(tmp_path / "again.dietnet").weights
        for name in first:
            np.testing.assert_array_equal(first[name], second[name], err_msg=name)

    @pytest.mark.parametrize(
        ("make", "message"),
        [
            ("not_dataset", "not a dietnet dataset"),
            ("single_class", "single class"),
            ("folds", "fewer than --folds"),
            ("exists", "already exists"),
        ],
    )
    def test_bad_input(self, cohort, tmp_path, make, message):
        args = [cohort["dataset"], "-o", tmp_path / "m.dietnet", *QUICK]
        if make == "not_dataset":
            (tmp_path / "empty").mkdir()
            args[0] = tmp_path / "empty"
        elif make == "single_class":
            labels = tmp_path / "one.tsv"
            rows = cohort["labels"].read_text().splitlines()
            labels.write_text(
                "\n".join([rows[0]] + [r for r in rows[1:] if "\tPOP0\t" in r]) + "\n"
            )
            dietnet("prepare", cohort["train"], "-l", labels, "-o", tmp_path / "one")
            args[0] = tmp_path / "one"
        elif make == "folds":
            args += ["--folds", "40", "--fold", "1"]
        elif make == "exists":
            (tmp_path / "m.dietnet").write_text("keep me")
        result = dietnet("train", *args, check=False)
        assert result.returncode == 1
        assert message in result.stderr
        lines = [
            line for line in result.stderr.splitlines() if line.startswith("Error:")
        ]
        assert len(lines) == 1
        assert "Traceback" not in result.stderr
        if make == "exists":
            assert (tmp_path / "m.dietnet").read_text() == "keep me"
        else:
            assert not (tmp_path / "m.dietnet").exists()

    def test_resume_after_kill_ends_like_an_uninterrupted_run(self, tmp_path):
        files = make_cohort(tmp_path, seed=3, num_per_class=60, num_variants=3000)
        dietnet("prepare", files["train"], "-l", files["labels"], "-o", tmp_path / "ds")
        args = [
            "--epochs",
            "6",
            "--patience",
            "6",
            "--batch-size",
            "8",
            "--no-progress",
        ]
        dietnet("train", tmp_path / "ds", "-o", tmp_path / "whole.dietnet", *args)

        killed = tmp_path / "killed.dietnet"
        checkpoint = Path(str(killed) + ".checkpoint")
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "dietnet_cli",
                "train",
                str(tmp_path / "ds"),
                "-o",
                str(killed),
                *args,
            ],
            stderr=subprocess.DEVNULL,
            # Bit-for-bit repeatability holds for the same number of threads.
            env=dict(os.environ, OMP_NUM_THREADS="1"),
        )
        deadline = time.monotonic() + 120
        while not checkpoint.exists() and time.monotonic() < deadline:
            time.sleep(0.005)
        process.send_signal(signal.SIGKILL)
        process.wait()
        assert checkpoint.exists(), "the run ended before a checkpoint was seen"
        assert not killed.exists()

        dietnet("train", tmp_path / "ds", "-o", killed, *args, "--resume")
        whole = modelfile.load(tmp_path / "whole.dietnet")
        resumed = modelfile.load(killed)
        for name in whole.weights:
            np.testing.assert_array_equal(whole.weights[name], resumed.weights[name])
        assert whole.temperature == resumed.temperature
        assert not checkpoint.exists()


class TestModelFile:
    def test_round_trip(self, cohort, tmp_path):
        model = modelfile.load(cohort["model"])
        modelfile.save(tmp_path / "copy.dietnet", model)
        again = modelfile.load(tmp_path / "copy.dietnet")
        assert again.classes == model.classes
        assert again.variants.ref == model.variants.ref
        np.testing.assert_array_equal(again.variants.position, model.variants.position)
        np.testing.assert_array_equal(again.class_counts, model.class_counts)
        assert again.model_config == model.model_config

    def test_flipped_byte_is_refused(self, cohort, tmp_path):
        data = bytearray(cohort["model"].read_bytes())
        data[-100] ^= 0x01
        (tmp_path / "bad.dietnet").write_bytes(bytes(data))
        with pytest.raises(ModelFileError, match="fails its checksum"):
            modelfile.load(tmp_path / "bad.dietnet")

    def test_header_damage_is_refused(self, cohort, tmp_path):
        data = bytearray(cohort["model"].read_bytes())
        data[20] ^= 0x55
        (tmp_path / "bad.dietnet").write_bytes(bytes(data))
        with pytest.raises(ModelFileError):
            modelfile.load(tmp_path / "bad.dietnet")

    def test_pickle_is_refused(self, tmp_path):
        torch.save({"weights": torch.zeros(3)}, tmp_path / "evil.dietnet")
        with pytest.raises(ModelFileError, match="not a dietnet model file"):
            modelfile.load(tmp_path / "evil.dietnet")
        result = dietnet(
            "predict", tmp_path / "evil.dietnet", "x.vcf", "-o", "-", check=False
        )
        assert result.returncode == 1
        assert result.stderr.count("Error:") == 1


class TestPredict:
    def test_streaming_matches_a_direct_forward_pass(self, cohort):
        model = modelfile.load(cohort["model"])
        network, _ = predict.load_network(model)
        dataset = open_dataset(cohort["dataset"])
        with torch.no_grad():
            logits, _ = network(
                torch.from_numpy(np.array(dataset.genotypes)),
                torch.from_numpy(model.class_counts),
            )
        expected = torch.softmax(logits.double() / model.temperature, dim=1).numpy()
        result = predict.predict(
            cohort["model"], str(cohort["train"]), show_progress=False
        )
        np.testing.assert_allclose(result.probabilities, expected, atol=1e-5)
        assert result.num_variants_used.tolist() == [dataset.num_variants] * len(
            result.sample_id
        )

    def test_missing_calls_leave_the_first_layer_sum(self, cohort, tmp_path):
        # 30 % of the calls missing, a different 30 % in every sample.
        rng = np.random.default_rng(5)
        lines = []
        for line in cohort["train"].read_text().splitlines():
            if not line.startswith("#"):
                fields = line.split("\t")
                for column in range(9, len(fields)):
                    if rng.random() < 0.3:
                        fields[column] = "./."
                line = "\t".join(fields)
            lines.append(line)
        masked = tmp_path / "masked.vcf"
        masked.write_text("\n".join(lines) + "\n")
        result = predict.predict(cohort["model"], str(masked), show_progress=False)

        # Directly: the sum over each sample's called variants of its dosage
        # and offset terms, scaled up to all the model's variants.
        model = modelfile.load(cohort["model"])
        network, first = predict.load_network(model)
        _, genotypes = baselines.aligned_genotypes(model, str(masked))
        called = torch.from_numpy(genotypes >= 0).float()
        with torch.no_grad():
            x = network.transform(torch.from_numpy(genotypes))
            h = x @ first.weight_e + called @ first.variant_offset
            h *= genotypes.shape[1] / called.sum(dim=1, keepdim=True)
            logits = network.head(h).double()
        expected = torch.softmax(logits / model.temperature, dim=1).numpy()
        assert (result.num_variants_used < 0.8 * genotypes.shape[1]).all()
        np.testing.assert_allclose(result.probabilities, expected, atol=1e-5)

    def test_output_columns(self, cohort, tmp_path):
        dietnet("predict", cohort["model"], cohort["test"], "-o", tmp_path / "p.tsv")
        rows = read_tsv(tmp_path / "p.tsv")
        assert list(rows[0])[:7] == [
            "sample_id",
            "predicted",
            "probability",
            "status",
            "predicted_group",
            "group_probability",
            "num_variants_used",
        ]
        assert [c for c in rows[0] if c.startswith("prob_")] == [
            "prob_POP0",
            "prob_POP1",
            "prob_POP2",
        ]
        for row in rows:
            total = sum(float(row[f"prob_POP{c}"]) for c in range(3))
            assert total == pytest.approx(1.0, abs=1e-3)
            assert row["status"] in ("ok", "low_confidence", "low_overlap")
        labels = dict(
            line.split("\t")[:2]
            for line in cohort["labels"].read_text().splitlines()[1:]
        )
        correct = sum(row["predicted"] == labels[row["sample_id"]] for row in rows)
        assert correct / len(rows) > 0.8

    def test_chr_prefix_swaps_and_flips_give_the_same_predictions(
        self, cohort, tmp_path
    ):
        text = cohort["test"].read_text().splitlines()
        complement = {"A": "T", "C": "G", "G": "C", "T": "A"}
        out = []
        for number, line in enumerate(text):
            if line.startswith("##contig"):
                line = line.replace("ID=", "ID=chr")
            if not line.startswith("#"):
                fields = line.split("\t")
                fields[0] = "chr" + fields[0]
                if number % 3 == 0:  # swap REF/ALT and recode the calls
                    fields[3], fields[4] = fields[4], fields[3]
                    fields[9:] = [
                        c.replace("0", "x").replace("1", "0").replace("x", "1")
                        for c in fields[9:]
                    ]
                elif number % 3 == 1:  # report the other strand
                    fields[3], fields[4] = complement[fields[3]], complement[fields[4]]
                line = "\t".join(fields)
            out.append(line)
        (tmp_path / "odd.vcf").write_text("\n".join(out) + "\n")
        clean = predict.predict(
            cohort["model"], str(cohort["test"]), show_progress=False
        )
        odd = predict.predict(
            cohort["model"], str(tmp_path / "odd.vcf"), show_progress=False
        )
        np.testing.assert_allclose(odd.probabilities, clean.probabilities, atol=1e-6)
        assert odd.counts.swapped > 0
        assert odd.counts.flipped > 0

    def test_degraded_file_is_read_and_flags_samples(self, cohort, tmp_path):
        changed = degrade_vcf(cohort["test"], tmp_path / "deg.vcf", drop=0.1)
        result = predict.predict(
            cohort["model"], str(tmp_path / "deg.vcf"), show_progress=False
        )
        num_model = result.num_model_variants
        assert result.counts.found < num_model - changed["dropped"] + 1
        assert result.counts.swapped > 0
        assert result.counts.dropped["multiallelic"] == changed["multiallelic"]
        assert (result.num_variants_used < result.counts.found).any()

    def test_stdin_and_stdout(self, cohort):
        result = dietnet(
            "predict", cohort["model"], "-", "-o", "-", stdin=cohort["test"].read_text()
        )
        rows = read_tsv(result.stdout, text=True)
        header = next(
            line for line in cohort["test"].read_text().splitlines() if line[:2] == "#C"
        )
        assert [row["sample_id"] for row in rows] == header.split("\t")[9:]
        assert "Found" in result.stderr

    def test_head_closes_the_pipe_quietly(self, cohort):
        command = (
            f"{sys.executable} -m dietnet_cli predict {cohort['model']} "
            f"{cohort['test']} -o - --no-progress | head -n 1"
        )
        result = subprocess.run(
            ["bash", "-o", "pipefail", "-c", command], capture_output=True, text=True
        )
        assert result.stdout.startswith("sample_id\t")
        assert "Traceback" not in result.stderr
        assert "BrokenPipe" not in result.stderr

    def test_other_build_in_header_is_refused(self, cohort, tmp_path):
        degrade_vcf(cohort["test"], tmp_path / "b38.vcf", grch38=True, drop=0)
        result = dietnet(
            "predict",
            cohort["model"],
            tmp_path / "b38.vcf",
            "-o",
            tmp_path / "p.tsv",
            check=False,
        )
        assert result.returncode == 1
        assert "GRCh38" in result.stderr
        assert "GRCh37" in result.stderr
        assert not (tmp_path / "p.tsv").exists()

    def test_other_build_without_header_is_diagnosed(self, cohort, tmp_path):
        degrade_vcf(cohort["test"], tmp_path / "b38.vcf", grch38=True, drop=0)
        headerless = [
            line
            for line in (tmp_path / "b38.vcf").read_text().splitlines()
            if not line.startswith(("##reference", "##contig"))
        ]
        (tmp_path / "moved.vcf").write_text("\n".join(headerless) + "\n")
        with pytest.raises(AlignmentError, match="different genome build"):
            predict.predict(
                cohort["model"], str(tmp_path / "moved.vcf"), show_progress=False
            )
        with pytest.raises(AlignmentError, match="found"):
            predict.predict(
                cohort["model"],
                str(tmp_path / "moved.vcf"),
                options=predict.PredictOptions(ignore_build=True),
                show_progress=False,
            )

    def test_plink_input_gives_the_vcf_predictions(self, cohort, tmp_path):
        import shutil

        if shutil.which("plink2") is None:
            pytest.skip("plink2 is not installed")
        subprocess.run(
            [
                "plink2",
                "--vcf",
                str(cohort["test"]),
                "--make-bed",
                "--out",
                str(tmp_path / "t"),
                "--silent",
            ],
            check=True,
        )
        from_vcf = predict.predict(
            cohort["model"], str(cohort["test"]), show_progress=False
        )
        from_bed = predict.predict(
            cohort["model"], str(tmp_path / "t.bed"), show_progress=False
        )
        np.testing.assert_allclose(
            from_bed.probabilities, from_vcf.probabilities, atol=1e-6
        )

    def test_existing_output_needs_force(self, cohort, tmp_path):
        (tmp_path / "p.tsv").write_text("old")
        result = dietnet(
            "predict",
            cohort["model"],
            cohort["test"],
            "-o",
            tmp_path / "p.tsv",
            check=False,
        )
        assert result.returncode == 1
        assert "--force" in result.stderr
        assert (tmp_path / "p.tsv").read_text() == "old"


def test_split_is_stratified_and_repeatable():
    labels = ["A"] * 30 + ["B"] * 10
    train, val = split_samples(labels, SplitConfig(val_fraction=0.2, seed=1))
    again = split_samples(labels, SplitConfig(val_fraction=0.2, seed=1))
    assert train.tolist() == again[0].tolist()
    assert sorted(np.array(labels)[val].tolist()) == ["A"] * 6 + ["B"] * 2
    with pytest.raises(DietnetError, match="single class"):
        split_samples(["A"] * 5, SplitConfig())
