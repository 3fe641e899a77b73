r"""Current-based leaky integrate-and-fire (LIF) neurons, integrated exactly on a time grid.

Continuous dynamics (Wunderlich & Pehle 2021, Sci. Rep. 11:12829, Table 1; Nowotny et al. arXiv 2212.01232):

.. math::

    \tau_m \frac{dV}{dt} = -V + I, \qquad \tau_s \frac{dI}{dt} = -I, \qquad
    I \leftarrow I + \sum_j w_{ij} \text{ at each presynaptic spike of } j.

With inputs on the grid t = nΔt, the solution over one step is exact (the GeNN/``genn_eventprop`` update):

.. math::

    I' = I_{n-1} + h_n, \qquad h_n = W x_n + W_\text{rec} z_{n-1}

    U_n = \alpha V_{n-1} + c\, I', \qquad I_n = \beta I'

    \alpha = e^{-\Delta t/\tau_m}, \quad \beta = e^{-\Delta t/\tau_s}, \quad
    c = \frac{\tau_s}{\tau_m - \tau_s}(\alpha - \beta)
    \quad (c = \tfrac{\Delta t}{\tau_m}\alpha \text{ if } \tau_m = \tau_s)

    z_n = \Theta(U_n - \vartheta), \qquad
    V_n = U_n (1 - z_n) \text{ (reset to zero)} \quad\text{or}\quad V_n = U_n - \vartheta z_n \text{ (subtract)}

U is the membrane voltage before the reset. A spike z_n is emitted at the end of step n. The non-spiking
leaky-integrator (LI) readout follows the same equations with ϑ = ∞ and reports its voltage averaged over each
step, Ū_n = (1/Δt)∫_{nΔt}^{(n+1)Δt} V dt (exact, :func:`step_average`), so that Σ_n w_n Ū_n Δt is the integral
∫ w(t) V dt of the papers' losses for weights constant over a step. State starts at rest (V = I = 0).
"""

import math
from typing import NamedTuple

import torch

RESETS = ("zero", "subtract")


class LIFParams(NamedTuple):
    """Neuron parameters, named after the symbols in the module docstring."""

    tau_mem: float = 20.0  # τ_m, ms
    tau_syn: float = 5.0  # τ_s, ms
    threshold: float = 1.0  # ϑ, membrane units
    dt: float = 1.0  # Δt, ms
    reset: str = "zero"  # "zero" (V ← 0) or "subtract" (V ← V − ϑ)


class LIFState(NamedTuple):
    v: torch.Tensor  # V, membrane voltage after reset [B, N]
    i: torch.Tensor  # I, synaptic current [B, N]


class Decay(NamedTuple):
    alpha: float  # e^{−Δt/τ_m}
    beta: float  # e^{−Δt/τ_s}
    c: float  # input-current-to-voltage gain over one step


def check_params(p: LIFParams) -> LIFParams:
    """Raise ValueError for non-physical parameters; return ``p`` unchanged."""
    for name in ("tau_mem", "tau_syn", "dt"):
        value = getattr(p, name)
        if not (math.isfinite(value) and value > 0):
            raise ValueError(f"LIFParams.{name} must be a positive finite number of ms, got {value!r}")
    if not p.threshold > 0:
        raise ValueError(f"LIFParams.threshold must be positive, got {p.threshold!r}")
    if p.reset not in RESETS:
        raise ValueError(f"LIFParams.reset must be one of {RESETS}, got {p.reset!r}")
    return p


def decay_factors(p: LIFParams) -> Decay:
    """α, β and c of the exact one-step update (module docstring)."""
    check_params(p)
    alpha = math.exp(-p.dt / p.tau_mem)
    beta = math.exp(-p.dt / p.tau_syn)
    if math.isclose(p.tau_mem, p.tau_syn, rel_tol=1e-9):
        c = p.dt / p.tau_mem * alpha
    else:
        c = p.tau_syn / (p.tau_mem - p.tau_syn) * (alpha - beta)
    return Decay(alpha, beta, c)


def step_average_coefficients(p: LIFParams) -> tuple[float, float]:
    r"""(a₁, a₂) with Ū_n = a₁U_n + a₂U_{n−1}: the step average of a non-spiking LI trace (:func:`step_average`).

    Over a step, V(s) = e^{−s/τ_m} V_{n−1} + κ(s) I'_n, so Ū_n = p_V V_{n−1} + p_I I'_n with
    p_V = τ_m(1 − α)/Δt, p_I = (1/Δt)∫_0^{Δt} κ = τ_s(τ_m(1 − α) − τ_s(1 − β))/((τ_m − τ_s)Δt)
    (τ(1 − α(1 + Δt/τ))/Δt if τ_m = τ_s); with I'_n = (U_n − αU_{n−1})/c, a₁ = p_I/c and a₂ = p_V − αp_I/c.
    """
    alpha, beta, c = decay_factors(p)
    p_v = p.tau_mem * (1 - alpha) / p.dt
    if math.isclose(p.tau_mem, p.tau_syn, rel_tol=1e-9):
        p_i = p.tau_mem * (1 - alpha * (1 + p.dt / p.tau_mem)) / p.dt
    else:
        p_i = p.tau_syn * (p.tau_mem * (1 - alpha) - p.tau_syn * (1 - beta)) / ((p.tau_mem - p.tau_syn) * p.dt)
    return p_i / c, p_v - alpha * p_i / c


def step_average(u: torch.Tensor, p: LIFParams) -> torch.Tensor:
    """Ū_n = (1/Δt)∫ V dt over step n of a non-spiking LI trace U [T, ...] (U_n = V at the step's end), a two-tap
    filter of U (:func:`step_average_coefficients`)."""
    a1, a2 = step_average_coefficients(p)
    previous = torch.cat([torch.zeros_like(u[:1]), u[:-1]])
    return a1 * u + a2 * previous


def crossing_fraction(v0: torch.Tensor, u: torch.Tensor, threshold: float) -> torch.Tensor:
    """f ∈ [0, 1]: where inside a step V crossed ϑ, t = (n + f)Δt, by linear interpolation between V_{n−1} = v0
    and U_n = u, f = (ϑ − V_{n−1})/(U_n − V_{n−1}) (0 where U does not rise)."""
    return ((threshold - v0) / torch.where(u > v0, u - v0, 1.0)).clamp(0.0, 1.0)


def rest_state(batch: int, n: int, like: torch.Tensor) -> LIFState:
    """V = I = 0 for a [batch, n] layer, with the dtype and device of ``like``."""
    zeros = like.new_zeros(batch, n)
    return LIFState(zeros, zeros)


def membrane_step(v, i, h, alpha, beta, c):
    """The grid update of the module docstring before the spike: I' = I_{n−1} + h_n, U_n = αV_{n−1} + cI',
    I_n = βI'; returns (U_n, I', I_n). This is the one definition of the update: :func:`lif_step` and the PyTorch
    references of the kernels call it, and the compiled kernels (:mod:`spikegrad.kernels.lif_scan`,
    :mod:`~spikegrad.kernels.lif_scan_cpu`, :mod:`~spikegrad.kernels.eventprop`,
    :mod:`~spikegrad.kernels.eventprop_cpu`) spell out the same three lines in the same order, citing it."""
    i_in = i + h
    return alpha * v + c * i_in, i_in, beta * i_in


def after_reset(u, z, threshold, subtract: bool):
    """V_n = U_n − ϑz_n (reset by subtraction) or U_n(1 − z_n) (reset to zero), module docstring."""
    return u - threshold * z if subtract else u * (1 - z)


def lif_step(
    h: torch.Tensor, state: LIFState, p: LIFParams, spike_fn=None, detach_reset: bool = True
) -> tuple[torch.Tensor, torch.Tensor, LIFState]:
    """One exact step of the module docstring's update; ``spike_fn(U − ϑ)`` gives z (a surrogate spike).

    Returns (z_n, U_n, new state). ``spike_fn=None`` makes a non-spiking LI neuron (z = 0). With
    ``detach_reset`` the reset uses z without its gradient (the spike itself keeps it).
    """
    u, _, i_next = membrane_step(state.v, state.i, h, *decay_factors(p))
    if spike_fn is None:
        return torch.zeros_like(u), u, LIFState(u, i_next)
    z = spike_fn(u - p.threshold)
    z_reset = z.detach() if detach_reset else z
    return z, u, LIFState(after_reset(u, z_reset, p.threshold, p.reset == "subtract"), i_next)


NEURONS = ("lif", "alif", "li", "linear")  # Layer.neuron
KINDS = ("dense", "conv", "pool")  # Layer.kind


class WeightInit(NamedTuple):
    """Gaussian initial weights N(mean, std²), mean and std in units that depend on the network family
    (:func:`init_weights` for grid networks, :mod:`spikegrad.eventnet` for continuous-time ones)."""

    mean: float = 0.0
    std: float = 1.0


class Layer(NamedTuple):
    """One layer of a network (:class:`NetworkSpec`): its neurons, how it connects to the layer below and its
    initial weights. The last layer is the readout."""

    size: int  # dense: neurons; conv: output channels; pool: window p
    neuron: str = "lif"  # lif, alif (adaptive threshold), li (leaky-integrator readout), linear (per-step readout)
    kind: str = "dense"  # dense, conv (valid, stride 1) or pool (p × p; no neurons, no weights)
    recurrent: bool = False  # all-to-all recurrent weights within the layer
    kernel: int = 0  # conv: kernel size k
    threshold: float | None = None  # ϑ of this layer's neurons (None: the network's neuron's)
    max_spikes: int | None = None  # continuous-time engines: spike slots K per neuron (None: 1)
    init: WeightInit | None = None  # initial input weights (None: the family's default)
    recurrent_init: WeightInit | None = None  # initial recurrent weights (None: the family's default)


class NetworkSpec(NamedTuple):
    """A network: the shape of its input, a stack of layers and the neuron model's parameters. One spec serves
    every engine (:func:`spikegrad.network.build`): :class:`LIFParams` for the current-based LIF of this module
    (grid engines and continuous-time engines, which ignore Δt and reset), or
    :class:`spikegrad.sgnet.CellParams` for the synapse-free LIF/ALIF cell of the surrogate-gradient study."""

    input_shape: tuple[int, ...]  # (n_in,) or (C, H, W)
    layers: tuple[Layer, ...]
    neuron: NamedTuple = LIFParams()

    @property
    def n_in(self) -> int:
        return math.prod(self.input_shape)

    @property
    def hidden(self) -> tuple[Layer, ...]:
        return self.layers[:-1]

    @property
    def readout(self) -> Layer:
        return self.layers[-1]


class NetworkOutput(NamedTuple):
    """What every network returns (:func:`spikegrad.network.build`); a loss reads one of the first three
    (:data:`spikegrad.losses.READS`)."""

    voltage: torch.Tensor | None  # non-spiking readout: U [T, B, C]
    first_spike: torch.Tensor | None  # spiking readout: first-spike times [B, C], ms, +inf if silent
    spikes: list  # grid: hidden spikes per layer, z [T, B, N_k] or event lists (EventProp; dense_spikes);
    #               continuous time: every layer's spike times [B, N_k, K_k], +inf padding, the readout's last
    counts: list[torch.Tensor]  # spikes per neuron [B, N_k] of the layers in ``spikes`` (grid: differentiable)
    active: list[float] | tuple = ()  # sparse engine: per hidden layer, the fraction of entries in the active set


def dense_stack(
    n_in: int,
    hidden: tuple[int, ...],
    n_out: int,
    *,
    recurrent: bool = False,
    readout: str = "li",
    neuron: NamedTuple = LIFParams(),
    hidden_neuron: str = "lif",
    hidden_init: WeightInit | None = None,
    readout_init: WeightInit | None = None,
    recurrent_init: WeightInit | None = None,
) -> NetworkSpec:
    """The spec of ``len(hidden)`` dense layers of ``hidden_neuron`` (all recurrent or none) and a dense readout of
    ``n_out`` ``readout`` neurons."""
    layers = tuple(Layer(n, hidden_neuron, recurrent=recurrent, init=hidden_init, recurrent_init=recurrent_init)
                   for n in hidden)  # fmt: skip
    return NetworkSpec((n_in,), (*layers, Layer(n_out, readout, init=readout_init)), neuron)


def layer_shapes(spec: NetworkSpec) -> list[tuple[int, ...]]:
    """Output shape of every layer; ValueError naming the first inconsistent layer."""
    if not spec.layers:
        raise ValueError("a network needs at least one layer")
    if not spec.input_shape or any(n < 1 for n in spec.input_shape):
        raise ValueError(f"input_shape must hold positive sizes, got {spec.input_shape}")
    shape, shapes = tuple(spec.input_shape), []
    for k, layer in enumerate(spec.layers):
        if layer.kind not in KINDS:
            raise ValueError(f"layers[{k}].kind must be one of {KINDS}, got {layer.kind!r}")
        if layer.neuron not in NEURONS:
            raise ValueError(f"layers[{k}].neuron must be one of {NEURONS}, got {layer.neuron!r}")
        if layer.size < 1:
            raise ValueError(f"layers[{k}].size must be positive, got {layer.size}")
        if layer.kind == "dense":
            shape = (layer.size,)
        else:
            if len(shape) != 3:
                raise ValueError(f"layers[{k}] ({layer.kind}) needs a (C, H, W) input, got shape {shape}")
            c, h, w = shape
            if layer.kind == "conv":
                if not 1 <= layer.kernel <= min(h, w):
                    raise ValueError(f"layers[{k}].kernel must be in [1, {min(h, w)}], got {layer.kernel}")
                shape = (layer.size, h - layer.kernel + 1, w - layer.kernel + 1)
            else:
                if h % layer.size or w % layer.size:
                    raise ValueError(f"layers[{k}]: pool window {layer.size} does not divide {h}x{w}")
                shape = (c, h // layer.size, w // layer.size)
        if layer.threshold is not None and not layer.threshold > 0:
            raise ValueError(f"layers[{k}].threshold must be positive, got {layer.threshold!r}")
        if layer.max_spikes is not None and not layer.max_spikes >= 1:
            raise ValueError(f"layers[{k}].max_spikes must be at least 1, got {layer.max_spikes!r}")
        shapes.append(shape)
    return shapes


def check_family(spec: NetworkSpec, family: str, neuron_type: type, neurons: tuple[str, ...],
                 readouts: tuple[str, ...], kinds=("dense",), fields=()) -> list[tuple[int, ...]]:  # fmt: skip
    """Every layer's output shape (:func:`layer_shapes`); ValueError naming what ``family`` cannot run: a neuron
    model other than ``neuron_type``, hidden neurons outside ``neurons``, a readout outside ``readouts`` or
    recurrent, a kind outside ``kinds`` or a set ``fields`` (Layer fields the family does not take)."""
    shapes = layer_shapes(spec)
    if not isinstance(spec.neuron, neuron_type):
        raise ValueError(f"{family} networks need {neuron_type.__name__}, got {type(spec.neuron).__name__}")
    if spec.readout.recurrent:
        raise ValueError(f"{family} networks take no recurrent readout")
    for k, layer in enumerate(spec.layers):
        allowed = readouts if k == len(spec.layers) - 1 else neurons
        if layer.kind not in kinds:
            raise ValueError(f"{family} networks take {kinds} layers; layers[{k}] is {layer.kind!r}")
        if layer.kind != "pool" and layer.neuron not in allowed:
            role = "readout" if k == len(spec.layers) - 1 else "hidden"
            raise ValueError(f"{family} networks take {role} neurons {allowed}; layers[{k}] is {layer.neuron!r}")
        for name in fields:
            if getattr(layer, name) not in (None, False):
                raise ValueError(f"{family} networks do not take layers[{k}].{name} (got {getattr(layer, name)!r})")
    return shapes


def init_weights(spec: NetworkSpec, seed: int = 0, dtype: torch.dtype = torch.float32) -> dict[str, torch.Tensor]:
    """Initial weights of a grid network, named ``hidden.{k}.weight`` [n_k, n_{k-1}], ``hidden.{k}.recurrent``
    [n_k, n_k] (recurrent layers) and ``readout.weight``, drawn in that order from one generator seeded by ``seed``.

    Each matrix is N(mean/√fan_in, (std/√fan_in)²) with ``Layer.init`` (default (0, 1)) and ``Layer.recurrent_init``
    (default (0, 0.1)).
    """
    layer_shapes(spec)
    gen = torch.Generator().manual_seed(seed)

    def normal(n_out: int, n_in: int, init: WeightInit) -> torch.Tensor:
        scale = 1.0 / math.sqrt(n_in)
        w = torch.randn(n_out, n_in, generator=gen, dtype=torch.float64) * init.std + init.mean
        return (w * scale).to(dtype)

    weights = {}
    n_prev = spec.n_in
    for k, layer in enumerate(spec.layers):
        name = "readout" if k == len(spec.layers) - 1 else f"hidden.{k}"
        weights[f"{name}.weight"] = normal(layer.size, n_prev, layer.init or WeightInit())
        if layer.recurrent:
            weights[f"{name}.recurrent"] = normal(layer.size, layer.size, layer.recurrent_init or WeightInit(0.0, 0.1))
        n_prev = layer.size
    return weights
