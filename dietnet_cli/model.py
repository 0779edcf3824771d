"""Diet Networks and the fully connected baseline, in pure torch.

A Diet Network (Romero et al., ICLR 2017) does not learn its first-layer
weight matrix ``W_e`` (num_variants, num_hidden) directly: a small auxiliary
network predicts the row of ``W_e`` for each variant from an embedding of that
variant, computed from the training genotypes. Here the embedding is built
from per-class genotype counts, an array ``class_counts`` of shape
(num_variants, num_classes, 3) holding, for each variant and class, how many
training samples carry 0, 1 or 2 copies of the ALT allele (missing calls are
not counted).

The default embedding gives the auxiliary network the per-class ALT-allele
frequency with a pseudo-count, on the logit scale. The population-genetics
assignment test (Rannala & Mountain 1997) is linear in dosage with weight
``logit(p_jc)`` for class ``c`` at variant ``j``, so the network carries a
linear path ``W_lin = (r * logit(p)) @ A`` (a learned mixing ``A`` across
classes and a learned per-variant reliability ``r``) that is initialised at
the assignment test, beside a nonlinear path predicted by an MLP. The input is
the centred dosage (missing calls enter as the training mean, i.e. 0), so a
weight of ``logit(p)`` keeps its meaning; the rest of the assignment test's
log-likelihood depends on the counts alone and enters as the first layer's
``offset``, recomputed from the counts the weights come from (during
training, without the batch's own samples). The first ``num_classes``
hidden units are thus the assignment test's class scores, which a linear
map (``linear_output``) turns into logits beside the nonlinear head.

Genotypes everywhere are int8 ALT-allele dosages (0, 1, 2) with -1 = missing.
"""

from __future__ import annotations

import dataclasses
import logging
import math
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np
import torch
from torch import nn

from dietnet_cli.counts import AlleleCounts, alt_frequency
from dietnet_cli.functions import SigmoidTanh, TanhRows, TrunkProduct

logger = logging.getLogger(__name__)

MODELS = ("dietnet", "mlp")
ACTIVATIONS = ("relu", "tanh")
INITS = ("normal", "uniform")
EMBEDDINGS = ("frequency", "histogram")
INPUT_SCALINGS = ("center", "standardize")


@dataclass(frozen=True)
class ModelConfig:
    """Architecture of a Diet Network or of the fully connected baseline.

    Attributes
    ----------
    model
        ``"dietnet"`` (first-layer weights predicted from the embedding) or
        ``"mlp"`` (the paper's basic network, with a free first layer).
    embedding
        Per-variant features given to the auxiliary network: ``"frequency"``
        (per-class ALT frequency with ``pseudo_count``, on the logit scale,
        centred across classes, plus their mean) or ``"histogram"`` (the
        paper's per-class genotype frequencies, num_classes * 3 values).
    pseudo_count
        Added to the ALT-allele count (and twice to the allele total) of each
        group before taking its frequency, so a group without the ALT allele
        gets a finite logit.
    shrinkage
        Strength, in alleles, of the prior that pulls each class's ALT
        frequency towards its group's (its super-population's, or all
        classes' when the labels have no groups):
        ``p_c = (alt_c + s q_g) / (2 n_c + s)``. With 60-90 samples per
        class, sampling noise in ``p_c`` is as large as the difference
        between neighbouring populations. It is fixed, not learned: as a
        learned parameter it moved by under 0.1 % in a whole training run,
        and its gradient cost a backward pass through every per-class
        frequency at each step.
    aux_hidden
        Width of the auxiliary network's hidden layers.
    aux_layers
        Number of hidden layers of the auxiliary network.
    num_hidden
        Width of ``W_e``, i.e. of the first hidden layer.
    hidden_layers
        Widths of the further hidden layers of the classifier.
    activation
        ``"relu"`` or ``"tanh"``.
    init
        ``"normal"`` or ``"uniform"`` (Glorot-style, scaled by ``init_scale``).
    init_scale
        Multiplier of the Glorot standard deviation or bound.
    dropout
        Dropout probability after each hidden layer of the classifier.
    batch_norm
        Batch normalisation after each hidden layer of the classifier.
    gamma
        Weight of the reconstruction loss; 0 turns the decoder off.
    input_scaling
        ``"center"`` (dosage minus training mean) or ``"standardize"`` (also
        divided by the per-variant standard deviation).
    linear_path
        Give the classifier the assignment-test path (needs
        ``embedding="frequency"`` and ``num_hidden >= num_classes``).
    linear_temperature
        Initial scale of the assignment-test log-likelihoods in the logits
        (naive Bayes is overconfident, as variants are not independent).
    mixing_gain
        Step-size multiplier of the class-mixing matrix: one of its entries
        moves a weight summed over all variants, so it must move slowly.
    reliability
        Learn a per-variant multiplier of the linear path from the embedding.
    """

    model: str = "dietnet"
    embedding: str = "frequency"
    pseudo_count: float = 0.5
    shrinkage: float = 20.0
    aux_hidden: int = 100
    aux_layers: int = 1
    num_hidden: int = 100
    hidden_layers: tuple[int, ...] = (100, 100)
    activation: str = "tanh"
    init: str = "uniform"
    init_scale: float = 1.0
    dropout: float = 0.0
    batch_norm: bool = True
    gamma: float = 0.0
    input_scaling: str = "center"
    linear_path: bool = True
    linear_temperature: float = 0.025
    mixing_gain: float = 0.02
    reliability: bool = True

    def __post_init__(self) -> None:
        # asdict / JSON round trips turn tuples into lists
        object.__setattr__(self, "hidden_layers", tuple(self.hidden_layers))
        checks = {
            "model": (self.model, MODELS),
            "activation": (self.activation, ACTIVATIONS),
            "init": (self.init, INITS),
            "embedding": (self.embedding, EMBEDDINGS),
            "input_scaling": (self.input_scaling, INPUT_SCALINGS),
        }
        for name, (value, allowed) in checks.items():
            if value not in allowed:
                raise ValueError(
                    f"ModelConfig.{name} is {value!r}; use one of {allowed}."
                )
        if self.num_hidden < 1 or any(w < 1 for w in self.hidden_layers):
            raise ValueError("ModelConfig layer widths must be positive.")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"ModelConfig.dropout is {self.dropout}; use [0, 1).")
        if self.gamma < 0:
            raise ValueError(f"ModelConfig.gamma is {self.gamma}; use >= 0.")
        if self.pseudo_count <= 0 or self.shrinkage <= 0:
            raise ValueError("ModelConfig.pseudo_count and shrinkage must be > 0.")

    @property
    def uses_linear_path(self) -> bool:
        """Whether the assignment-test path is active."""
        return (
            self.model == "dietnet"
            and self.linear_path
            and self.embedding == "frequency"
        )

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> ModelConfig:
        """Rebuild a configuration from ``dataclasses.asdict`` output."""
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - names)
        if unknown:
            raise ValueError(f"Unknown ModelConfig fields: {unknown}.")
        return cls(**values)


# ---------------------------------------------------------------------------
# Building blocks


class FastTanh(nn.Module):
    """``nn.Tanh`` through :class:`~dietnet_cli.functions.SigmoidTanh`."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return SigmoidTanh.apply(x)


def _activation(name: str) -> nn.Module:
    return nn.ReLU() if name == "relu" else FastTanh()


def _init_weight(weight: torch.Tensor, config: ModelConfig) -> None:
    """Glorot-style initialisation of a (fan_out, fan_in)-like matrix."""
    fan_out, fan_in = weight.shape[0], weight.shape[-1]
    if config.init == "normal":
        std = config.init_scale * math.sqrt(2.0 / (fan_in + fan_out))
        nn.init.normal_(weight, 0.0, std)
    else:
        bound = config.init_scale * math.sqrt(6.0 / (fan_in + fan_out))
        nn.init.uniform_(weight, -bound, bound)


class FirstLayer(NamedTuple):
    """The first layer a Diet Network computes from its embedding.

    The first layer's pre-activation for a batch is
    ``transform(genotypes) @ weight_e + offset``; prediction may accumulate
    the product over chunks of variants and add the offset once. The offset
    is a sum over variants (the assignment test's log-likelihood terms that
    depend on the counts alone); ``variant_offset``, when asked for, holds
    its terms, so that a sample's sum can leave out the variants it lacks.
    """

    weight_e: torch.Tensor  # (num_variants, num_hidden)
    weight_d: torch.Tensor | None  # (num_variants, num_hidden), decoder
    offset: torch.Tensor  # (num_hidden,)
    # (num_variants, num_hidden), summing to offset; None when not asked
    # for or when the offset is zero.
    variant_offset: torch.Tensor | None = None

    def partial_sum(
        self, x: torch.Tensor, called: torch.Tensor, index: torch.Tensor | slice
    ) -> torch.Tensor:
        """One chunk's share of the first-layer sum.

        ``x`` is (batch, n) ``transform``-ed input and ``called`` (batch, n)
        bool for the model's variants ``index``; returns (batch, num_hidden)
        float32: the dosage terms and, for called genotypes only, the
        offset's terms.
        """
        part = x @ self.weight_e[index]
        if self.variant_offset is not None:
            part = part + called.float() @ self.variant_offset[index]
        return part

    def complete(self, total: torch.Tensor, num_called: torch.Tensor) -> torch.Tensor:
        """The pre-activation from the partial sums of all chunks.

        Variants absent or not called contribute nothing to ``total``
        (batch, num_hidden); each sample's sum is scaled up to the model's
        number of variants by ``num_variants / num_called`` (batch,), as
        dropout does, so the layers after it see the scale they were trained
        on, and the linear path is the assignment test over the variants
        the sample has.
        """
        num_variants = self.weight_e.shape[0]
        scale = num_variants / num_called.clamp(min=1).to(total.dtype)
        total = total * scale[:, None]
        if self.variant_offset is None:
            total = total + self.offset.to(total.dtype)
        return total


def _frequency_features(centred: torch.Tensor, mean: torch.Tensor) -> torch.Tensor:
    """The frequency embedding from class logits centred across classes
    (num_variants, num_classes) and their mean (num_variants, 1)."""
    # both of order 1 for the auxiliary network
    return torch.cat([centred, mean], dim=1) / 2.0


class _Parts(NamedTuple):
    """What a Diet Network's first layer is made of, for given counts.

    The assignment test's log-likelihood of class c for dosage g is
    ``sum_j g_j logit(p_jc) + 2 log(1 - p_jc)``. In centred dosage
    ``x = g - m`` it is ``x . logit(p_c)`` plus terms that depend on the
    counts alone, the offset: ``m_j logit(p_jc) + 2 log(1 - p_jc)`` per
    variant. Centring either across classes changes each sample's scores by
    one constant, so both are centred; every term is then weighted by the
    variant's reliability.
    """

    features: torch.Tensor  # (num_variants, num_features) embedding
    # (num_variants, aux_hidden) encoder's hidden layer T, or None when only
    # x_trunk, a batch times T (batch, aux_hidden), was asked for
    trunk: torch.Tensor | None
    x_trunk: torch.Tensor | None
    # The rest is None without the linear path. (num_variants, num_classes)
    # logit(p) centred across classes, times the reliability: the
    # assignment-test weights of the centred dosage
    linear: torch.Tensor | None
    centred_logit: torch.Tensor | None  # the same without the reliability
    # (num_variants, num_classes) log(1 - p), centred across classes: sums
    # of log(1 - p) over many variants are large, and their differences
    # between classes would lose digits
    log_q: torch.Tensor | None
    reliability: torch.Tensor | None  # (num_variants, 1), or None: all 1
    mixing: torch.Tensor | None  # (num_classes, num_hidden)

    def per_variant(self, mean: torch.Tensor) -> torch.Tensor:
        """(num_variants, num_classes) offset terms, for dosage means
        ``mean`` (num_variants,)."""
        terms = mean[:, None] * self.centred_logit + 2 * self.log_q
        return terms if self.reliability is None else terms * self.reliability

    def offset(self, mean: torch.Tensor) -> torch.Tensor:
        """(num_classes,) the sum of :meth:`per_variant` over variants,
        as matrix-vector products instead of (num_variants, num_classes)
        passes."""
        # in float32 under autocast too: these sums over all variants are a
        # per-class bias, and bfloat16 would shift them by whole units
        with torch.autocast(self.log_q.device.type, enabled=False):
            return self._offset(mean.float())

    def _offset(self, mean: torch.Tensor) -> torch.Tensor:
        if self.reliability is None:
            return self.centred_logit.T @ mean + 2 * self.log_q.sum(dim=0)
        reliability = self.reliability[:, 0]
        return self.centred_logit.T @ (mean * reliability) + 2 * (
            self.log_q.T @ reliability
        )


class _AuxNetwork(nn.Module):
    """MLP mapping each variant's embedding to its rows of the weights."""

    def __init__(self, num_features: int, num_outputs: int, config: ModelConfig):
        super().__init__()
        layers: list[nn.Module] = []
        width = num_features
        for _ in range(config.aux_layers):
            layers += [nn.Linear(width, config.aux_hidden), _activation("tanh")]
            width = config.aux_hidden
        self.trunk = nn.Sequential(*layers)
        self.out = nn.Linear(width, num_outputs)
        for module in self.modules():
            if isinstance(module, nn.Linear):
                _init_weight(module.weight, config)
                nn.init.zeros_(module.bias)

    # The trunk's tanh modules are not called: TanhRows applies each linear
    # layer and its tanh together.

    def hidden(self, features: torch.Tensor) -> torch.Tensor:
        """(num_variants, num_features) -> (num_variants, aux_hidden)."""
        return self._through(self._linears(), features)

    def last_layer(self) -> nn.Linear | None:
        """The last hidden layer's linear map (None without hidden layers)."""
        linears = self._linears()
        return linears[-1] if linears else None

    def hidden_before_last(self, features: torch.Tensor) -> torch.Tensor:
        """The input of :meth:`last_layer`: the hidden layers but the last."""
        return self._through(self._linears()[:-1], features)

    def _linears(self) -> list[nn.Linear]:
        return [layer for layer in self.trunk if isinstance(layer, nn.Linear)]

    @staticmethod
    def _through(linears: list[nn.Linear], features: torch.Tensor) -> torch.Tensor:
        for layer in linears:
            features = TanhRows.apply(features, layer.weight, layer.bias)
        return features

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        # (num_variants, num_features) -> (num_variants, num_outputs)
        return self.out(self.hidden(features))


class DietNetwork(nn.Module):
    """A Diet Network, or the fully connected baseline (``model="mlp"``).

    Parameters
    ----------
    config
        Architecture.
    num_variants
        Number of input variants.
    num_classes
        Number of populations.
    class_group
        (num_classes,) group code of each class (``0..num_groups-1``), e.g.
        its super-population; None puts every class in one group. Stored as
        a buffer, so a loaded state dict brings its own.

    Notes
    -----
    The model owns its input scaling: the buffers ``variant_mean`` and
    ``variant_scale`` (num_variants,) float32 are set by
    :meth:`set_input_stats` and travel in the state dict. Prediction can
    stream variants in chunks, accumulating
    ``transform(chunk, slice) @ W_e[slice]`` before calling :meth:`head`.
    """

    def __init__(
        self,
        config: ModelConfig,
        *,
        num_variants: int,
        num_classes: int,
        class_group: np.ndarray | torch.Tensor | None = None,
    ):
        super().__init__()
        if config.uses_linear_path and config.num_hidden < num_classes:
            raise ValueError(
                f"ModelConfig.num_hidden is {config.num_hidden} but the linear "
                f"path needs at least num_classes={num_classes}; raise num_hidden "
                "or set linear_path=False."
            )
        self.config = config
        self.num_variants = num_variants
        self.num_classes = num_classes
        hidden = config.num_hidden
        decoder = config.gamma > 0

        if class_group is None:
            class_group = torch.zeros(num_classes, dtype=torch.long)
        class_group = torch.as_tensor(class_group, dtype=torch.long)
        if class_group.shape != (num_classes,):
            raise ValueError("class_group needs one group code per class.")
        self.register_buffer("class_group", class_group.clone())
        # strength of the pull of class frequencies to their group's; a
        # buffer (it once was a parameter, under the same name in model files)
        self.register_buffer("log_shrinkage", torch.tensor(math.log(config.shrinkage)))
        self.register_buffer("variant_mean", torch.zeros(num_variants))
        self.register_buffer("variant_scale", torch.ones(num_variants))
        # Sums over many variants grow like sqrt(num_variants); this keeps
        # the first hidden layer of order 1 whatever the number of variants.
        self.input_gain = 1.0 / math.sqrt(num_variants)

        # First layer: predicted from the embedding, or free parameters
        if config.model == "dietnet":
            num_features = (
                num_classes + 1 if config.embedding == "frequency" else 3 * num_classes
            )
            self.aux_encoder = _AuxNetwork(
                num_features, hidden + int(config.reliability), config
            )
            self.aux_decoder = (
                _AuxNetwork(num_features, hidden, config) if decoder else None
            )
            if config.uses_linear_path:
                # (num_classes, num_hidden) mixing; identity onto the first
                # num_classes hidden units reproduces the assignment test
                mixing = torch.zeros(num_classes, hidden)
                mixing[:, :num_classes] = torch.eye(num_classes)
                self.register_buffer("mixing_base", mixing)
                self.mixing_delta = nn.Parameter(torch.zeros(num_classes, hidden))
                # start the MLP share of W_e small next to logit(p)
                with torch.no_grad():
                    self.aux_encoder.out.weight.mul_(0.1)
            if config.reliability:
                with torch.no_grad():
                    self.aux_encoder.out.weight[hidden:].zero_()
        else:
            self.weight_e = nn.Parameter(torch.empty(num_variants, hidden))
            _init_weight(self.weight_e, config)
            self.weight_d = None
            if decoder:
                self.weight_d = nn.Parameter(torch.empty(num_variants, hidden))
                _init_weight(self.weight_d, config)

        # Classifier head after the first-layer pre-activation
        self.bias_e = nn.Parameter(torch.zeros(hidden))
        self.first_norm = nn.BatchNorm1d(hidden) if config.batch_norm else None
        self.first_activation = _activation(config.activation)
        self.first_dropout = nn.Dropout(config.dropout)
        layers: list[nn.Module] = []
        width = hidden
        for next_width in config.hidden_layers:
            linear = nn.Linear(width, next_width)
            _init_weight(linear.weight, config)
            nn.init.zeros_(linear.bias)
            layers.append(linear)
            if config.batch_norm:
                layers.append(nn.BatchNorm1d(next_width))
            layers += [_activation(config.activation), nn.Dropout(config.dropout)]
            width = next_width
        self.hidden = nn.Sequential(*layers)
        self.output = nn.Linear(width, num_classes)
        _init_weight(self.output.weight, config)
        nn.init.zeros_(self.output.bias)

        self.linear_output = None
        if config.uses_linear_path:
            # (num_classes, num_classes) map from the assignment-test scores
            # (the first num_classes hidden units) to the logits; it starts as
            # the assignment test times linear_temperature, the nonlinear path
            # at zero, and fit.calibrate_linear_head refits it
            scale = config.linear_temperature / self.input_gain
            self.linear_output = nn.Parameter(torch.eye(num_classes) * scale)
            with torch.no_grad():
                self.output.weight.zero_()
                self.aux_encoder.out.weight[:num_classes].zero_()

    # -- input scaling ------------------------------------------------------

    def set_input_stats(self, mean: torch.Tensor, std: torch.Tensor) -> None:
        """Store the per-variant training mean and standard deviation.

        Parameters
        ----------
        mean, std
            (num_variants,) dosage mean and standard deviation over the
            training samples; ``std`` is used only when the configuration
            standardises the input.
        """
        mean = torch.as_tensor(mean, dtype=torch.float32)
        std = torch.as_tensor(std, dtype=torch.float32)
        self.variant_mean.copy_(mean)
        if self.config.input_scaling == "standardize":
            self.variant_scale.copy_(1.0 / std.clamp(min=1e-3))
        else:
            self.variant_scale.fill_(1.0)

    def transform(
        self, genotypes: torch.Tensor, variant_slice: slice = slice(None)
    ) -> torch.Tensor:
        """Scale int8 genotypes into the network's input.

        Parameters
        ----------
        genotypes
            (batch, n) int8 dosage, -1 = missing, for the variants
            ``variant_slice`` of the model.
        variant_slice
            Which of the model's variants the columns are.

        Returns
        -------
        torch.Tensor
            (batch, n) float32: ``(dosage - mean) * scale``, 0 for missing.
        """
        # (torch.sub of int8 and float32 in one call is slower than this)
        x = genotypes.to(torch.float32, copy=True)
        x.sub_(self.variant_mean[variant_slice])
        if self.config.input_scaling == "standardize":
            x.mul_(self.variant_scale[variant_slice])
        # a minimum is far cheaper than a pass making a mask
        if genotypes.numel() and int(genotypes.min()) < 0:
            x.masked_fill_(genotypes < 0, 0.0)
        return x

    # -- embedding and first layer -----------------------------------------

    def embedding_features(
        self,
        class_counts: torch.Tensor | AlleleCounts,
        alt_logit: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Per-variant features for the auxiliary network.

        ``alt_logit`` is ``logit(class_frequency(class_counts))`` when the
        caller has it already. The histogram embedding needs the genotype
        counts, not their :class:`AlleleCounts`. Returns (num_variants,
        num_features) float32.
        """
        if self.config.embedding == "histogram":
            if isinstance(class_counts, AlleleCounts):
                raise ValueError("The histogram embedding needs genotype counts.")
            counts = class_counts.float()
            total = counts.sum(dim=-1, keepdim=True).clamp(min=1.0)
            return (counts / total).flatten(1)
        logit = self._alt_logit(class_counts) if alt_logit is None else alt_logit
        mean = logit.mean(dim=1, keepdim=True)
        return _frequency_features(logit - mean, mean)

    def class_frequency(
        self, class_counts: torch.Tensor | AlleleCounts
    ) -> torch.Tensor:
        """(num_variants, num_classes) ALT frequencies, shrunk to the group's."""
        return alt_frequency(
            class_counts,
            self.class_group,
            pseudo_count=self.config.pseudo_count,
            shrinkage=self.log_shrinkage.exp(),
        )

    def _alt_logit(self, counts: torch.Tensor | AlleleCounts) -> torch.Tensor:
        p = self.class_frequency(counts)
        return torch.log(p) - torch.log1p(-p)

    def _first_layer_parts(
        self, class_counts: torch.Tensor | AlleleCounts, x: torch.Tensor | None = None
    ) -> _Parts:
        """The pieces ``W_e`` and the offset are made of (see :class:`_Parts`);
        given a batch ``x``, the encoder's hidden layer only as ``x @ T``."""
        # The shrunk class frequencies, computed once for the features and
        # the assignment-test path: (num_variants, num_classes)
        if self.config.embedding == "frequency":
            p = self.class_frequency(class_counts)
            log_q = torch.log1p(-p)
            log_q = log_q.sub_(log_q.mean(dim=1, keepdim=True))
            alt_logit = torch.logit(p)
            mean = alt_logit.mean(dim=1, keepdim=True)
            centred = alt_logit.sub_(mean)
            features = _frequency_features(centred, mean)
        else:
            features = self.embedding_features(class_counts)
        hidden = self.config.num_hidden
        out = self.aux_encoder.out
        reliable = self.config.uses_linear_path and self.config.reliability
        last = self.aux_encoder.last_layer()
        trunk = x_trunk = score = None
        if x is not None and last is not None:
            x_trunk, score = TrunkProduct.apply(
                x,
                self.aux_encoder.hidden_before_last(features),
                last.weight,
                last.bias,
                out.weight[hidden] if reliable else None,
            )
        else:
            # (num_variants, num_features) -> (num_variants, aux_hidden)
            trunk = self.aux_encoder.hidden(features)
            if reliable:
                score = torch.mv(trunk, out.weight[hidden])
            if x is not None:
                x_trunk = x @ trunk
        if not self.config.uses_linear_path:
            return _Parts(features, trunk, x_trunk, *[None] * 5)
        reliability = None
        if reliable:
            # (num_variants, 1), 1 at initialisation: the encoder's last
            # output, computed as a matrix-vector product (as a one-output
            # linear layer its backward took two slow outer products)
            reliability = 2 * torch.sigmoid(score + out.bias[hidden])[:, None]
        mixing = self.mixing_base + self.config.mixing_gain * self.mixing_delta
        return _Parts(
            features,
            trunk,
            x_trunk,
            centred if reliability is None else centred * reliability,
            centred,
            log_q,
            reliability,
            mixing,
        )

    def first_layer_weights(
        self,
        class_counts: torch.Tensor | AlleleCounts | None,
        *,
        variant_terms: bool = False,
    ) -> FirstLayer:
        """Encoder and decoder weights of the first layer, and its offset.

        Parameters
        ----------
        class_counts
            (num_variants, num_classes, 3) float32 training genotype counts
            (or their :class:`AlleleCounts` for the frequency embedding);
            ignored (may be None) for ``model="mlp"``.
        variant_terms
            Also return the offset's per-variant terms (``variant_offset``).

        Returns
        -------
        FirstLayer
            ``W_e`` (num_variants, num_hidden), ``W_d`` of the same shape or
            None when the decoder is off (``gamma == 0``), and the offset
            (num_hidden,) to add to ``transform(genotypes) @ W_e``.
        """
        hidden = self.config.num_hidden
        if self.config.model == "mlp":
            offset = torch.zeros(hidden, device=self.bias_e.device)
            return FirstLayer(self.weight_e, self.weight_d, offset)
        if class_counts is None:
            raise ValueError("A Diet Network needs class_counts for its weights.")

        parts = self._first_layer_parts(class_counts)
        out = self.aux_encoder.out
        weight_e = nn.functional.linear(
            parts.trunk, out.weight[:hidden], out.bias[:hidden]
        )
        offset = torch.zeros(hidden, device=weight_e.device, dtype=weight_e.dtype)
        variant_offset = None
        if parts.linear is not None:
            weight_e = weight_e + parts.linear @ parts.mixing
            offset = offset + parts.offset(self.variant_mean) @ parts.mixing
            if variant_terms:
                per_variant = parts.per_variant(self.variant_mean)
                variant_offset = per_variant @ parts.mixing
        weight_d = None
        if self.aux_decoder is not None:
            weight_d = self.aux_decoder(parts.features)
        return FirstLayer(weight_e, weight_d, offset, variant_offset)

    def first_layer_product(
        self,
        x: torch.Tensor,
        class_counts: torch.Tensor | AlleleCounts,
        called: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """``x @ W_e`` plus the offset's terms, without forming ``W_e``.

        ``W_e`` is the auxiliary encoder's last linear layer applied to its
        hidden layer ``T`` (num_variants, aux_hidden), plus the assignment
        test's path ``L @ M``; multiplying the batch ``x`` (batch,
        num_variants) into ``T`` and ``L`` first costs a batch-sized product
        instead of a (num_variants, aux_hidden, num_hidden) one, forward and
        backward. ``called`` (batch, num_variants) bool keeps the offset's
        terms of the called genotypes only, as :meth:`FirstLayer.partial_sum`
        does; None counts them all (every genotype called). The same
        arithmetic as :meth:`first_layer_weights` up to rounding. Returns
        (batch, num_hidden).
        """
        hidden = self.config.num_hidden
        parts = self._first_layer_parts(class_counts, x)
        out = self.aux_encoder.out
        h = nn.functional.linear(parts.x_trunk, out.weight[:hidden])
        h = h + x.sum(dim=1, keepdim=True) * out.bias[:hidden]
        if parts.linear is not None:
            if called is None:
                offset = parts.offset(self.variant_mean)
            else:
                offset = called.to(x.dtype) @ parts.per_variant(self.variant_mean)
            h = h + (x @ parts.linear + offset) @ parts.mixing
        return h

    # -- classifier ----------------------------------------------------------

    def first_hidden(self, h: torch.Tensor) -> torch.Tensor:
        """First hidden layer (batch, num_hidden) from its pre-activation."""
        z = h * self.input_gain + self.bias_e
        if self.first_norm is not None:
            z = self.first_norm(z)
        return self.first_activation(z)

    def head(self, h: torch.Tensor) -> torch.Tensor:
        """Logits from the accumulated first-layer pre-activation.

        Parameters
        ----------
        h
            (batch, num_hidden) ``transform(genotypes) @ W_e``.

        Returns
        -------
        torch.Tensor
            (batch, num_classes) logits.
        """
        return self._logits(h, self.first_hidden(h))

    def _logits(self, h: torch.Tensor, first: torch.Tensor) -> torch.Tensor:
        # (batch, num_hidden) -> (batch, num_classes)
        logits = self.output(self.hidden(self.first_dropout(first)))
        if self.linear_output is not None:
            scores = h[:, : self.num_classes] * self.input_gain
            logits = logits + scores @ self.linear_output
        return logits

    def forward(
        self, genotypes: torch.Tensor, class_counts: torch.Tensor | None
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Logits and reconstruction loss for a batch.

        Parameters
        ----------
        genotypes
            (batch, num_variants) int8 dosage, -1 = missing.
        class_counts
            (num_variants, num_classes, 3) float32 genotype counts of the
            training samples (during training, without the batch's own).

        Returns
        -------
        tuple
            Logits (batch, num_classes) and the mean squared error of the
            reconstructed scaled input, or None when ``gamma == 0``.
        """
        x = self.transform(genotypes)  # (batch, num_variants) float32
        # Missing calls are left out of the sum, which is then scaled up, as
        # prediction does (FirstLayer.complete); with every call present the
        # plain sum is the same.
        all_called = not genotypes.numel() or int(genotypes.min()) >= 0
        weight_d = None
        if self.config.model == "dietnet" and self.aux_decoder is None:
            if all_called:
                h = self.first_layer_product(x, class_counts)
            else:
                called = genotypes >= 0
                h = self.first_layer_product(x, class_counts, called)
                num_called = called.sum(dim=1).clamp(min=1)
                h = h * (self.num_variants / num_called)[:, None]
        else:
            called = genotypes >= 0
            num_called = called.sum(dim=1)
            first = self.first_layer_weights(class_counts, variant_terms=not all_called)
            weight_d = first.weight_d
            # (batch, num_hidden)
            h = first.complete(first.partial_sum(x, called, slice(None)), num_called)
        first = self.first_hidden(h)
        logits = self._logits(h, first)
        if weight_d is None:
            return logits, None
        reconstruction = first @ weight_d.T  # (batch, num_variants)
        return logits, nn.functional.mse_loss(reconstruction, x)
