"""Tests of the network's building blocks (the whole model is tested
through training in test_fit.py)."""

import math

import pytest
import torch

from dietnet_cli import functions
from dietnet_cli.counts import AlleleCounts
from dietnet_cli.model import DietNetwork, ModelConfig

CONFIGS = {
    "default": ModelConfig(),
    "two-aux-layers": ModelConfig(aux_layers=2),
    "no-aux-layer": ModelConfig(aux_layers=0),
    "no-reliability": ModelConfig(reliability=False),
    "no-linear-path": ModelConfig(linear_path=False),
    "histogram": ModelConfig(embedding="histogram"),
    "decoder": ModelConfig(gamma=1.0),
    "mlp": ModelConfig(model="mlp"),
}


def perturbed_model(config, num_variants=90, num_classes=4):
    """A model whose every weight matters (fresh ones zero some paths)."""
    torch.manual_seed(0)
    model = DietNetwork(config, num_variants=num_variants, num_classes=num_classes)
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.add_(0.1 * torch.randn_like(parameter))
        model.set_input_stats(torch.rand(num_variants) * 2, torch.ones(num_variants))
    model.eval()
    return model


def inputs(config, missing, num_variants=90, num_classes=4):
    generator = torch.Generator().manual_seed(1)
    counts = torch.randint(0, 30, (num_variants, num_classes, 3), generator=generator)
    genotypes = torch.randint(0, 3, (6, num_variants), generator=generator)
    genotypes = genotypes.to(torch.int8)
    if missing:
        genotypes[torch.rand(genotypes.shape, generator=generator) < 0.2] = -1
    counts = counts.float()
    if config.embedding == "frequency" and config.gamma == 0:
        return genotypes, AlleleCounts.of(counts)
    return genotypes, counts


class TestTrainingMatchesPrediction:
    """A training step's arithmetic (``forward``) is prediction's (``W_e``
    formed once, then summed a chunk of variants at a time)."""

    @pytest.fixture(autouse=True)
    def small_blocks(self, monkeypatch):
        monkeypatch.setattr(functions, "BLOCK_ROWS", 16)  # several blocks

    @pytest.mark.parametrize("missing", [False, True], ids=["all-called", "missing"])
    @pytest.mark.parametrize("name", CONFIGS)
    def test_logits(self, name, missing):
        config = CONFIGS[name]
        model = perturbed_model(config)
        genotypes, counts = inputs(config, missing)
        with torch.no_grad():
            logits, _ = model(genotypes, counts)
            first = model.first_layer_weights(counts, variant_terms=True)
            called = genotypes >= 0
            total = first.partial_sum(model.transform(genotypes), called, slice(None))
            expected = model.head(first.complete(total, called.sum(dim=1)))
        torch.testing.assert_close(logits, expected, rtol=1e-4, atol=1e-4)

    @pytest.mark.parametrize("aux_layers", [0, 1, 2])
    def test_runs_under_autocast(self, aux_layers):
        config = ModelConfig(aux_layers=aux_layers)
        model = perturbed_model(config)
        model.train()
        genotypes, counts = inputs(config, missing=False)
        expected, _ = model(genotypes, counts)
        with torch.autocast("cpu", torch.bfloat16):
            logits, _ = model(genotypes, counts)
        logits.float().sum().backward()
        assert model.aux_encoder.out.weight.grad is not None
        # bfloat16 keeps about 3 significant digits
        torch.testing.assert_close(logits.float(), expected, rtol=0.05, atol=0.05)


class TestShrinkage:
    def test_fixed_and_kept_in_the_state_dict(self):
        model = DietNetwork(ModelConfig(shrinkage=8.0), num_variants=10, num_classes=3)
        names = {name for name, _ in model.named_parameters()}
        assert "log_shrinkage" not in names
        state = model.state_dict()  # model files made when it was learned
        assert math.isclose(float(state["log_shrinkage"].exp()), 8.0, rel_tol=1e-6)
        state["log_shrinkage"] = torch.tensor(math.log(12.0))
        model.load_state_dict(state)
        assert math.isclose(float(model.log_shrinkage.exp()), 12.0, rel_tol=1e-6)
