"""Settings an engine may read (each engine uses the fields that concern it and ignores the rest), and the error
every engine raises when a fixed spike buffer is too small."""

import math
from typing import NamedTuple

from spikegrad.surrogate import SurrogateParams


class EngineOptions(NamedTuple):
    surrogate: SurrogateParams = SurrogateParams()  # bptt: the pseudo-derivative of the spike
    detach_reset: bool = True  # bptt: no gradient through the reset
    max_spikes: int | None = None  # eventprop: spike slots per neuron; None grows the buffer as needed
    active_band: float = math.inf  # sparse: B_th, the half-width of the active set |U − ϑ| < B_th


class BufferOverflow(RuntimeError):
    """A neuron fired (or would fire) more often than its fixed spike buffer (``max_spikes``) holds."""
