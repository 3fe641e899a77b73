"""Running a stack of hidden layers: the part of the engine contract that :class:`spikegrad.network.SNN` calls.

Every engine exposes ``hidden_stack(x, layers, lif, options) -> HiddenOutput``. Engines whose layers are
independent build it from their ``hidden_layer`` with :func:`stack_layers`; the sparse engine passes each layer's
active set to the next (:mod:`spikegrad.engines.sparse`).
"""

from collections.abc import Callable, Sequence
from typing import NamedTuple

import torch

from spikegrad.engines.options import EngineOptions
from spikegrad.model import LIFParams


class HiddenParams(NamedTuple):
    weight: torch.Tensor  # W [N, N_in]
    recurrent: torch.Tensor | None  # W_rec [N, N], None for a feed-forward layer
    tau: tuple[torch.Tensor, torch.Tensor] | None = None  # trainable per-neuron (τ_m, τ_s) [N] (eventprop)


class HiddenOutput(NamedTuple):
    spikes: list  # per hidden layer: z [T, B, N_k], or a SpikeTrain (eventprop)
    counts: list[torch.Tensor]  # spikes per neuron [B, N_k], differentiable
    active: list[float]  # sparse engine: fraction of entries in the active set |U − ϑ| < B_th (else empty)


def stack_layers(
    hidden_layer: Callable, x: torch.Tensor, layers: Sequence[HiddenParams], lif: LIFParams, options: EngineOptions
) -> HiddenOutput:
    """Feed x [T, B, N_in] through ``hidden_layer`` once per entry of ``layers``."""
    spikes, counts = [], []
    for p in layers:
        x, n = hidden_layer(x, p.weight, p.recurrent, lif, options, **({} if p.tau is None else {"tau": p.tau}))
        spikes.append(x)
        counts.append(n)
    return HiddenOutput(spikes, counts, [])
