"""Tests of the networks and the training loop on small simulated data."""

import numpy as np
import pytest
import torch

from dietnet_cli import cli
from dietnet_cli.counts import AlleleCounts, count_genotypes
from dietnet_cli.fit import (
    FINE_TUNE_RATE,
    FREE_RATE,
    TrainConfig,
    fit,
    predict_logits,
    resolve_learning_rate,
)
from dietnet_cli.model import DietNetwork, ModelConfig

from .simulate import simulate_genotypes


def assignment_scores(genotypes, labels, rows, test_rows, num_classes, model):
    """The assignment test's log-likelihoods, computed directly."""
    counts = count_genotypes(genotypes[rows], labels[rows], num_classes)
    p = model.class_frequency(torch.from_numpy(counts)).detach().double().numpy()
    g = genotypes[test_rows].astype(np.float64)
    return g @ np.log(p) + (2 - g) @ np.log1p(-p)


@pytest.fixture(scope="module")
def data():
    genotypes, names = simulate_genotypes(
        num_per_class=30, num_classes=4, num_variants=400, fst=0.01, seed=3
    )
    labels = np.array([int(name[3:]) for name in names])
    rng = np.random.default_rng(0)
    order = rng.permutation(len(labels))
    return genotypes, labels, np.sort(order[:80]), np.sort(order[80:])


def centred_model(genotypes, labels):
    """A fresh Diet Network on centred dosage, and the counts it learns from."""
    model = DietNetwork(ModelConfig(), num_variants=genotypes.shape[1], num_classes=4)
    counts = count_genotypes(genotypes, labels, 4)
    mean = (counts[..., 1] + 2 * counts[..., 2]).sum(1) / counts.sum((1, 2))
    model.set_input_stats(
        torch.from_numpy(mean).float(), torch.ones(genotypes.shape[1])
    )
    return model, counts


class TestLinearPath:
    def test_first_layer_reproduces_the_assignment_test(self, data):
        genotypes, labels, train, test = data
        model, counts = centred_model(genotypes[train], labels[train])
        first = model.first_layer_weights(torch.from_numpy(counts))
        x = model.transform(torch.from_numpy(genotypes[test]))
        scores = (x @ first.weight_e + first.offset)[:, :4].detach().double().numpy()
        direct = assignment_scores(genotypes, labels, train, test, 4, model)
        # equal up to one constant per sample
        difference = scores - direct
        np.testing.assert_allclose(
            difference - difference.mean(1, keepdims=True), 0, atol=2e-2
        )

    def test_offset_terms_leave_out_the_variants_a_sample_lacks(self, data):
        genotypes, labels, train, test = data
        model, counts = centred_model(genotypes[train], labels[train])
        first = model.first_layer_weights(torch.from_numpy(counts), variant_terms=True)
        torch.testing.assert_close(first.variant_offset.sum(0), first.offset)

        # Each test sample lacks its own 30 % of the variants.
        partial = genotypes[test].copy()
        partial[np.random.default_rng(1).random(partial.shape) < 0.3] = -1
        called = partial >= 0
        x = model.transform(torch.from_numpy(partial))
        h = x @ first.weight_e + torch.from_numpy(called).float() @ first.variant_offset
        scores = h[:, :4].detach().double().numpy()
        p = model.class_frequency(torch.from_numpy(counts)).detach().double().numpy()
        g = np.where(called, partial, 0).astype(np.float64)
        direct = g @ np.log(p) + np.where(called, 2 - g, 0) @ np.log1p(-p)
        difference = scores - direct
        np.testing.assert_allclose(
            difference - difference.mean(1, keepdims=True), 0, atol=2e-2
        )

    def test_shapes_of_encoder_and_decoder_weights(self, data):
        genotypes, labels, train, _ = data
        model = DietNetwork(
            ModelConfig(gamma=1.0, num_hidden=30), num_variants=400, num_classes=4
        )
        counts = torch.from_numpy(count_genotypes(genotypes[train], labels[train], 4))
        first = model.first_layer_weights(counts)
        assert first.weight_e.shape == (400, 30)
        assert first.weight_d.shape == (400, 30)
        assert first.offset.shape == (30,)


class TestTrainingArithmetic:
    """The shortcuts of a training step compute what the plain formulas do."""

    def test_product_without_w_e_matches_the_weights(self, data):
        genotypes, labels, train, test = data
        torch.manual_seed(0)
        model, counts = centred_model(genotypes[train], labels[train])
        with torch.no_grad():  # make every path count
            for parameter in model.parameters():
                parameter.add_(0.1 * torch.randn_like(parameter))
        x = model.transform(torch.from_numpy(genotypes[test]))
        product = model.first_layer_product(x, torch.from_numpy(counts))
        first = model.first_layer_weights(AlleleCounts.of(torch.from_numpy(counts)))
        torch.testing.assert_close(
            product, x @ first.weight_e + first.offset, rtol=1e-4, atol=1e-3
        )

    @pytest.mark.parametrize(
        "config",
        [ModelConfig(), ModelConfig(gamma=1.0), ModelConfig(model="mlp")],
        ids=["dietnet", "decoder", "mlp"],
    )
    def test_training_sums_missing_calls_as_prediction_does(self, data, config):
        genotypes, labels, train, test = data
        torch.manual_seed(0)
        model = DietNetwork(config, num_variants=400, num_classes=4)
        counts = torch.from_numpy(count_genotypes(genotypes[train], labels[train], 4))
        partial = genotypes[test].copy()
        partial[np.random.default_rng(1).random(partial.shape) < 0.3] = -1
        g = torch.from_numpy(partial)
        model.eval()
        with torch.no_grad():
            for parameter in model.parameters():  # make every path count
                parameter.add_(0.1 * torch.randn_like(parameter))
            logits, _ = model(
                g, AlleleCounts.of(counts) if config.gamma == 0 else counts
            )
            first = model.first_layer_weights(counts, variant_terms=True)
            called = g >= 0
            h = first.complete(
                first.partial_sum(model.transform(g), called, slice(None)),
                called.sum(dim=1),
            )
            torch.testing.assert_close(logits, model.head(h), rtol=1e-4, atol=1e-4)


class TestLearningRate:
    @pytest.mark.parametrize(
        ("model_config", "expected"),
        [
            (ModelConfig(), FINE_TUNE_RATE),
            (ModelConfig(model="mlp"), FREE_RATE),
            (ModelConfig(linear_path=False), FREE_RATE),
            (ModelConfig(embedding="histogram"), FREE_RATE),
        ],
        ids=["dietnet", "mlp", "no-path", "histogram"],
    )
    def test_default_follows_the_model(self, model_config, expected):
        resolved = resolve_learning_rate(TrainConfig(), model_config)
        assert resolved.learning_rate == expected

    def test_given_rate_is_kept(self):
        config = TrainConfig(learning_rate=0.05)
        assert resolve_learning_rate(config, ModelConfig()) is config


def test_help_shows_the_configuration_defaults():
    model, train = ModelConfig(), TrainConfig()

    def flag(name, value):
        return name if value else f"no-{name}"

    expected = {
        "model": model.model,
        "num_hidden": str(model.num_hidden),
        "hidden_layers": ",".join(str(w) for w in model.hidden_layers),
        "aux_hidden": str(model.aux_hidden),
        "activation": model.activation,
        "init": model.init,
        "init_scale": str(model.init_scale),
        "dropout": str(model.dropout),
        "batch_norm": flag("batch-norm", model.batch_norm),
        "gamma": str(model.gamma),
        "optimizer": train.optimizer,
        "learning_rate": f"{FINE_TUNE_RATE:g}, or {FREE_RATE:g} without the "
        "assignment-test path",
        "weight_decay": str(train.weight_decay),
        "clip_norm": str(train.clip_norm),
        "batch_size": str(train.batch_size),
        "epochs": str(train.epochs),
        "patience": str(train.patience),
        "leave_batch_out": flag("leave-batch-out", train.leave_batch_out),
    }
    assert cli.TRAIN_DEFAULTS == expected


def fit_small(data, model_config=None, genotypes=None, **train_options):
    """``fit`` on the simulated data: 4 classes, its train and test rows."""
    default_genotypes, labels, train, test = data
    return fit(
        default_genotypes if genotypes is None else genotypes,
        labels,
        train,
        test,
        model_config or ModelConfig(),
        TrainConfig(**train_options),
        num_classes=4,
    )


class TestFit:
    def test_calibrated_start_is_recorded_as_epoch_zero(self, data):
        result = fit_small(data, epochs=2, batch_size=16)
        assert [row["epoch"] for row in result.history] == [0, 1, 2]
        assert 0 <= result.best_epoch <= 2
        # the fitted head beats chance by far on held-out samples
        assert result.history[0]["val_accuracy"] > 0.6

    @pytest.mark.parametrize("model", ["dietnet", "mlp"])
    def test_loss_falls_without_the_linear_path(self, data, model):
        config = ModelConfig(model=model, linear_path=False, num_hidden=20)
        result = fit_small(data, config, epochs=6, patience=6, batch_size=16)
        losses = [row["loss"] for row in result.history]
        assert result.history[0]["epoch"] == 1
        assert losses[-1] < 0.8 * losses[0]

    def test_validation_rows_do_not_change_the_embedding_or_scaling(self, data):
        genotypes, _, _, test = data
        changed = genotypes.copy()
        changed[test] = 2 - np.where(changed[test] < 0, 1, changed[test])
        runs = [fit_small(data, genotypes=g, epochs=1) for g in (genotypes, changed)]
        np.testing.assert_array_equal(runs[0].class_counts, runs[1].class_counts)
        for name in ("variant_mean", "variant_scale"):
            torch.testing.assert_close(
                getattr(runs[0].model, name), getattr(runs[1].model, name)
            )

    @pytest.mark.parametrize(
        "config", [ModelConfig(), ModelConfig(gamma=1.0)], ids=["dietnet", "decoder"]
    )
    def test_predict_logits_compute_what_prediction_does(self, data, config):
        genotypes, _, _, test = data
        result = fit_small(data, config, epochs=1)
        counts = torch.from_numpy(result.class_counts)
        partial = genotypes.copy()
        partial[np.random.default_rng(4).random(partial.shape) < 0.2] = -1
        # several chunks of rows, with missing calls
        logits = predict_logits(result.model, partial, test, counts, batch_size=7)
        # as dietnet predict computes: W_e once, sums over chunks of variants
        model = result.model
        with torch.no_grad():
            first = model.first_layer_weights(counts, variant_terms=True)
            g = torch.from_numpy(partial[test])
            called = g >= 0
            x = model.transform(g)
            total = sum(
                first.partial_sum(x[:, part], called[:, part], part)
                for part in (slice(0, 150), slice(150, None))
            )
            expected = model.head(first.complete(total, called.sum(dim=1)))
        torch.testing.assert_close(logits, expected, rtol=1e-4, atol=1e-4)
