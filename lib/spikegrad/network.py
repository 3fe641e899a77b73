"""The one front-end of every network: a :class:`~spikegrad.model.NetworkSpec` (a stack of
:class:`~spikegrad.model.Layer` s and the neuron model) and an engine name give a module (:func:`build`) whose
``forward`` returns a :class:`~spikegrad.model.NetworkOutput`. Three families plug in behind it:

- :class:`SNN` (this module): current-based LIF on a time grid, dense layers (feed-forward or recurrent) and a
  leaky-integrator (``li``) or spiking (``lif``) readout; engines bptt, sparse and eventprop.
- :class:`spikegrad.sgnet.SGNet`: the surrogate-gradient study's synapse-free LIF / ALIF cell (recurrent layers,
  ``linear`` readout); engine bptt.
- :class:`spikegrad.eventnet.EventNet`: continuous-time LIF, dense, conv and pool layers; engines spiketime,
  adjoint and forwardprop.

Every family holds ``spec``, ``engine`` (the name), ``reads`` (what a loss may read: ``voltage``, ``first_spike``
or ``spike_times``, :data:`spikegrad.losses.READS`) and ``time`` (``"grid"``: input spikes x [T, B, n_in] at Δt =
``dt``; ``"continuous"``: padded input spike times [B, n_in, K] until ``t_max``).
"""

import inspect
import math

import torch
from torch import nn

from spikegrad.engines import CONTINUOUS_ENGINES, ENGINES, EngineOptions, get_engine, sparse
from spikegrad.engines.stack import HiddenParams
from spikegrad.eventnet import EventNet
from spikegrad.model import LIFParams, NetworkOutput, NetworkSpec, check_family, check_params, init_weights
from spikegrad.sgnet import SGNet
from spikegrad.surrogate import SurrogateParams, check_surrogate

MIN_TAU_MEM, MIN_TAU_SYN = 3.0, 1.0  # ms, lower bounds of trained time constants


def build(spec: NetworkSpec, engine: str, seed: int = 0, **options) -> nn.Module:
    """The network of ``spec`` whose gradients ``engine`` computes (:data:`spikegrad.engines.ENGINES`), its initial
    weights drawn from ``seed``; ``options`` are the family's (module docstring), e.g. ``surrogate`` or
    ``active_band`` for :class:`SNN` and ``t_max`` for :class:`~spikegrad.eventnet.EventNet`."""
    get_engine(engine, ENGINES)  # ValueError naming every engine
    if engine in CONTINUOUS_ENGINES:
        family = EventNet
    else:
        family = SNN if isinstance(spec.neuron, LIFParams) else SGNet
    known = [name for name, p in inspect.signature(family).parameters.items() if p.kind == p.KEYWORD_ONLY]
    unknown = sorted(set(options) - set(known))
    if unknown:
        raise ValueError(f"engine {engine!r} builds a {family.__name__}, whose options are {known}; got {unknown}")
    return family(spec, engine, seed, **options)


def dense_spikes(spikes) -> torch.Tensor:
    """A hidden layer's spikes as a raster z [T, B, N], whichever engine produced them (EventProp hands event lists,
    :class:`spikegrad.engines.eventprop.SpikeTrain`, between its layers)."""
    return spikes.dense() if hasattr(spikes, "dense") else spikes


class SNN(nn.Module):
    """Current-based LIF on a time grid (:mod:`spikegrad.model`): dense ``lif`` hidden layers, each feed-forward or
    recurrent, and an ``li`` (voltage) or ``lif`` (first-spike) readout; every layer's ϑ is the neuron's.

    Parameters are named ``hidden.{k}.weight``, ``hidden.{k}.recurrent`` and ``readout.weight``
    (:func:`spikegrad.model.init_weights`). ``engine`` picks how gradients are computed (bptt, sparse, eventprop);
    ``surrogate`` and ``detach_reset`` shape the SG engines' backward, ``max_spikes`` is EventProp's spike slots
    (None: grow as needed), ``train_tau`` learns EventProp's per-neuron τ_m, τ_s, ``active_band`` is the sparse
    engine's B_th.
    """

    time = "grid"

    def __init__(
        self,
        spec: NetworkSpec,
        engine: str = "bptt",
        seed: int = 0,
        *,
        surrogate: SurrogateParams = SurrogateParams(),
        detach_reset: bool = True,
        max_spikes: int | None = None,
        train_tau: bool = False,
        active_band: float = math.inf,
    ):
        super().__init__()
        check_family(spec, "grid LIF", LIFParams, ("lif",), ("li", "lif"), fields=("threshold", "max_spikes"))
        check_params(spec.neuron)
        if train_tau and engine != "eventprop":
            raise ValueError(f"trainable time constants need engine='eventprop', got {engine!r}")
        check_surrogate(surrogate)
        self.spec, self.surrogate, self.detach_reset, self.train_tau = spec, surrogate, detach_reset, train_tau
        self.engine, self.layer_fns = engine, get_engine(engine)
        self.reads = "voltage" if spec.readout.neuron == "li" else "first_spike"
        self.options = EngineOptions(surrogate, detach_reset, max_spikes, active_band)
        if engine == "sparse":
            sparse.check_sparse(spec.neuron, self.options)
        weights = init_weights(spec, seed)
        self.hidden = nn.ModuleList()
        for k, spec_k in enumerate(spec.hidden):
            layer = nn.Module()
            layer.weight = nn.Parameter(weights[f"hidden.{k}.weight"])
            layer.recurrent = nn.Parameter(weights[f"hidden.{k}.recurrent"]) if spec_k.recurrent else None
            if train_tau:  # per-neuron τ_m, τ_s of the hidden layer (Nowotny et al.'s learned τ)
                layer.tau_mem = nn.Parameter(torch.full_like(layer.weight[:, 0], spec.neuron.tau_mem))
                layer.tau_syn = nn.Parameter(torch.full_like(layer.weight[:, 0], spec.neuron.tau_syn))
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
        hidden = self.layer_fns.hidden_stack(x, layers, self.spec.neuron, self.options)
        x, w, lif = hidden.spikes[-1] if hidden.spikes else x, self.readout.weight, self.spec.neuron
        if self.reads == "first_spike":
            first = self.layer_fns.readout_spikes(x, w, lif, self.options)
            return NetworkOutput(None, first, hidden.spikes, hidden.counts, hidden.active)
        voltage = self.layer_fns.readout(x, w, lif, self.options)
        return NetworkOutput(voltage, None, hidden.spikes, hidden.counts, hidden.active)

    @property
    def dt(self) -> float:
        """Δt of the time grid, ms."""
        return self.spec.neuron.dt

    def clamp_tau(self) -> None:
        """Keep trained time constants at τ_m ≥ MIN_TAU_MEM, τ_s ≥ MIN_TAU_SYN ms (as ``genn_eventprop``)."""
        with torch.no_grad():
            for layer in self.hidden:
                layer.tau_mem.clamp_(min=MIN_TAU_MEM)
                layer.tau_syn.clamp_(min=MIN_TAU_SYN)
