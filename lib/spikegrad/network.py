"""Network modules: they hold weights and call an engine's pure layer functions (:mod:`spikegrad.engines`)."""

import math
from typing import NamedTuple

import torch
from torch import nn

from spikegrad.engines import EngineOptions, get_engine, sparse
from spikegrad.engines.stack import HiddenParams
from spikegrad.model import NetworkSpec, WeightInit, check_params, init_weights
from spikegrad.surrogate import SurrogateParams, check_surrogate

MIN_TAU_MEM, MIN_TAU_SYN = 3.0, 1.0  # ms, lower bounds of trained time constants


class NetworkOutput(NamedTuple):
    voltage: torch.Tensor | None  # readout membrane voltage U [T, B, C] ("li" readout)
    first_spike: torch.Tensor | None  # readout first-spike times [B, C], ms, +inf if silent ("lif" readout)
    spikes: list  # hidden spikes per layer: z [T, B, N_k] (grid SG engines) or a SpikeTrain (EventProp; dense_spikes)
    counts: list[torch.Tensor]  # hidden spikes per neuron [B, N_k], differentiable (for rate regularisers)
    active: list[float] | tuple = ()  # sparse engine: per hidden layer, the fraction of entries in the active set


def dense_spikes(spikes) -> torch.Tensor:
    """A hidden layer's spikes as a raster z [T, B, N], whichever engine produced them (EventProp hands event lists,
    :class:`spikegrad.engines.eventprop.SpikeTrain`, between its layers)."""
    return spikes.dense() if hasattr(spikes, "dense") else spikes


class SNN(nn.Module):
    """LIF hidden layers (feed-forward or recurrent) and a leaky-integrator (``spec.readout="li"``) or LIF
    (``"lif"``) readout.

    Parameters are named ``hidden.{k}.weight``, ``hidden.{k}.recurrent`` and ``readout.weight``
    (see :func:`spikegrad.model.init_weights`). ``engine`` picks how gradients are computed; ``active_band`` is
    the sparse engine's B_th.
    """

    def __init__(
        self,
        spec: NetworkSpec,
        engine: str = "bptt",
        surrogate: SurrogateParams = SurrogateParams(),
        detach_reset: bool = True,
        hidden_init: WeightInit = WeightInit(),
        readout_init: WeightInit = WeightInit(),
        recurrent_init: WeightInit = WeightInit(0.0, 0.1),
        seed: int = 0,
        max_spikes: int | None = None,
        train_tau: bool = False,
        active_band: float = math.inf,
    ):
        super().__init__()
        check_params(spec.lif)
        if train_tau and engine != "eventprop":
            raise ValueError(f"trainable time constants need engine='eventprop', got {engine!r}")
        check_surrogate(surrogate)
        self.spec, self.surrogate, self.detach_reset, self.train_tau = spec, surrogate, detach_reset, train_tau
        self.engine = get_engine(engine)
        self.options = EngineOptions(surrogate, detach_reset, max_spikes, active_band)
        if engine == "sparse":
            sparse.check_sparse(spec.lif, self.options)
        weights = init_weights(spec, hidden_init, readout_init, recurrent_init, seed)
        self.hidden = nn.ModuleList()
        for k in range(len(spec.n_hidden)):
            layer = nn.Module()
            layer.weight = nn.Parameter(weights[f"hidden.{k}.weight"])
            layer.recurrent = nn.Parameter(weights[f"hidden.{k}.recurrent"]) if spec.recurrent else None
            if train_tau:  # per-neuron τ_m, τ_s of the hidden layer (Nowotny et al.'s learned τ)
                layer.tau_mem = nn.Parameter(torch.full_like(layer.weight[:, 0], spec.lif.tau_mem))
                layer.tau_syn = nn.Parameter(torch.full_like(layer.weight[:, 0], spec.lif.tau_syn))
            self.hidden.append(layer)
        self.readout = nn.Module()
        self.readout.weight = nn.Parameter(weights["readout.weight"])

    def forward(self, x: torch.Tensor) -> NetworkOutput:
        """Run the network on input spikes x [T, B, n_in]."""
        if x.ndim != 3 or x.shape[-1] != self.spec.n_in:
            raise ValueError(f"expected input spikes [T, B, {self.spec.n_in}], got shape {tuple(x.shape)}")
        layers = [
            HiddenParams(layer.weight, layer.recurrent, (layer.tau_mem, layer.tau_syn) if self.train_tau else None)
            for layer in self.hidden
        ]
        hidden = self.engine.hidden_stack(x, layers, self.spec.lif, self.options)
        x, w, lif = hidden.spikes[-1] if hidden.spikes else x, self.readout.weight, self.spec.lif
        if self.spec.readout == "lif":
            first = self.engine.readout_spikes(x, w, lif, self.options)
            return NetworkOutput(None, first, hidden.spikes, hidden.counts, hidden.active)
        return NetworkOutput(
            self.engine.readout(x, w, lif, self.options), None, hidden.spikes, hidden.counts, hidden.active
        )

    @property
    def dt(self) -> float:
        """Δt of the time grid, ms."""
        return self.spec.lif.dt

    def clamp_tau(self) -> None:
        """Keep trained time constants at τ_m ≥ MIN_TAU_MEM, τ_s ≥ MIN_TAU_SYN ms (as ``genn_eventprop``)."""
        with torch.no_grad():
            for layer in self.hidden:
                layer.tau_mem.clamp_(min=MIN_TAU_MEM)
                layer.tau_syn.clamp_(min=MIN_TAU_SYN)
