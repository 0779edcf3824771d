"""Autograd functions with hand-written backward passes, for the hot parts
of a Diet Network's training step (:mod:`dietnet_cli.model`).

Each computes what a few plain torch expressions compute, up to rounding,
with fewer passes through memory; ``tests/test_functions.py`` checks them
with ``torch.autograd.gradcheck`` and against those expressions. Under
autocast they compute in float32.
"""

from __future__ import annotations

from typing import Any

import torch


class SigmoidTanh(torch.autograd.Function):
    """``tanh(x)`` as ``2 sigmoid(2x) - 1``.

    The same function within about 2e-7 (absolute; below 3e-8 it gives 0),
    but torch's CPU ``tanh`` kernel takes about six times as long as its
    ``sigmoid`` here, and the auxiliary network applies it to a
    (num_variants, aux_hidden) array every step.
    """

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor) -> torch.Tensor:
        y = (2 * x).sigmoid_().mul_(2).sub_(1)
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> torch.Tensor:
        (y,) = ctx.saved_tensors
        return torch.ops.aten.tanh_backward(grad, y)


class TanhRows(torch.autograd.Function):
    """``tanh(features @ weight.T + bias)`` for the auxiliary network, whose
    rows are variants: (num_variants, fan_in) -> (num_variants, fan_out).

    The same function as ``nn.Linear`` then ``tanh``, with a backward laid
    out for a tall, narrow input: the weight and bias gradients come from one
    product of the transposed input (with a row of ones) and the gradient,
    which BLAS runs about twice as fast as ``grad.T @ features`` plus a
    column sum. The tanh is :class:`SigmoidTanh`'s, in place.
    """

    @staticmethod
    def forward(
        ctx: Any, features: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor
    ) -> torch.Tensor:
        with _float32(weight):
            features = features.to(weight.dtype)
            y = torch.addmm(bias, features, weight.T)
            y.mul_(2).sigmoid_().mul_(2).sub_(1)
        ctx.save_for_backward(features, weight, y)
        return y

    @staticmethod
    def backward(
        ctx: Any, grad: torch.Tensor
    ) -> tuple[torch.Tensor | None, torch.Tensor | None, torch.Tensor | None]:
        features, weight, y = ctx.saved_tensors
        with _float32(weight):
            return TanhRows._backward(ctx, grad.to(y.dtype), features, weight, y)

    @staticmethod
    def _backward(
        ctx: Any,
        grad: torch.Tensor,
        features: torch.Tensor,
        weight: torch.Tensor,
        y: torch.Tensor,
    ) -> tuple[torch.Tensor | None, torch.Tensor | None, torch.Tensor | None]:
        grad_pre = torch.ops.aten.tanh_backward(grad, y)
        grad_features = grad_weight = grad_bias = None
        if ctx.needs_input_grad[0]:
            grad_features = grad_pre @ weight
        if ctx.needs_input_grad[1] or ctx.needs_input_grad[2]:
            ones = features.new_ones(1, features.shape[0])
            # (fan_in + 1, fan_out): the weight's gradient, transposed, and
            # the bias's in the last row
            both = torch.cat([features.T, ones]) @ grad_pre
            grad_weight, grad_bias = both[:-1].T, both[-1]
        return grad_features, grad_weight, grad_bias


# Variants per block of TrunkProduct: the backward pass's temporaries are a
# block's size (4096 x aux_hidden float32, 1.6 MB at the default width of
# 100) instead of the whole layer's (126 MB each at the paper's 315,345
# variants). On the 1000 Genomes data, blocks of 1024 to 32768 variants
# trained equally fast.
BLOCK_ROWS = 4096


class TrunkProduct(torch.autograd.Function):
    """A training batch times the auxiliary network's last hidden layer,
    computed a block of variants at a time.

    With ``T = tanh(features @ weight.T + bias)`` (num_variants, aux_hidden),
    returns ``x @ T`` (batch, aux_hidden) and, when ``score_weight`` is
    given, ``T @ score_weight`` (num_variants,). The same arithmetic as the
    plain expressions up to rounding, with fewer passes over
    (num_variants, aux_hidden) arrays than autograd makes: the gradient of
    ``T`` is not summed from two places, the bias is not broadcast into a
    fresh array, and the weight and bias gradients come from one product.
    Done a block of variants at a time (``BLOCK_ROWS``).
    """

    @staticmethod
    def forward(
        ctx: Any,
        x: torch.Tensor,
        features: torch.Tensor,
        weight: torch.Tensor,
        bias: torch.Tensor,
        score_weight: torch.Tensor | None,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        with _float32(weight):
            x, features = x.to(weight.dtype), features.to(weight.dtype)
            num_variants = features.shape[0]
            trunk = features.new_empty(num_variants, weight.shape[0])
            x_trunk = x.new_zeros(x.shape[0], weight.shape[0])
            score = None if score_weight is None else features.new_empty(num_variants)
            # the bias as the weight of a column of ones: (num_variants, fan_in + 1)
            # and, doubled for the tanh below, (fan_in + 1, aux_hidden)
            features_one = torch.cat([features, features.new_ones(num_variants, 1)], 1)
            weight_bias = 2 * torch.cat([weight.T, bias[None]])
            for start in range(0, num_variants, BLOCK_ROWS):
                rows = slice(start, start + BLOCK_ROWS)
                # 2 (features @ weight.T + bias), then tanh as in SigmoidTanh
                block = torch.mm(features_one[rows], weight_bias, out=trunk[rows])
                block.sigmoid_().mul_(2).sub_(1)
                x_trunk.addmm_(x[:, rows], block)
                if score is not None:
                    torch.mv(block, score_weight, out=score[rows])
        ctx.save_for_backward(x, features_one, weight, trunk, score_weight)
        return x_trunk, score

    @staticmethod
    def backward(
        ctx: Any, grad_x_trunk: torch.Tensor, grad_score: torch.Tensor | None
    ) -> tuple[torch.Tensor | None, ...]:
        saved = ctx.saved_tensors
        weight = saved[2]
        if grad_score is not None:
            grad_score = grad_score.to(weight.dtype)
        with _float32(weight):
            return TrunkProduct._backward(
                ctx, grad_x_trunk.to(weight.dtype), grad_score, *saved
            )

    @staticmethod
    def _backward(
        ctx: Any,
        grad_x_trunk: torch.Tensor,
        grad_score: torch.Tensor | None,
        x: torch.Tensor,
        features_one: torch.Tensor,
        weight: torch.Tensor,
        trunk: torch.Tensor,
        score_weight: torch.Tensor | None,
    ) -> tuple[torch.Tensor | None, ...]:
        needs = ctx.needs_input_grad
        num_variants, fan_in = features_one.shape[0], weight.shape[1]
        grad_x = x.new_empty(x.shape) if needs[0] else None
        grad_features = None
        if needs[1]:
            grad_features = features_one.new_empty(num_variants, fan_in)
        # (fan_in + 1, aux_hidden): the weight's gradient, transposed, and the
        # bias's in the last row
        grad_both = weight.new_zeros(fan_in + 1, weight.shape[0])
        grad_score_weight = None
        if grad_score is not None and score_weight is not None:
            grad_score_weight = torch.zeros_like(score_weight)
        for start in range(0, num_variants, BLOCK_ROWS):
            rows = slice(start, start + BLOCK_ROWS)
            block = trunk[rows]
            grad_block = x[:, rows].T @ grad_x_trunk
            if grad_score_weight is not None:
                grad_block.addr_(grad_score[rows], score_weight)
                grad_score_weight.addmv_(block.T, grad_score[rows])
            if grad_x is not None:
                torch.mm(grad_x_trunk, block.T, out=grad_x[:, rows])
            grad_pre = torch.ops.aten.tanh_backward(grad_block, block)
            grad_both.addmm_(features_one[rows].T, grad_pre)
            if grad_features is not None:
                torch.mm(grad_pre, weight, out=grad_features[rows])
        grad_weight = grad_both[:-1].T if needs[2] else None
        grad_bias = grad_both[-1] if needs[3] else None
        return grad_x, grad_features, grad_weight, grad_bias, grad_score_weight


def _float32(tensor: torch.Tensor) -> torch.autocast:
    """Autocast off on ``tensor``'s device: these functions compute in the
    parameters' float32 (the sums over all variants need its precision)."""
    return torch.autocast(tensor.device.type, enabled=False)
