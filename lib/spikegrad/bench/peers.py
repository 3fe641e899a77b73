r"""The same Linear + LIF layer in spikegrad and in each peer library, for side-by-side benchmarks.

Every library simulates the first-order LIF neuron that all of them offer, on input currents h = W x computed
by one bias-free matrix product over the whole sequence (so that the libraries differ only in their neuron
code; spikegrad's is its event-driven :func:`spikegrad.kernels.spike_linear.spike_linear` on the CPU), with
state starting at rest:

.. math::

    U_t = \alpha V_{t-1} + h_t, \qquad z_t = \Theta(U_t - \vartheta), \qquad V_t = U_t (1 - z_t)

(reset to zero: the one reset rule every library has). spikegrad runs it as its LIF scan
(:class:`spikegrad.engines.bptt.LIFScan`) with β = 0 and c = 1. Each library's parameters are converted so
that it computes exactly these U_t (:data:`LIBRARIES` says how); the spikes then agree to rounding, and so do
the gradients where the surrogate and the reset's gradient are set alike, which ``tests/test_peers.py``
checks. Each :class:`PeerLayer` also records the spikegrad surrogate and reset
gradient that equal the library's, so that a test can build the matching spikegrad layer.

Peer libraries are the optional ``bench`` extra; :func:`build` raises :class:`PeerUnavailable` for one that is
not installed.
"""

import importlib.util
import math
from collections.abc import Callable
from dataclasses import dataclass
from importlib.metadata import version

import torch

from spikegrad.engines.bptt import LIFScan
from spikegrad.kernels.lif_scan import ScanConstants
from spikegrad.kernels.spike_linear import spike_linear
from spikegrad.surrogate import SurrogateParams

SLOPE = 10.0  # fast-sigmoid (SuperSpike) slope k: σ'(v) = 1/(1 + k|v|)², spikegrad's sharpness β = k/2


class PeerUnavailable(RuntimeError):
    """The peer library is not installed (``pip install -c constraints.txt '.[bench]'``) or cannot run here."""


@dataclass
class PeerLayer:
    """One library's Linear + LIF layer: ``run(x [T, B, n_in]) -> z [T, B, n_out]``, trainable ``weight``, which
    holds ``weight_scale`` · W (so ∂L/∂W = ``weight_scale`` · ∂L/∂weight)."""

    library: str
    run: Callable[[torch.Tensor], torch.Tensor]
    weight: torch.Tensor
    surrogate: SurrogateParams  # spikegrad's equal of the library's surrogate derivative
    detach_reset: bool  # whether the library's reset passes no gradient
    version: str
    weight_scale: float = 1.0


def _require(module: str) -> None:
    if importlib.util.find_spec(module) is None:
        raise PeerUnavailable(f"{module} is not installed: pip install -c constraints.txt '.[bench]'")


def _linear(weight: torch.Tensor, scale: float = 1.0) -> torch.nn.Linear:
    fc = torch.nn.Linear(weight.shape[1], weight.shape[0], bias=False, device=weight.device, dtype=weight.dtype)
    with torch.no_grad():
        fc.weight.copy_(weight * scale)
    return fc


def spikegrad_layer(
    weight, alpha, threshold, detach_reset=True, surrogate=SurrogateParams("fast_sigmoid", SLOPE / 2)
) -> PeerLayer:
    """spikegrad's layer: its LIF scan with β = 0, c = 1 (module docstring), any surrogate and reset gradient."""
    w = weight.detach().clone().requires_grad_()
    k = ScanConstants(alpha, 0.0, 1.0, threshold, subtract=False, spiking=True, detach_reset=detach_reset)

    def run(x):
        return LIFScan.apply(spike_linear(x, w), k, surrogate)[0]

    return PeerLayer("spikegrad", run, w, surrogate, detach_reset, version("spikegrad"))


def _snntorch(weight, alpha, threshold):
    _require("snntorch")
    import snntorch

    fc = _linear(weight)
    lif = snntorch.Leaky(
        beta=alpha, threshold=threshold, spike_grad=snntorch.surrogate.fast_sigmoid(slope=SLOPE),
        reset_mechanism="zero",
    ).to(weight.device, weight.dtype)  # fmt: skip

    def run(x):
        h, mem, spikes = fc(x), lif.init_leaky(), []
        for h_t in h:
            spk, mem = lif(h_t, mem)
            spikes.append(spk)
        return torch.stack(spikes)

    return PeerLayer("snntorch", run, fc.weight, SurrogateParams("fast_sigmoid", SLOPE / 2), True, version("snntorch"))


def _norse(weight, alpha, threshold, compile_=False):
    _require("norse")
    import norse.torch

    # LIFBoxCell (lifted over time): V ← V + Δt/τ_m (h' − V) with Δt = 1, i.e. α = 1 − 1/τ_m and input gain
    # 1/τ_m, so h' = τ_m h.
    gain = 1.0 - alpha
    params = norse.torch.LIFBoxParameters(
        tau_mem_inv=torch.as_tensor(gain), v_th=torch.as_tensor(threshold), v_reset=torch.as_tensor(0.0),
        method="super", alpha=torch.as_tensor(SLOPE),
    )  # fmt: skip
    fc = _linear(weight, 1.0 / gain)
    cell = norse.torch.LIFBoxCell(p=params, dt=1.0).to(weight.device, weight.dtype)
    # Compiled: the cell, not the time loop, which torch.compile would unroll (on the CPU at n = 1024 that took
    # a minute and 17 GB).
    step = torch.compile(cell) if compile_ else cell

    def run(x):
        state, spikes = None, []
        for h_t in fc(x):  # what norse.torch.Lift does
            z, state = step(h_t, state)
            spikes.append(z)
        return torch.stack(spikes)

    name = "norse_compiled" if compile_ else "norse"
    # norse 1.1's SuperSpike ignores its alpha: σ'(v) = 1/(1 + |v|)², slope 1. Its reset (1 − z)V + z·0 passes
    # gradient through z.
    return PeerLayer(name, run, fc.weight, SurrogateParams("fast_sigmoid", 0.5), False, version("norse"), 1 / gain)


def _spikingjelly(weight, alpha, threshold):
    _require("spikingjelly")
    from spikingjelly.activation_based import functional, neuron, surrogate

    fc = _linear(weight)
    # decay_input=False: H = V − V/τ + h, i.e. α = 1 − 1/τ
    lif = neuron.LIFNode(
        tau=1.0 / (1.0 - alpha), decay_input=False, v_threshold=threshold, v_reset=0.0,
        surrogate_function=surrogate.Sigmoid(alpha=2 * SLOPE), detach_reset=True, step_mode="m",
    )  # fmt: skip

    def run(x):
        functional.reset_net(lif)
        return lif(fc(x))

    # spikingjelly's Sigmoid(a): a σ(a v)(1 − σ(a v)), spikegrad's sigmoid 4γ σ(4β v)(1 − σ(4β v)): β = γ = a/4
    sg = SurrogateParams("sigmoid", SLOPE / 2, SLOPE / 2)
    return PeerLayer("spikingjelly", run, fc.weight, sg, True, version("spikingjelly"))


def _sinabs(weight, alpha, threshold):
    _require("sinabs")
    import sinabs
    from sinabs.activation import MembraneReset, SingleExponential, SingleSpike

    fc = _linear(weight)
    width = 0.5  # SingleExponential: (1/(wϑ)) e^{−|v|/(wϑ)}, spikegrad's exponential γ e^{−2β|v|}
    lif = sinabs.layers.LIF(
        tau_mem=-1.0 / math.log(alpha), spike_threshold=threshold, spike_fn=SingleSpike, reset_fn=MembraneReset(),
        surrogate_grad_fn=SingleExponential(grad_width=width), norm_input=False,
    ).to(weight.device)  # fmt: skip

    def run(x):
        lif.reset_states()
        return lif(fc(x).transpose(0, 1)).transpose(0, 1).to(x.dtype)  # sinabs is batch-major

    sg = SurrogateParams("exponential", 1 / (2 * width * threshold), 1 / (width * threshold))
    return PeerLayer("sinabs", run, fc.weight, sg, True, version("sinabs"))


LIBRARIES: dict[str, Callable[..., PeerLayer]] = {
    "spikegrad": spikegrad_layer,
    "snntorch": _snntorch,
    "norse": _norse,
    "norse_compiled": lambda w, a, th: _norse(w, a, th, compile_=True),
    "spikingjelly": _spikingjelly,
    "sinabs": _sinabs,
}


def build(library: str, weight: torch.Tensor, alpha: float, threshold: float = 1.0) -> PeerLayer:
    """``library``'s Linear + LIF layer (module docstring) with a copy of ``weight`` [n_out, n_in] on its device
    and dtype, leak α ∈ (0, 1) and threshold ϑ > 0."""
    if library not in LIBRARIES:
        raise ValueError(f"unknown library {library!r}; choose from {sorted(LIBRARIES)}")
    if not 0.0 < alpha < 1.0 or not threshold > 0.0:
        raise ValueError(f"need 0 < alpha < 1 and threshold > 0, got alpha={alpha}, threshold={threshold}")
    return LIBRARIES[library](weight, alpha, threshold)
