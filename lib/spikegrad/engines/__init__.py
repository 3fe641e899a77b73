"""Gradient engines. Each engine computes the same network forward pass and differs only in how gradients
flow back. Every engine exposes, built from ``torch.autograd.Function`` s:

- ``hidden_layer(x, weight, recurrent, lif, options) -> (z, counts [B, N])``: z the layer's spikes, a raster
  [T, B, N] (bptt, sparse) or per-sample event lists (eventprop: :class:`~spikegrad.engines.eventprop.SpikeTrain`),
  in the form the same engine's next layer and readout take
- ``hidden_stack(x, layers, lif, options) -> HiddenOutput`` (every hidden layer; :mod:`~spikegrad.engines.stack`)
- ``readout(x, weight, lif, options) -> U [T, B, C]`` (non-spiking leaky integrators)
- ``readout_spikes(x, weight, lif, options) -> first-spike times [B, C]`` (ms, +inf if silent)

``options`` is an :class:`EngineOptions`.

The continuous-time exact engines (:mod:`~spikegrad.engines.events`: the shared event-driven model) work on spike
times instead of a grid and expose ``layer(in_times [B, N_in, K_in], weight, lif, EventOptions) -> times [B, N, K]``
(+inf padding): :mod:`~spikegrad.engines.spiketime` (reverse mode through spike times) and
:mod:`~spikegrad.engines.adjoint` (continuous EventProp); :mod:`~spikegrad.engines.forwardprop` (forward mode)
spans a whole network. :class:`spikegrad.eventnet.EventNet` picks one of them.

This module is the one registry of engines: :data:`GRID_ENGINES` (time-grid networks,
:class:`spikegrad.network.SNN`, :class:`spikegrad.sgnet.SGNet`) and :data:`CONTINUOUS_ENGINES` (continuous-time
networks, :class:`spikegrad.eventnet.EventNet`); :data:`ENGINES` names both and :func:`spikegrad.network.build`
picks the family. A spike buffer that overflows raises the one :class:`~spikegrad.engines.options.BufferOverflow`
in either family.
"""

from types import ModuleType

from spikegrad.engines import adjoint, bptt, eventprop, forwardprop, sparse, spiketime
from spikegrad.engines.options import BufferOverflow, EngineOptions

GRID_ENGINES: dict[str, ModuleType] = {"bptt": bptt, "eventprop": eventprop, "sparse": sparse}
CONTINUOUS_ENGINES: dict[str, ModuleType] = {"spiketime": spiketime, "adjoint": adjoint, "forwardprop": forwardprop}
ENGINES: dict[str, ModuleType] = {**GRID_ENGINES, **CONTINUOUS_ENGINES}

__all__ = ["CONTINUOUS_ENGINES", "ENGINES", "GRID_ENGINES", "BufferOverflow", "EngineOptions", "get_engine"]


def get_engine(name: str, family: dict[str, ModuleType] = GRID_ENGINES) -> ModuleType:
    """The engine module registered under ``name`` in ``family`` (:data:`GRID_ENGINES` or
    :data:`CONTINUOUS_ENGINES`); ValueError naming the choices otherwise."""
    if name not in family:
        raise ValueError(f"unknown engine {name!r}; choose one of {list(family)}")
    return family[name]
