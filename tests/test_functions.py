"""Tests of the autograd functions with hand-written backward passes."""

import pytest
import torch
from torch import nn

from dietnet_cli import functions
from dietnet_cli.functions import SigmoidTanh, TanhRows, TrunkProduct


class TestAuxiliaryLayers:
    def test_sigmoid_tanh_is_tanh(self):
        x = torch.linspace(-8, 8, 1001)
        torch.testing.assert_close(
            SigmoidTanh.apply(x), torch.tanh(x), atol=3e-7, rtol=0
        )

    @pytest.mark.parametrize("input_grad", [False, True])
    def test_tanh_rows_gradients(self, input_grad):
        torch.manual_seed(0)
        features = torch.randn(50, 7, dtype=torch.float64, requires_grad=input_grad)
        weight = torch.randn(4, 7, dtype=torch.float64, requires_grad=True)
        bias = torch.randn(4, dtype=torch.float64, requires_grad=True)
        assert torch.autograd.gradcheck(TanhRows.apply, (features, weight, bias))

    def test_tanh_rows_is_linear_then_tanh(self):
        torch.manual_seed(0)
        linear = nn.Linear(27, 100)
        features = torch.randn(300, 27)
        expected = torch.tanh(linear(features))
        got = TanhRows.apply(features, linear.weight, linear.bias)
        torch.testing.assert_close(got, expected, atol=1e-6, rtol=0)
        grad = torch.randn_like(expected)
        expected_grads = torch.autograd.grad(expected, list(linear.parameters()), grad)
        grads = torch.autograd.grad(got, list(linear.parameters()), grad)
        for a, b in zip(grads, expected_grads, strict=True):
            torch.testing.assert_close(a, b, atol=1e-4, rtol=1e-4)


class TestTrunkProduct:
    """The blockwise product of a batch with the auxiliary hidden layer."""

    @pytest.fixture(autouse=True)
    def small_blocks(self, monkeypatch):
        monkeypatch.setattr(functions, "BLOCK_ROWS", 7)  # several blocks

    @staticmethod
    def inputs(with_score, data_grad=True):
        torch.manual_seed(0)
        f64 = {"dtype": torch.float64}
        return (
            torch.randn(5, 30, **f64, requires_grad=data_grad),
            torch.randn(30, 4, **f64, requires_grad=data_grad),
            torch.randn(6, 4, **f64, requires_grad=True),
            torch.randn(6, **f64, requires_grad=True),
            torch.randn(6, **f64, requires_grad=True) if with_score else None,
        )

    @pytest.mark.parametrize(
        ("with_score", "data_grad"),
        [(True, True), (False, True), (True, False)],
        ids=["score", "no-score", "as-in-training"],
    )
    def test_gradients(self, with_score, data_grad):
        # in training neither the batch nor the embedding needs a gradient
        inputs = self.inputs(with_score, data_grad)

        def product(*args):
            x_trunk, score = TrunkProduct.apply(*args)
            return x_trunk if score is None else (x_trunk, score)

        assert torch.autograd.gradcheck(product, inputs)

    def test_is_the_plain_product(self):
        x, features, weight, bias, score_weight = self.inputs(True)
        trunk = torch.tanh(features @ weight.T + bias)
        x_trunk, score = TrunkProduct.apply(x, features, weight, bias, score_weight)
        torch.testing.assert_close(x_trunk, x @ trunk)
        torch.testing.assert_close(score, trunk @ score_weight)
