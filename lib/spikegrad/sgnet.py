r"""The recurrent LIF / ALIF network of Herranz-Celotti & Rouat ("Stabilizing Spiking Neuron Training",
arXiv 2202.00282; their ``maLSNN`` cell), trained by dense BPTT through the surrogate gradient: the family of
:func:`spikegrad.network.build` for a spec whose neuron is :class:`CellParams`.

Per hidden layer, with presynaptic spikes x_t, own spikes z_t and decay α = e^{−Δt/τ_m}:

.. math::

    I_t = W x_t + W_\text{rec} z_{t-1} + b \qquad (W_\text{rec}\text{ has a zero diagonal})

    a_t = \rho a_{t-1} + (1 - \rho) z_{t-1}, \quad A_t = \vartheta + \beta_a a_t
    \quad (\text{layer neuron ``alif''}; \text{ ``lif'': } A_t = \vartheta), \quad \rho = e^{-\Delta t/\tau_a}

    \text{subtract: } V_t = \alpha V_{t-1} + I_t - A_t z_{t-1}, \quad
    \text{mult\_memory: } V_t = \alpha V_{t-1}(1 - z_{t-1}) + I_t, \quad
    \text{mult\_all: } V_t = (\alpha V_{t-1} + I_t)(1 - z_{t-1})

    z_t = \Theta(V_t - A_t), \qquad \partial z_t/\partial V_t := \mathrm{SG}(V_t - A_t)

The reset term carries no gradient (z_{t−1} detached there), as in the paper's code. Unlike :mod:`spikegrad.model`
the cell has no synaptic current: input enters the voltage in the step it arrives. The readout is linear per step,
y_t = W_out z_t + b_out, for a per-step loss such as ``avg_xentropy``. Weights start Glorot-uniform (the paper's
default) and biases at zero; :mod:`spikegrad.studies.surrogate.stability` may replace the recurrent weights and the SG
parameters (:mod:`spikegrad.studies.surrogate.prepare`).
"""

import math
from typing import NamedTuple

import torch
from torch import nn

from spikegrad.model import NetworkOutput, NetworkSpec, check_family
from spikegrad.surrogate import SurrogateParams, SurrogateSpike, check_surrogate

RESETS = ("subtract", "mult_memory", "mult_all")


class CellParams(NamedTuple):
    """Neuron parameters, named after the symbols in the module docstring."""

    tau_mem: float = 20.0  # τ_m, ms
    threshold: float = 1.0  # ϑ
    dt: float = 1.0  # Δt, ms
    reset: str = "subtract"  # subtract, mult_memory, mult_all
    tau_adapt: float = 500.0  # τ_a, ms (the paper uses half the trial)
    beta_adapt: float = 1.8  # β_a

    @property
    def alpha(self) -> float:
        return math.exp(-self.dt / self.tau_mem)

    @property
    def rho(self) -> float:
        return math.exp(-self.dt / self.tau_adapt)


def check_cell(p: CellParams) -> CellParams:
    """Raise ValueError for non-physical parameters; return ``p`` unchanged."""
    for name in ("tau_mem", "dt", "tau_adapt", "threshold"):
        value = getattr(p, name)
        if not (math.isfinite(value) and value > 0):
            raise ValueError(f"CellParams.{name} must be a positive finite number, got {value!r}")
    if not (math.isfinite(p.beta_adapt) and p.beta_adapt >= 0):
        raise ValueError(f"CellParams.beta_adapt must be a non-negative number, got {p.beta_adapt!r}")
    if p.reset not in RESETS:
        raise ValueError(f"CellParams.reset must be one of {RESETS}, got {p.reset!r}")
    return p


def glorot_uniform(n_out: int, n_in: int, gen: torch.Generator) -> torch.Tensor:
    """U(±√(6/(n_in + n_out))), Keras' default initialiser used by the paper."""
    bound = math.sqrt(6.0 / (n_in + n_out))
    return (torch.rand(n_out, n_in, generator=gen, dtype=torch.float64) * 2 - 1) * bound


def recurrent_layer(
    h: torch.Tensor,
    w_rec: torch.Tensor,
    bias: torch.Tensor,
    p: CellParams,
    sg: SurrogateParams,
    adaptive: bool = False,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Spikes z and voltages V [T, B, N] of one layer driven by input currents h = W x [T, B, N] (module
    docstring); ``adaptive``: ALIF's threshold A_t."""
    check_surrogate(sg)  # once here, not in every step's spike
    w_rec = w_rec * (1 - torch.eye(len(w_rec), dtype=w_rec.dtype, device=w_rec.device))
    alpha, rho = p.alpha, p.rho
    v = a = z = torch.zeros_like(h[0])
    spikes, voltages = [], []
    for h_t in h:
        current = h_t + z @ w_rec.T + bias
        a = rho * a + (1 - rho) * z if adaptive else a
        threshold = p.threshold + p.beta_adapt * a if adaptive else p.threshold
        keep = 1 - z.detach()
        if p.reset == "subtract":
            v = alpha * v + current - (threshold * z).detach()
        elif p.reset == "mult_memory":
            v = alpha * v * keep + current
        else:
            v = (alpha * v + current) * keep
        z = SurrogateSpike.apply(v - threshold, sg)
        spikes.append(z)
        voltages.append(v)
    return torch.stack(spikes), torch.stack(voltages)


class SGNet(nn.Module):
    """Recurrent ``lif`` / ``alif`` layers (at least 2 neurons each) and a ``linear`` per-step readout (module
    docstring), of a spec whose neuron is :class:`CellParams`; engine bptt.

    ``surrogate`` holds one :class:`SurrogateParams` per layer. Parameters: ``hidden.{k}.weight`` [n_k, n_{k−1}],
    ``hidden.{k}.recurrent`` [n_k, n_k] (diagonal unused), ``hidden.{k}.bias`` [n_k], ``readout.weight``
    [n_out, n_K], ``readout.bias`` [n_out], drawn Glorot-uniform in that order from ``seed``.
    """

    time, reads, train_tau = "grid", "voltage", False

    def __init__(
        self, spec: NetworkSpec, engine: str = "bptt", seed: int = 0, *, surrogate: SurrogateParams = SurrogateParams()
    ):
        super().__init__()
        if engine != "bptt":
            raise ValueError(f"the LIF/ALIF cell network trains with engine 'bptt', got {engine!r}")
        check_family(spec, "LIF/ALIF cell", CellParams, ("lif", "alif"), ("linear",),
                     fields=("threshold", "max_spikes", "init", "recurrent_init"))  # fmt: skip
        check_cell(spec.neuron)
        check_surrogate(surrogate)
        if not spec.hidden or any(not layer.recurrent or layer.size < 2 for layer in spec.hidden):
            raise ValueError(f"need at least one hidden layer, each recurrent with ≥ 2 neurons, got {spec.layers}")
        self.spec, self.engine = spec, engine
        self.surrogate = tuple(surrogate for _ in spec.hidden)  # per layer; stabilize may change each
        gen = torch.Generator().manual_seed(seed)
        self.hidden = nn.ModuleList()
        n_prev = spec.n_in
        for spec_k in spec.hidden:
            n, layer = spec_k.size, nn.Module()
            layer.weight = nn.Parameter(glorot_uniform(n, n_prev, gen).float())
            layer.recurrent = nn.Parameter((glorot_uniform(n, n, gen) * (1 - torch.eye(n))).float())
            layer.bias = nn.Parameter(torch.zeros(n))
            self.hidden.append(layer)
            n_prev = n
        self.readout = nn.Module()
        self.readout.weight = nn.Parameter(glorot_uniform(spec.readout.size, n_prev, gen).float())
        self.readout.bias = nn.Parameter(torch.zeros(spec.readout.size))

    @property
    def dt(self) -> float:
        """Δt of the time grid, ms."""
        return self.spec.neuron.dt

    def forward(self, x: torch.Tensor) -> NetworkOutput:
        """Run the network on input spikes x [T, B, n_in]; ``voltage`` is the readout y [T, B, C]."""
        if x.ndim != 3 or x.shape[-1] != self.spec.n_in:
            raise ValueError(f"expected input spikes [T, B, {self.spec.n_in}], got shape {tuple(x.shape)}")
        spikes = []
        for layer, spec_k, sg in zip(self.hidden, self.spec.hidden, self.surrogate, strict=True):
            h = x @ layer.weight.T
            x = recurrent_layer(h, layer.recurrent, layer.bias, self.spec.neuron, sg, spec_k.neuron == "alif")[0]
            spikes.append(x)
        y = x @ self.readout.weight.T + self.readout.bias
        return NetworkOutput(y, None, spikes, [z.sum(0) for z in spikes])
