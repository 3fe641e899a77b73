r"""The recurrent LIF / ALIF network of Herranz-Celotti & Rouat ("Stabilizing Spiking Neuron Training",
arXiv 2202.00282; their ``maLSNN`` cell), trained by dense BPTT through the surrogate gradient.

Per hidden layer, with presynaptic spikes x_t, own spikes z_t and decay α = e^{−Δt/τ_m}:

.. math::

    I_t = W x_t + W_\text{rec} z_{t-1} + b \qquad (W_\text{rec}\text{ has a zero diagonal})

    a_t = \rho a_{t-1} + (1 - \rho) z_{t-1}, \quad A_t = \vartheta + \beta_a a_t
    \quad (\text{ALIF}; \text{ LIF: } A_t = \vartheta), \quad \rho = e^{-\Delta t/\tau_a}

    \text{subtract: } V_t = \alpha V_{t-1} + I_t - A_t z_{t-1}, \quad
    \text{mult\_memory: } V_t = \alpha V_{t-1}(1 - z_{t-1}) + I_t, \quad
    \text{mult\_all: } V_t = (\alpha V_{t-1} + I_t)(1 - z_{t-1})

    z_t = \Theta(V_t - A_t), \qquad \partial z_t/\partial V_t := \mathrm{SG}(V_t - A_t)

The reset term carries no gradient (z_{t−1} detached there), as in the paper's code. Unlike :mod:`spikegrad.model`
the cell has no synaptic current: input enters the voltage in the step it arrives. The readout is linear per step,
y_t = W_out z_t + b_out, for a per-step loss such as ``avg_xentropy``. Weights start Glorot-uniform (the paper's
default) and biases at zero; :mod:`spikegrad.studies.surrogate.stability` may replace the recurrent weights and the SG
parameters.
"""

import math
from typing import NamedTuple

import torch
from torch import nn

from spikegrad.losses import sparsity_penalty
from spikegrad.network import NetworkOutput
from spikegrad.studies.surrogate import stability
from spikegrad.studies.surrogate.stability import RESETS
from spikegrad.surrogate import SurrogateParams, SurrogateSpike, check_surrogate


class CellParams(NamedTuple):
    """Neuron parameters, named after the symbols in the module docstring."""

    tau_mem: float = 20.0  # τ_m, ms
    threshold: float = 1.0  # ϑ
    dt: float = 1.0  # Δt, ms
    reset: str = "subtract"  # subtract, mult_memory, mult_all
    adaptive: bool = False  # ALIF: adaptive threshold A_t
    tau_adapt: float = 500.0  # τ_a, ms (the paper uses half the trial)
    beta_adapt: float = 1.8  # β_a

    @property
    def alpha(self) -> float:
        return math.exp(-self.dt / self.tau_mem)

    @property
    def rho(self) -> float:
        return math.exp(-self.dt / self.tau_adapt)


class SGNetSpec(NamedTuple):
    """Layer sizes and cell of a stack of recurrent LIF/ALIF layers with a linear per-step readout."""

    n_in: int
    n_hidden: tuple[int, ...]
    n_out: int
    cell: CellParams = CellParams()
    readout: str = "li"  # the readout reports a voltage-like trace (spikegrad.losses.VOLTAGE_LOSSES)


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
    h: torch.Tensor, w_rec: torch.Tensor, bias: torch.Tensor, p: CellParams, sg: SurrogateParams
) -> tuple[torch.Tensor, torch.Tensor]:
    """Spikes z and voltages V [T, B, N] of one layer driven by input currents h = W x [T, B, N] (module
    docstring)."""
    check_surrogate(sg)  # once here, not in every step's spike
    w_rec = w_rec * (1 - torch.eye(len(w_rec), dtype=w_rec.dtype, device=w_rec.device))
    alpha, rho = p.alpha, p.rho
    v = a = z = torch.zeros_like(h[0])
    spikes, voltages = [], []
    for h_t in h:
        current = h_t + z @ w_rec.T + bias
        a = rho * a + (1 - rho) * z if p.adaptive else a
        threshold = p.threshold + p.beta_adapt * a if p.adaptive else p.threshold
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
    """Recurrent LIF/ALIF layers and a linear per-step readout (module docstring).

    ``surrogate`` holds one :class:`SurrogateParams` per layer. Parameters: ``hidden.{k}.weight`` [n_k, n_{k−1}],
    ``hidden.{k}.recurrent`` [n_k, n_k] (diagonal unused),
    ``hidden.{k}.bias`` [n_k], ``readout.weight`` [n_out, n_K], ``readout.bias`` [n_out]. The interface
    (``spec.readout``, ``surrogate``, ``hidden``, ``train_tau``, ``dt``) is what :func:`spikegrad.train.fit` uses.
    """

    train_tau = False

    def __init__(self, spec: SGNetSpec, surrogate: SurrogateParams = SurrogateParams(), seed: int = 0):
        super().__init__()
        check_cell(spec.cell)
        check_surrogate(surrogate)
        if spec.n_in < 1 or spec.n_out < 1 or not spec.n_hidden or any(n < 2 for n in spec.n_hidden):
            raise ValueError(f"need n_in, n_out ≥ 1 and at least one hidden layer of ≥ 2 neurons, got {spec}")
        self.spec = spec
        self.surrogate = tuple(surrogate for _ in spec.n_hidden)  # per layer; stabilize may change each
        gen = torch.Generator().manual_seed(seed)
        self.hidden = nn.ModuleList()
        n_prev = spec.n_in
        for n in spec.n_hidden:
            layer = nn.Module()
            layer.weight = nn.Parameter(glorot_uniform(n, n_prev, gen).float())
            layer.recurrent = nn.Parameter((glorot_uniform(n, n, gen) * (1 - torch.eye(n))).float())
            layer.bias = nn.Parameter(torch.zeros(n))
            self.hidden.append(layer)
            n_prev = n
        self.readout = nn.Module()
        self.readout.weight = nn.Parameter(glorot_uniform(spec.n_out, n_prev, gen).float())
        self.readout.bias = nn.Parameter(torch.zeros(spec.n_out))

    @property
    def dt(self) -> float:
        """Δt of the time grid, ms."""
        return self.spec.cell.dt

    def forward(self, x: torch.Tensor) -> NetworkOutput:
        """Run the network on input spikes x [T, B, n_in]; ``voltage`` is the readout y [T, B, C]."""
        if x.ndim != 3 or x.shape[-1] != self.spec.n_in:
            raise ValueError(f"expected input spikes [T, B, {self.spec.n_in}], got shape {tuple(x.shape)}")
        spikes = []
        for layer, sg in zip(self.hidden, self.surrogate, strict=True):
            x = recurrent_layer(x @ layer.weight.T, layer.recurrent, layer.bias, self.spec.cell, sg)[0]
            spikes.append(x)
        y = x @ self.readout.weight.T + self.readout.bias
        return NetworkOutput(y, None, spikes, [z.sum(0) for z in spikes])


def stabilize_network(
    model: SGNet, conditions: list[str], input_mean: float, input_var: float, seed: int = 0
) -> list[stability.Stabilized]:
    """Apply stability ``conditions`` (a subset of I–IV) layer by layer
    (:func:`spikegrad.studies.surrogate.stability.stabilize`):
    the first layer sees the data's input moments, deeper ones Bernoulli(½) spikes. Replaces each layer's
    recurrent weights (I, II) and surrogate parameters (III, IV) in place; returns what each layer got."""
    cell, moments, chosen = model.spec.cell, (input_mean, input_var), []
    for k, (layer, sg) in enumerate(zip(model.hidden, model.surrogate, strict=True)):
        out = stability.stabilize(
            layer.weight, layer.recurrent, cell.alpha, cell.threshold, cell.reset, sg, *moments, conditions, seed + k
        )
        with torch.no_grad():
            layer.recurrent.copy_(out.w_rec)
        chosen.append(out)
        moments = stability.SPIKE_INPUT_MOMENTS
    model.surrogate = tuple(out.sg for out in chosen)
    return chosen


def predictions(model: SGNet) -> dict[str, float | None]:
    """What conditions III, IV and IV-tail predict for the first layer as it stands: the dampening γ, the
    sharpness β at the layer's γ, and (q_pseudospike only) the tail q at its γ, β; None where no value solves."""
    cell, layer, sg = model.spec.cell, model.hidden[0], model.surrogate[0]
    args = (layer.weight, layer.recurrent, cell.alpha, cell.threshold, cell.reset, sg)
    solvers = {
        "dampening": lambda: stability.dampening(*args[1:5]).mean().item(),
        "sharpness": lambda: stability.solve_sharpness(*args),
        "tail": lambda: stability.solve_tail(*args) if sg.shape == "q_pseudospike" else None,
    }
    predicted = {}
    for name, solve in solvers.items():
        try:
            predicted[name] = solve()
        except stability.NoSolution:
            predicted[name] = None
    return predicted


def adjust_initial_rate(model: SGNet, data, cfg, target: float, epochs: int = 15, lr: float = 1e-2) -> None:
    """Train only the hidden biases for ``epochs`` with Adam on Σ_layers (⟨z⟩ − target)² so that every layer
    starts at spike probability ``target`` per step (Herranz-Celotti & Rouat's initial-rate adjustment); batches
    as :func:`spikegrad.train.fit` draws them under ``cfg`` (:class:`spikegrad.train.TrainConfig`)."""
    from spikegrad.train import GridTask

    if not 0 < target < 1:
        raise ValueError(f"the initial firing rate must be a spike probability in (0, 1), got {target!r}")
    biases = [layer.bias for layer in model.hidden]
    opt = torch.optim.Adam(biases, lr=lr)
    task = GridTask(model, cfg)
    model.train()
    for epoch in range(epochs):
        for idx in data.batches(cfg.batch_size, shuffle=True, seed=cfg.seed, epoch=epoch):
            loss = sparsity_penalty(model(task.inputs(data, idx)[0]).spikes, target)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
    model.zero_grad(set_to_none=True)
