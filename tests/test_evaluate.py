"""Tests of ``dietnet evaluate``: the metrics against hand-computed values,
then real evaluations of a small model trained on a simulated cohort, then
the command line's refusals in a subprocess."""

from __future__ import annotations

import base64
import io
import json
import logging
import os
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path
from types import SimpleNamespace

import matplotlib.image
import numpy as np
import pytest
import torch

from dietnet_cli import baselines, cli, evaluate, predict, prepare, train
from dietnet_cli.dataset import open_dataset
from dietnet_cli.errors import DietnetError
from dietnet_cli.fit import TrainConfig
from dietnet_cli.model import ModelConfig
from dietnet_cli.splits import SplitConfig

from .simulate import make_cohort

torch.set_num_threads(1)

QUIET = predict.PredictOptions()
ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = Path("/usr/bin/chromium")
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def dietnet(*args):
    """Run the real command line in a subprocess."""
    return subprocess.run(
        [sys.executable, "-m", "dietnet_cli", *map(str, args)],
        capture_output=True,
        text=True,
        env=dict(os.environ, OMP_NUM_THREADS="1"),
        timeout=120,
    )


@pytest.fixture(scope="module")
def cohort(tmp_path_factory):
    """A dataset and a model trained for a few epochs on 54 simulated samples;
    18 other samples form the test input."""
    directory = tmp_path_factory.mktemp("evaluate")
    files = make_cohort(directory, num_per_class=24, num_variants=200, fst=0.08)
    prepare.prepare(
        str(files["train"]),
        labels_path=files["labels"],
        out=directory / "ds",
        show_progress=False,
    )
    train.train(
        directory / "ds",
        out=directory / "model.dietnet",
        model_config=ModelConfig(num_hidden=16, hidden_layers=(16,), aux_hidden=16),
        train_config=TrainConfig(epochs=3, patience=3, batch_size=16),
        split=SplitConfig(val_fraction=0.2),
        show_progress=False,
    )
    files["dataset"] = directory / "ds"
    files["model"] = directory / "model.dietnet"
    files["dir"] = directory
    return files


def relabel(source: Path, target: Path, changes: dict[str, tuple[str, str]]) -> Path:
    """A copy of a label file with some samples given another label and group."""
    lines = source.read_text().splitlines()
    out = [lines[0]]
    for line in lines[1:]:
        sample = line.split("\t")[0]
        if sample in changes:
            label, group = changes[sample]
            line = f"{sample}\t{label}\t{group}"
        out.append(line)
    target.write_text("\n".join(out) + "\n")
    return target


def embedded_images(page: str) -> list[str]:
    """The ``src`` of every ``img`` of an HTML page, which must parse."""
    images = []

    class Collector(HTMLParser):
        def handle_starttag(self, tag, attrs):
            if tag == "img":
                images.append(dict(attrs)["src"])

    parser = Collector()
    parser.feed(page)
    parser.close()
    return images


def input_samples(path: Path) -> list[str]:
    header = next(line for line in path.read_text().splitlines() if line[:2] == "#C")
    return header.split("\t")[9:]


class TestMetrics:
    TRUE = ["A", "A", "A", "B", "B", "C"]
    PREDICTED = ["A", "A", "B", "B", "C", "C"]

    def test_headline_figures_match_hand_computed_values(self):
        scores = evaluate.score(self.TRUE, self.PREDICTED)
        assert scores["accuracy"] == pytest.approx(4 / 6)
        # recalls: A 2/3, B 1/2, C 1
        assert scores["balanced_accuracy"] == pytest.approx((2 / 3 + 1 / 2 + 1) / 3)
        # F1: A 2*1*(2/3)/(1+2/3) = 0.8, B 0.5, C 2*(1/2)*1/(3/2) = 2/3
        assert scores["macro_f1"] == pytest.approx((0.8 + 0.5 + 2 / 3) / 3)

    def test_confusion_is_ordered_by_group_then_name(self):
        group_of = {"A": "G2", "B": "G1", "C": "G1"}
        rows, columns, matrix = evaluate.confusion(
            self.TRUE, self.PREDICTED, classes=("A", "B", "C"), group_of=group_of
        )
        assert rows == columns == ["B", "C", "A"]
        np.testing.assert_array_equal(matrix, [[1, 1, 0], [0, 1, 0], [1, 0, 2]])

    def test_unknown_label_gets_its_own_row(self):
        rows, columns, matrix = evaluate.confusion(
            ["A", "Z", "Z", "B"],
            ["A", "A", "B", "B"],
            classes=("A", "B"),
            group_of={},
        )
        assert columns == ["A", "B"]
        assert rows == ["A", "B", "Z"]
        np.testing.assert_array_equal(matrix, [[1, 0], [0, 1], [1, 1]])

    def test_expected_calibration_error(self):
        confidence = np.array([0.95, 0.95, 0.55, 0.55, 1.0])
        correct = np.array([True, False, True, True, True])
        result = evaluate.calibration(confidence, correct, num_bins=10)
        # bin [0.9, 1]: 3 samples, mean 0.9667, accuracy 2/3;
        # bin [0.5, 0.6): 2 samples, mean 0.55, accuracy 1.
        expected = 3 / 5 * abs(2 / 3 - (0.95 + 0.95 + 1.0) / 3) + 2 / 5 * 0.45
        assert result["expected_calibration_error"] == pytest.approx(expected)
        assert result["bins"][9]["count"] == 3
        assert result["bins"][5]["count"] == 2
        assert "10 equal-width bins" in result["binning"]

    def test_perfect_calibration_has_no_error(self):
        confidence = np.array([1.0, 1.0])
        result = evaluate.calibration(confidence, np.array([True, True]))
        assert result["expected_calibration_error"] == pytest.approx(0.0)

    def test_threshold_curve(self):
        confidence = np.array([0.3, 0.6, 0.9, 0.95])
        correct = np.array([False, False, True, True])
        curve = {
            p["threshold"]: p for p in evaluate.threshold_curve(confidence, correct)
        }
        assert curve[0.0]["coverage"] == 1.0
        assert curve[0.0]["accuracy"] == 0.5
        assert curve[0.5]["coverage"] == 0.75
        assert curve[0.5]["accuracy"] == pytest.approx(2 / 3)
        assert curve[0.9]["coverage"] == 0.5
        assert curve[0.9]["accuracy"] == 1.0

    def test_most_confused_pairs_come_largest_first(self):
        rows = columns = ["A", "B", "C"]
        matrix = np.array([[5, 1, 3], [2, 4, 0], [0, 0, 7]])
        pairs = evaluate.most_confused(rows, columns, matrix, top=2)
        assert [(p["true"], p["predicted"], p["count"]) for p in pairs] == [
            ("A", "C", 3),
            ("B", "A", 2),
        ]
        assert pairs[0]["share"] == pytest.approx(3 / 9)

    def compute(self, **changes):
        values = {
            "true_label": ["A", "A", "B", "Z"],
            "true_group": ["G1", "G1", "G2", "G2"],
            "predicted": ["A", "B", "B", "B"],
            "predicted_group": ["G1", "G2", "G2", "G2"],
            "confidence": np.array([0.9, 0.4, 0.8, 0.45]),
            "status": ["ok", "low_confidence", "ok", "low_confidence"],
            "num_variants_used": np.array([100, 100, 100, 100]),
            "classes": ("A", "B"),
            "group_of": {"A": "G1", "B": "G2"},
            "num_model_variants": 100,
        }
        values.update(changes)
        return evaluate.compute_metrics(**values)

    def test_low_confidence_share_and_accuracy_on_the_rest(self):
        metrics = self.compute()
        assert metrics["low_confidence"]["share"] == 0.5
        assert metrics["low_confidence"]["accuracy_on_rest"] == 1.0
        assert metrics["status_counts"] == {"low_confidence": 2, "ok": 2}

    def test_group_accuracy_and_unknown_labels(self):
        metrics = self.compute()
        assert metrics["accuracy"] == 0.5
        assert metrics["group_accuracy"] == 0.75
        assert metrics["per_group"]["G1"] == {"accuracy": 0.5, "support": 2}
        assert metrics["unknown_labels"] == {"Z": 1}
        assert list(metrics["per_class"]) == ["A", "B", "Z"]
        assert metrics["per_class"]["Z"]["in_model"] is False
        assert metrics["per_class"]["Z"]["recall"] == 0.0
        # A class never predicted has an undefined precision: null in JSON.
        json.dumps(metrics, allow_nan=False)

    def test_per_class_values(self):
        metrics = self.compute()
        row = metrics["per_class"]["B"]
        assert row["precision"] == pytest.approx(1 / 3)
        assert row["recall"] == 1.0
        assert row["f1"] == pytest.approx(0.5)
        assert row["support"] == 1
        assert row["num_predicted"] == 3

    def test_variants_used_spread(self):
        flat = self.compute()
        assert flat["variants_used"]["varies"] is False
        varied = self.compute(num_variants_used=np.array([10, 40, 70, 100]))
        assert varied["variants_used"]["varies"] is True
        bins = varied["variants_used"]["bins"]
        assert sum(b["count"] for b in bins) == 4

    @pytest.mark.parametrize("num_samples", [1, 5])
    def test_edge_sizes(self, num_samples):
        metrics = self.compute(
            true_label=["A"] * num_samples,
            true_group=["G1"] * num_samples,
            predicted=["A"] * num_samples,
            predicted_group=["G1"] * num_samples,
            confidence=np.full(num_samples, 0.9),
            status=["ok"] * num_samples,
            num_variants_used=np.full(num_samples, 100),
        )
        assert metrics["accuracy"] == 1.0
        assert metrics["num_samples"] == num_samples


@pytest.fixture(scope="module")
def report(cohort):
    out = cohort["dir"] / "report"
    result = evaluate.evaluate(
        cohort["model"],
        str(cohort["test"]),
        labels_path=cohort["labels"],
        out=str(out),
        options=QUIET,
        show_progress=False,
    )
    return out, result


class TestEvaluate:
    def test_writes_every_output(self, report):
        out, _ = report
        names = {path.name for path in out.iterdir()}
        assert {
            "metrics.json",
            "confusion_matrix.tsv",
            "predictions.tsv",
            "report.html",
            "confusion_matrix.png",
            "reliability.png",
            "per_class_f1.png",
            "accuracy_by_threshold.png",
        } <= names
        assert not [p for p in out.parent.iterdir() if ".partial-" in p.name]

    def test_metrics_json(self, report, cohort):
        out, result = report
        metrics = json.loads((out / "metrics.json").read_text())
        assert metrics["num_samples"] == 18
        for key in ("accuracy", "balanced_accuracy", "macro_f1", "group_accuracy"):
            assert 0.0 <= metrics[key] <= 1.0
        assert "equal-width" in metrics["calibration"]["binning"]
        assert metrics["model"]["checksum"] == evaluate.modelfile.file_checksum(
            cohort["model"]
        )
        assert metrics["input"]["sha256"] == evaluate.provenance.file_sha256(
            cohort["test"]
        )
        assert metrics["model"]["dataset_checksum"]
        assert metrics["provenance"]["dietnet_version"]
        # The label file lists all 72 samples; 54 are not in the test input.
        assert metrics["samples"]["num_labels_not_in_input"] == 54
        assert metrics["samples"]["num_input_not_in_labels"] == 0

    def test_agrees_with_predict_on_every_sample(self, report, cohort, tmp_path):
        out, result = report
        predictions = predict.predict(
            cohort["model"], str(cohort["test"]), show_progress=False
        )
        predict.write_predictions(predictions, str(tmp_path / "p.tsv"), force=False)
        assert (out / "predictions.tsv").read_text() == (tmp_path / "p.tsv").read_text()
        label_of = dict(
            line.split("\t")[:2]
            for line in cohort["labels"].read_text().splitlines()[1:]
        )
        hits = [
            label_of[s] == p
            for s, p in zip(predictions.sample_id, predictions.predicted(), strict=True)
        ]
        assert result.metrics["accuracy"] == pytest.approx(np.mean(hits))

    def test_confusion_tsv_sums_to_the_samples(self, report):
        out, _ = report
        rows, columns, matrix = evaluate.read_confusion(out / "confusion_matrix.tsv")
        assert matrix.sum() == 18
        assert rows == columns == ["POP0", "POP1", "POP2"]

    def test_report_parses_and_every_image_decodes(self, report):
        out, result = report
        page = (out / "report.html").read_text()
        images = embedded_images(page)
        assert len(images) >= 4
        prefix = "data:image/png;base64,"
        for src in images:
            assert src.startswith(prefix)
            data = base64.b64decode(src[len(prefix) :], validate=True)
            assert data.startswith(PNG_SIGNATURE)
            pixels = matplotlib.image.imread(io.BytesIO(data), format="png")
            assert pixels.shape[0] > 100
            assert pixels.shape[1] > 100
        # Self-contained: nothing is loaded from elsewhere.
        assert "http://" not in page
        assert "https://" not in page
        assert f"{result.metrics['accuracy']:.1%}" in page
        assert result.metrics["model"]["dataset_checksum"] in page

    def test_plots_on_disk_are_pngs(self, report):
        out, _ = report
        for name in evaluate.FIGURES.values():
            path = out / name
            if path.exists():
                assert path.read_bytes().startswith(PNG_SIGNATURE)
                assert matplotlib.image.imread(path).ndim == 3

    @pytest.mark.skipif(not CHROMIUM.exists(), reason="needs /usr/bin/chromium")
    def test_report_renders_in_chromium(self, report, tmp_path):
        out, _ = report
        screenshot = tmp_path / "report.png"
        done = subprocess.run(
            [
                sys.executable,
                ROOT / "benchmarks" / "render_report.py",
                out,
                screenshot,
                "--height",
                "1200",
            ],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 0, done.stderr
        assert screenshot.stat().st_size > 10_000
        pixels = matplotlib.image.imread(screenshot)
        assert pixels.shape[:2] == (1200, 1280)
        # Not a blank page: the figures and text make it vary.
        assert pixels[..., :3].std() > 0.05

    def test_unknown_labels_get_their_own_row(self, cohort, tmp_path):
        samples = input_samples(cohort["test"])[:3]
        labels = relabel(
            cohort["labels"],
            tmp_path / "labels.tsv",
            {s: ("NEWPOP", "GROUP_B") for s in samples},
        )
        result = evaluate.evaluate(
            cohort["model"],
            str(cohort["test"]),
            labels_path=labels,
            out=str(tmp_path / "report"),
            options=QUIET,
            show_progress=False,
        )
        assert result.metrics["unknown_labels"] == {"NEWPOP": 3}
        rows, columns, matrix = evaluate.read_confusion(
            tmp_path / "report" / "confusion_matrix.tsv"
        )
        assert rows[-1] == "NEWPOP"
        assert "NEWPOP" not in columns
        assert matrix[-1].sum() == 3
        assert result.metrics["per_class"]["NEWPOP"]["recall"] == 0.0
        assert "NEWPOP" in (tmp_path / "report" / "report.html").read_text()

    def test_samples_missing_on_either_side_are_counted(self, cohort, tmp_path):
        test_samples = input_samples(cohort["test"])
        dropped = set(test_samples[:4])
        lines = cohort["labels"].read_text().splitlines()
        kept = [lines[0]] + [
            line for line in lines[1:] if line.split("\t")[0] not in dropped
        ]
        kept.append("NOT_GENOTYPED\tPOP0\tGROUP_A")
        labels = tmp_path / "labels.tsv"
        labels.write_text("\n".join(kept) + "\n")
        result = evaluate.evaluate(
            cohort["model"],
            str(cohort["test"]),
            labels_path=labels,
            out=str(tmp_path / "report"),
            options=QUIET,
            show_progress=False,
        )
        samples = result.metrics["samples"]
        assert result.metrics["num_samples"] == 14
        assert samples["num_input_not_in_labels"] == 4
        assert set(samples["input_not_in_labels"]) == dropped
        assert samples["num_labels_not_in_input"] == 55
        assert "NOT_GENOTYPED" in samples["labels_not_in_input"]
        page = (tmp_path / "report" / "report.html").read_text()
        assert "4 input samples have no label" in page
        # predictions.tsv still holds every input sample.
        rows = (tmp_path / "report" / "predictions.tsv").read_text().splitlines()
        assert len(rows) == 1 + len(test_samples)

    def test_unknown_labels_are_logged(self, cohort, tmp_path, caplog):
        samples = input_samples(cohort["test"])[:2]
        labels = relabel(
            cohort["labels"],
            tmp_path / "labels.tsv",
            {s: ("NEWPOP", "GROUP_B") for s in samples},
        )
        with caplog.at_level(logging.WARNING, logger="dietnet_cli.evaluate"):
            result = evaluate.evaluate(
                cohort["model"],
                str(cohort["test"]),
                labels_path=labels,
                out="-",
                options=QUIET,
                show_progress=False,
            )
        assert result.metrics["samples"]["num_unknown_label"] == 2
        assert "labels the model does not know (NEWPOP x2)" in caplog.text

    def test_stdout_gets_the_json_and_no_directory_is_written(
        self, cohort, tmp_path, capsys, monkeypatch
    ):
        monkeypatch.chdir(tmp_path)
        evaluate.evaluate(
            cohort["model"],
            str(cohort["test"]),
            labels_path=cohort["labels"],
            out="-",
            options=QUIET,
            show_progress=False,
        )
        metrics = json.loads(capsys.readouterr().out)
        assert metrics["num_samples"] == 18
        assert list(tmp_path.iterdir()) == []

    def test_baselines(self, cohort, tmp_path):
        result = evaluate.evaluate(
            cohort["model"],
            str(cohort["test"]),
            labels_path=cohort["labels"],
            out=str(tmp_path / "report"),
            options=QUIET,
            train_dataset=cohort["dataset"],
            show_progress=False,
        )
        model = evaluate.modelfile.load(cohort["model"])
        recorded = model.provenance
        for name in ("logistic_regression", "pca_svm", "assignment_test"):
            figures = result.metrics["baselines"][name]
            for key in ("accuracy", "balanced_accuracy", "macro_f1", "group_accuracy"):
                assert 0.0 <= figures[key] <= 1.0
            # Chosen on the model's validation samples, fitted on its training
            # samples: never on INPUT.
            assert figures["num_validation"] == recorded["validation_samples"]
            assert figures["num_train"] == recorded["training_samples"]
            assert 0.0 <= figures["validation_accuracy"] <= 1.0
            assert "model's split" in figures["trained_on"]
        chosen = result.metrics["baselines"]
        assert chosen["logistic_regression"]["hyperparameters"]["C"] in (
            baselines.LOGISTIC_C_GRID
        )
        assert chosen["pca_svm"]["hyperparameters"]["C"] in baselines.SVM_C_GRID
        page = (tmp_path / "report" / "report.html").read_text()
        assert "Against simple baselines" in page
        assert "pca_svm" in page
        assert "assignment_test" in page

    def test_baselines_refuse_another_dataset(self, cohort, tmp_path):
        other = tmp_path / "other"
        prepare.prepare(
            str(cohort["test"]),
            labels_path=cohort["labels"],
            out=other,
            show_progress=False,
        )
        with pytest.raises(DietnetError, match="not the one the model was trained"):
            evaluate.evaluate(
                cohort["model"],
                str(cohort["test"]),
                labels_path=cohort["labels"],
                out=str(tmp_path / "report"),
                options=QUIET,
                train_dataset=other,
                show_progress=False,
            )
        assert not (tmp_path / "report").exists()

    def test_aligned_genotypes_match_the_training_matrix(self, cohort):
        model = evaluate.modelfile.load(cohort["model"])
        dataset = open_dataset(cohort["dataset"])
        sample_id, genotypes = baselines.aligned_genotypes(model, str(cohort["train"]))
        assert tuple(sample_id) == dataset.sample_id
        np.testing.assert_array_equal(genotypes, np.asarray(dataset.genotypes))

    def test_no_overlap_is_refused(self, cohort, tmp_path):
        labels = tmp_path / "labels.tsv"
        labels.write_text("sample\tpop\nX1\tPOP0\nX2\tPOP1\n")
        with pytest.raises(DietnetError, match="No sample of .* is listed"):
            evaluate.evaluate(
                cohort["model"],
                str(cohort["test"]),
                labels_path=labels,
                out=str(tmp_path / "report"),
                show_progress=False,
            )
        assert not (tmp_path / "report").exists()


class TestBaselines:
    @staticmethod
    def separable(num_per_class, seed):
        """Two classes whose dosages differ at the first 10 of 40 variants."""
        rng = np.random.default_rng(seed)
        genotypes = rng.integers(0, 3, size=(2 * num_per_class, 40)).astype(np.int8)
        genotypes[:num_per_class, :10] = 0
        genotypes[num_per_class:, :10] = 2
        genotypes[rng.random(genotypes.shape) < 0.05] = -1
        return genotypes, ["A"] * num_per_class + ["B"] * num_per_class

    def test_fit_chooses_on_validation_and_predicts(self):
        genotypes, label = self.separable(20, seed=1)
        val_genotypes, val_label = self.separable(5, seed=2)
        fitted = baselines.fit(
            genotypes, label, val_genotypes=val_genotypes, val_label=val_label
        )
        for baseline in fitted.baselines.values():
            assert baseline.validation_accuracy == 1.0
            assert baseline.num_validation == 10
        # The first (most penalised, fewest components) of the tied best wins.
        assert fitted.baselines["logistic_regression"].hyperparameters == {
            "C": baselines.LOGISTIC_C_GRID[0]
        }
        test_genotypes, test_label = self.separable(4, seed=3)
        for guesses in fitted.predict(test_genotypes).values():
            assert guesses == test_label

    def test_fit_without_validation_keeps_the_defaults(self):
        genotypes, label = self.separable(10, seed=1)
        fitted = baselines.fit(genotypes, label)
        assert fitted.baselines["logistic_regression"].hyperparameters == {
            "C": baselines.LOGISTIC_DEFAULT_C
        }
        assert fitted.baselines["pca_svm"].hyperparameters == (
            baselines.PCA_SVM_DEFAULT
        )
        assert fitted.baselines["pca_svm"].validation_accuracy is None

    def test_assignment_test_by_hand(self):
        genotypes = np.array([[0, 1], [0, -1], [2, 1], [1, 2]], dtype=np.int8)
        test = baselines.AssignmentTest().fit(genotypes, ["A", "A", "B", "B"])
        # A: 0 ALT of 4 alleles at variant 0, 1 of the 2 called at variant 1;
        # B: 3 of 4 and 3 of 4.
        np.testing.assert_allclose(
            np.exp(test.log_p_), [[0.5 / 5, 3.5 / 5], [1.5 / 3, 3.5 / 5]]
        )
        # Missing calls are left out of the likelihood: row 2 is decided by
        # variant 1 alone, row 3 by variant 0 alone.
        new = np.array([[0, 0], [2, 2], [-1, 2], [0, -1]], dtype=np.int8)
        assert list(test.predict(new)) == ["A", "B", "B", "A"]
        assert test.score(new, ["A", "B", "A", "A"]) == 0.75

    def test_fit_standardises_with_the_training_mean(self):
        genotypes, label = self.separable(10, seed=1)
        fitted = baselines.fit(genotypes, label)
        np.testing.assert_allclose(
            fitted.scaler.mean_, baselines.variant_mean(genotypes), atol=1e-6
        )

    @pytest.mark.parametrize(
        ("split", "refit"),
        [({"val_fraction": 0.2, "folds": None, "fold": None, "seed": 0}, False),
         ({"val_fraction": 0.0, "folds": None, "fold": None, "seed": 0}, True)],
    )  # fmt: skip
    def test_selection_follows_the_model_split(self, split, refit):
        label = tuple(["A"] * 20 + ["B"] * 20)
        dataset = SimpleNamespace(label=label, num_samples=40, path="ds")
        model = SimpleNamespace(provenance={"split": split})
        selection = baselines.selection_split(dataset, model)
        assert selection.refit is refit
        assert len(selection.val_index) > 0
        assert not set(selection.train_index) & set(selection.val_index)
        if not refit:
            train_index, val_index = baselines.split_samples(
                label, baselines.SplitConfig(**split)
            )
            np.testing.assert_array_equal(selection.val_index, val_index)
        else:
            everything = set(selection.train_index) | set(selection.val_index)
            assert everything == set(range(40))


def error_line(code, stdout, stderr):
    assert code == 1, stderr
    assert stdout == ""
    errors = [line for line in stderr.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1, stderr
    return errors[0]


class TestCommandLine:
    """Two real subprocess runs, then the other refusals through cli.main()
    in this process (starting Python with torch costs seconds)."""

    @pytest.fixture
    def run_main(self, monkeypatch, capsys):
        def run(*args):
            monkeypatch.setattr(sys, "argv", ["dietnet", *map(str, args)])
            code = 0
            try:
                cli.main()
            except SystemExit as done:
                code = done.code
            captured = capsys.readouterr()
            return code, captured.out, captured.err

        return run

    def test_writes_a_report_and_nothing_on_stdout(self, cohort, tmp_path):
        out = tmp_path / "report"
        result = dietnet(
            "evaluate", cohort["model"], cohort["test"], "-l", cohort["labels"],
            "-o", out, "--no-progress",
        )  # fmt: skip
        assert result.returncode == 0, result.stderr
        assert result.stdout == ""
        assert (out / "report.html").is_file()

    def test_labels_of_other_samples(self, cohort, tmp_path):
        labels = tmp_path / "labels.tsv"
        labels.write_text("sample\tpop\nX1\tPOP0\n")
        result = dietnet(
            "evaluate", cohort["model"], cohort["test"], "-l", labels,
            "-o", tmp_path / "report", "--no-progress",
        )  # fmt: skip
        message = error_line(result.returncode, result.stdout, result.stderr)
        assert "No sample of" in message
        assert list(tmp_path.iterdir()) == [labels]

    def test_json_on_stdout(self, cohort, run_main, tmp_path, monkeypatch):
        monkeypatch.chdir(tmp_path)
        code, out, _ = run_main(
            "evaluate", cohort["model"], cohort["test"], "-l", cohort["labels"],
            "-o", "-", "--no-progress",
        )  # fmt: skip
        assert code == 0
        assert json.loads(out)["num_samples"] == 18
        assert list(tmp_path.iterdir()) == []

    def test_not_a_model_file(self, cohort, run_main, tmp_path):
        fake = tmp_path / "fake.dietnet"
        fake.write_text("not a model")
        result = run_main(
            "evaluate", fake, cohort["test"], "-l", cohort["labels"],
            "-o", tmp_path / "report",
        )  # fmt: skip
        assert "not a dietnet model file" in error_line(*result)
        assert not (tmp_path / "report").exists()

    def test_existing_report_needs_force(self, cohort, run_main, tmp_path):
        out = tmp_path / "report"
        out.mkdir()
        result = run_main(
            "evaluate", cohort["model"], cohort["test"], "-l", cohort["labels"],
            "-o", out,
        )  # fmt: skip
        assert "already exists" in error_line(*result)
        assert list(out.iterdir()) == []

    def test_unwritable_report_directory(self, cohort, run_main, tmp_path):
        result = run_main(
            "evaluate", cohort["model"], cohort["test"], "-l", cohort["labels"],
            "-o", tmp_path / "missing" / "report",
        )  # fmt: skip
        assert "does not exist" in error_line(*result)
        assert list(tmp_path.iterdir()) == []

    def test_file_in_the_way_of_the_report(self, cohort, run_main, tmp_path):
        out = tmp_path / "report"
        out.write_text("a file")
        result = run_main(
            "evaluate", cohort["model"], cohort["test"], "-l", cohort["labels"],
            "-o", out, "--force",
        )  # fmt: skip
        assert "a file of that name is in the way" in error_line(*result)
        assert out.read_text() == "a file"

    @pytest.mark.skipif(not Path("/proc/self").exists(), reason="needs /proc")
    def test_place_that_cannot_hold_a_directory(self, cohort, run_main):
        result = run_main(
            "evaluate", cohort["model"], cohort["test"], "-l", cohort["labels"],
            "-o", "/proc/dietnet-report",
        )  # fmt: skip
        assert "Cannot write report directory /proc/dietnet-report" in (
            error_line(*result)
        )

    def test_baselines_with_another_dataset(self, cohort, run_main, tmp_path):
        result = run_main(
            "evaluate", cohort["model"], cohort["test"], "-l", cohort["labels"],
            "-o", tmp_path / "report", "--baselines", "--train", tmp_path,
        )  # fmt: skip
        assert "is not a dietnet dataset" in error_line(*result)
        assert not (tmp_path / "report").exists()

    def test_baselines_need_train(self, cohort, run_main):
        result = run_main(
            "evaluate", cohort["model"], cohort["test"], "-l", cohort["labels"],
            "-o", "-", "--baselines",
        )  # fmt: skip
        assert "--baselines needs --train" in error_line(*result)
