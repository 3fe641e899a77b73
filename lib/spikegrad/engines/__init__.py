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
"""

from types import ModuleType

from spikegrad.engines import bptt, eventprop, sparse
from spikegrad.engines.options import EngineOptions

ENGINES: dict[str, ModuleType] = {"bptt": bptt, "eventprop": eventprop, "sparse": sparse}

__all__ = ["ENGINES", "EngineOptions", "get_engine"]


def get_engine(name: str) -> ModuleType:
    """The engine module registered under ``name``."""
    if name not in ENGINES:
        raise ValueError(f"unknown engine {name!r}; choose one of {sorted(ENGINES)}")
    return ENGINES[name]
