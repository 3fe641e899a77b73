r"""Networks of continuous-time LIF layers (:mod:`spikegrad.engines.events`): dense, convolutional and pooling
layers, trained with one of the exact engines; the family of :func:`spikegrad.network.build` for the continuous-time
engines. The spec's neuron is a :class:`~spikegrad.model.LIFParams` of which τ_m, τ_s and ϑ count (a layer's own
``threshold`` overrides ϑ); Δt and the reset do not apply.

- **dense**: every input channel to every neuron, W [N, N_in].
- **conv** (Bacho & Chu's ``ConvLIFLayer``): a valid convolution with stride 1 of an input of shape (C, H, W)
  with kernels W [C', C, k, k]; neuron (c', y, x) receives input (c, y + dy, x + dx) through W[c', c, dy, dx].
  It is run as a dense layer whose weight matrix is gathered from the kernels (autograd scatters the gradient
  back), so every engine handles it unchanged.
- **pool** (Bacho & Chu's ``PoolingLayer``): not a neuron. The spike buffers of each p × p window are
  concatenated and sorted, so the output (C, H/p, W/p) carries every input spike (K' = p²K slots).

Initial weights (each LIF layer, ``Layer.init`` = (mean, std), default (1, 1)): w ~ N(μ, σ²) with
μ = mean·ϑ/(κ_max·fan_in) and σ = std·ϑ/(κ_max·√fan_in), κ_max = max_s κ(s) (1/4 for τ_m = 2τ_s, 1/e for
τ_m = τ_s): with mean = 1 the inputs, all arriving together, just reach threshold.

Engines: ``spiketime`` (reverse mode through spike times), ``adjoint`` (continuous-time EventProp) and
``forwardprop`` (forward mode on the spike graph; small networks). They give the same gradient.
"""

import math

import torch
from torch import nn

from spikegrad.engines import CONTINUOUS_ENGINES, forwardprop, get_engine
from spikegrad.engines.events import EventOptions, kappa_max, ratio_of
from spikegrad.model import Layer, LIFParams, NetworkOutput, NetworkSpec, WeightInit, check_family

DEFAULT_INIT = WeightInit(1.0, 1.0)


def conv_index(shape_in: tuple[int, int, int], channels: int, kernel: int) -> tuple[torch.Tensor, ...]:
    """(post, pre, tap) index triples of a valid stride-1 convolution: post neuron (c', y, x) receives pre
    neuron (c, y + dy, x + dx) through kernel entry tap = flat index of [c', c, dy, dx]."""
    c_in, h, w = shape_in
    ho, wo = h - kernel + 1, w - kernel + 1
    co, ci, y, x, dy, dx = torch.meshgrid(
        *(torch.arange(n) for n in (channels, c_in, ho, wo, kernel, kernel)), indexing="ij"
    )
    post = (co * ho + y) * wo + x
    pre = (ci * h + y + dy) * w + x + dx
    tap = ((co * c_in + ci) * kernel + dy) * kernel + dx
    return post.reshape(-1), pre.reshape(-1), tap.reshape(-1)


def pool_index(times: torch.Tensor, shape_in: tuple[int, int, int], p: int) -> torch.Tensor:
    """Index [B, N', p²K] into the flattened [N·K] spike slots of ``times [B, N, K]`` for p × p pooling: each
    window's slots, sorted by time (−1 where the sorted slot is padding)."""
    B, _, K = times.shape
    c, h, w = shape_in
    slots = torch.arange(c * h * w * K, device=times.device).view(c, h // p, p, w // p, p, K)
    slots = slots.permute(0, 1, 3, 2, 4, 5).reshape(-1, p * p * K)
    gathered = times.reshape(B, -1)[:, slots]  # [B, N', p²K]
    order = torch.argsort(gathered, dim=-1, stable=True)
    index = slots.expand(B, -1, -1).gather(-1, order)
    return torch.where(torch.isfinite(gathered.gather(-1, order)), index, -1)


def gather_times(times: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """times.reshape(B, −1)[index] with −1 → +inf; differentiable in ``times``."""
    B = times.shape[0]
    flat = times.reshape(B, -1).gather(1, index.clamp(min=0).reshape(B, -1)).view(index.shape)
    return torch.where(index >= 0, flat, torch.full_like(flat, math.inf))


class EventNet(nn.Module):
    """A feed-forward stack of ``lif`` dense and conv layers and pool layers; parameters ``layers.{k}.weight``
    (dense [N, N_in], conv [C', C, k, k]). ``forward`` returns every layer's spike times [B, N_k, K_k] (K_k =
    ``Layer.max_spikes``, default 1) until ``t_max`` ms; with ``truncate`` a neuron falls silent after K spikes,
    else one more raises :class:`~spikegrad.engines.BufferOverflow`."""

    time, reads = "continuous", "spike_times"

    def __init__(
        self,
        spec: NetworkSpec,
        engine: str = "spiketime",
        seed: int = 0,
        *,
        t_max: float = 100.0,
        truncate: bool = False,
        dtype: torch.dtype = torch.float32,
    ):
        super().__init__()
        get_engine(engine, CONTINUOUS_ENGINES)  # ValueError naming the choices
        self.shapes = check_family(spec, "continuous-time", LIFParams, ("lif",), ("lif",), ("dense", "conv", "pool"),
                                   fields=("recurrent", "recurrent_init"))  # fmt: skip
        if not (math.isfinite(t_max) and t_max > 0):
            raise ValueError(f"t_max must be a positive number of ms, got {t_max!r}")
        self.spec, self.engine, self.t_max, self.truncate = spec, engine, t_max, truncate
        ratio = ratio_of(spec.neuron)
        gen = torch.Generator().manual_seed(seed)
        self.layers = nn.ModuleList()
        shape = tuple(spec.input_shape)
        for layer, out_shape in zip(spec.layers, self.shapes, strict=True):
            module = nn.Module()
            if layer.kind != "pool":
                size = (
                    (layer.size, math.prod(shape))
                    if layer.kind == "dense"
                    else (layer.size, shape[0], layer.kernel, layer.kernel)
                )
                fan_in = size[1] if layer.kind == "dense" else shape[0] * layer.kernel**2
                init = layer.init or DEFAULT_INIT
                scale = self.lif(layer).threshold / kappa_max(ratio)
                w = torch.randn(size, generator=gen, dtype=torch.float64) * init.std / math.sqrt(fan_in)
                module.weight = nn.Parameter((w + init.mean / fan_in).mul(scale).to(dtype))
            if layer.kind == "conv":
                for name, index in zip(
                    ("post", "pre", "tap"), conv_index(shape, layer.size, layer.kernel), strict=True
                ):
                    module.register_buffer(name, index, persistent=False)
            self.layers.append(module)
            shape = out_shape

    def lif(self, layer: Layer) -> LIFParams:
        """The neuron parameters of ``layer``: the network's, with the layer's own ϑ if it has one."""
        neuron = self.spec.neuron
        return neuron if layer.threshold is None else neuron._replace(threshold=layer.threshold)

    def options(self, layer: Layer) -> EventOptions:
        return EventOptions(max_spikes=layer.max_spikes or 1, t_max=self.t_max, truncate=self.truncate)

    def dense_weight(self, k: int, n_in: int) -> torch.Tensor:
        """Layer k's weights as a dense matrix [N, N_in] (gathered from the kernels for a conv layer)."""
        module, layer = self.layers[k], self.spec.layers[k]
        if layer.kind == "dense":
            return module.weight
        n_out = math.prod(self.shapes[k])
        dense = module.weight.new_zeros(n_out, n_in)
        return dense.index_put((module.post, module.pre), module.weight.reshape(-1)[module.tap])

    def forward(self, in_times: torch.Tensor) -> NetworkOutput:
        """Every layer's spike times (``spikes``) and spike counts [B, N_k] for input spike times [B, N_in, K_in]
        (+inf padding); ``first_spike`` is the readout's first spike times [B, C]."""
        n_in = self.spec.n_in
        if in_times.ndim != 3 or in_times.shape[1] != n_in:
            raise ValueError(f"expected input spike times [B, {n_in}, K], got shape {tuple(in_times.shape)}")
        if self.engine == "forwardprop":
            times = forwardprop.network(in_times, self._ops(n_in))
        else:
            times = self._layers(in_times)
        counts = [torch.isfinite(t).sum(-1) for t in times]
        return NetworkOutput(None, times[-1][..., 0], times, counts)

    def _layers(self, in_times: torch.Tensor) -> list[torch.Tensor]:
        outputs, x, shape = [], in_times, tuple(self.spec.input_shape)
        for k, layer in enumerate(self.spec.layers):
            if layer.kind == "pool":
                x = gather_times(x, pool_index(x.detach(), shape, layer.size))
            else:
                weight = self.dense_weight(k, x.shape[1])
                x = CONTINUOUS_ENGINES[self.engine].layer(x, weight, self.lif(layer), self.options(layer))
            outputs.append(x)
            shape = self.shapes[k]
        return outputs

    def _ops(self, n_in: int) -> list:
        ops, shape = [], tuple(self.spec.input_shape)
        for k, layer in enumerate(self.spec.layers):
            if layer.kind == "pool":
                ops.append(forwardprop.Gather(lambda t, s=shape, p=layer.size: pool_index(t, s, p)))
            else:
                ops.append(forwardprop.LIF(self.dense_weight(k, n_in), self.lif(layer), self.options(layer)))
            n_in, shape = math.prod(self.shapes[k]), self.shapes[k]
        return ops
