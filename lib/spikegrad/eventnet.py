r"""Networks of continuous-time LIF layers (:mod:`spikegrad.engines.events`): dense, convolutional and pooling
layers, trained with one of the exact engines.

- **dense**: every input channel to every neuron, W [N, N_in].
- **conv** (Bacho & Chu's ``ConvLIFLayer``): a valid convolution with stride 1 of an input of shape (C, H, W)
  with kernels W [C', C, k, k]; neuron (c', y, x) receives input (c, y + dy, x + dx) through W[c', c, dy, dx].
  It is run as a dense layer whose weight matrix is gathered from the kernels (autograd scatters the gradient
  back), so every engine handles it unchanged.
- **pool** (Bacho & Chu's ``PoolingLayer``): not a neuron. The spike buffers of each p × p window are
  concatenated and sorted, so the output (C, H/p, W/p) carries every input spike (K' = p²K slots).

Initial weights (each LIF layer): w ~ N(μ, σ²) with μ = ``init_mean``·ϑ/(κ_max·fan_in) and
σ = ``init_std``·ϑ/(κ_max·√fan_in), κ_max = max_s κ(s) (1/4 for τ_m = 2τ_s, 1/e for τ_m = τ_s): with
``init_mean`` = 1 the inputs, all arriving together, just reach threshold.

Engines: ``spiketime`` (reverse mode through spike times), ``adjoint`` (continuous-time EventProp) and
``forwardprop`` (forward mode on the spike graph; small networks). They give the same gradient.
"""

import math
from typing import NamedTuple

import torch
from torch import nn

from spikegrad.engines import CONTINUOUS_ENGINES, forwardprop, get_engine
from spikegrad.engines.events import EventOptions, kappa_max, ratio_of
from spikegrad.model import LIFParams

KINDS = ("dense", "conv", "pool")


class LayerSpec(NamedTuple):
    kind: str  # "dense", "conv" or "pool"
    size: int  # dense: neurons; conv: output channels; pool: window p
    kernel: int = 0  # conv: kernel size k
    threshold: float = 1.0  # ϑ of this layer's neurons
    max_spikes: int = 1  # K: spike slots per neuron
    init_mean: float = 1.0  # μ and σ of the initial weights (module docstring)
    init_std: float = 1.0


class EventNetSpec(NamedTuple):
    input_shape: tuple[int, ...]  # (n_in,) or (C, H, W)
    layers: tuple[LayerSpec, ...]
    tau_syn: float = 5.0  # τ_s, ms
    tau_mem: float = 10.0  # τ_m, ms: 2τ_s or τ_s
    t_max: float = 100.0  # ms, end of the simulation
    truncate: bool = False  # a neuron falls silent after K spikes (else more spikes raise BufferOverflow)


def layer_shapes(spec: EventNetSpec) -> list[tuple[int, ...]]:
    """Output shape of every layer (raises ValueError for an inconsistent spec)."""
    shape, shapes = tuple(spec.input_shape), []
    for k, layer in enumerate(spec.layers):
        if layer.kind not in KINDS:
            raise ValueError(f"layers[{k}].kind must be one of {KINDS}, got {layer.kind!r}")
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
        if layer.kind != "pool" and not (layer.threshold > 0 and layer.max_spikes >= 1):
            raise ValueError(f"layers[{k}] needs threshold > 0 and max_spikes >= 1, got {layer}")
        shapes.append(shape)
    return shapes


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
    """A feed-forward network of :class:`LayerSpec` layers; parameters ``layers.{k}.weight`` (dense [N, N_in],
    conv [C', C, k, k]); ``forward`` returns the spike times [B, N_k, K_k] of every layer."""

    def __init__(self, spec: EventNetSpec, engine: str = "spiketime", seed: int = 0, dtype=torch.float32):
        super().__init__()
        get_engine(engine, CONTINUOUS_ENGINES)  # ValueError naming the choices
        self.spec, self.engine = spec, engine
        self.shapes = layer_shapes(spec)
        ratio = ratio_of(self.lif(1.0))
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
                scale = layer.threshold / kappa_max(ratio)
                w = torch.randn(size, generator=gen, dtype=torch.float64) * layer.init_std / math.sqrt(fan_in)
                module.weight = nn.Parameter((w + layer.init_mean / fan_in).mul(scale).to(dtype))
            if layer.kind == "conv":
                for name, index in zip(
                    ("post", "pre", "tap"), conv_index(shape, layer.size, layer.kernel), strict=True
                ):
                    module.register_buffer(name, index, persistent=False)
            self.layers.append(module)
            shape = out_shape

    def lif(self, threshold: float) -> LIFParams:
        return LIFParams(tau_mem=self.spec.tau_mem, tau_syn=self.spec.tau_syn, threshold=threshold)

    def options(self, layer: LayerSpec) -> EventOptions:
        return EventOptions(max_spikes=layer.max_spikes, t_max=self.spec.t_max, truncate=self.spec.truncate)

    def dense_weight(self, k: int, n_in: int) -> torch.Tensor:
        """Layer k's weights as a dense matrix [N, N_in] (gathered from the kernels for a conv layer)."""
        module, layer = self.layers[k], self.spec.layers[k]
        if layer.kind == "dense":
            return module.weight
        n_out = math.prod(self.shapes[k])
        dense = module.weight.new_zeros(n_out, n_in)
        return dense.index_put((module.post, module.pre), module.weight.reshape(-1)[module.tap])

    def forward(self, in_times: torch.Tensor) -> list[torch.Tensor]:
        """Spike times of every layer for input spike times [B, N_in, K_in] (+inf padding)."""
        n_in = math.prod(self.spec.input_shape)
        if in_times.ndim != 3 or in_times.shape[1] != n_in:
            raise ValueError(f"expected input spike times [B, {n_in}, K], got shape {tuple(in_times.shape)}")
        if self.engine == "forwardprop":
            return forwardprop.network(in_times, self._ops(n_in))
        outputs, x, shape = [], in_times, tuple(self.spec.input_shape)
        for k, layer in enumerate(self.spec.layers):
            if layer.kind == "pool":
                x = gather_times(x, pool_index(x.detach(), shape, layer.size))
            else:
                lif = self.lif(layer.threshold)
                x = CONTINUOUS_ENGINES[self.engine].layer(x, self.dense_weight(k, x.shape[1]), lif, self.options(layer))
            outputs.append(x)
            shape = self.shapes[k]
        return outputs

    def _ops(self, n_in: int) -> list:
        ops, shape = [], tuple(self.spec.input_shape)
        for k, layer in enumerate(self.spec.layers):
            if layer.kind == "pool":
                ops.append(forwardprop.Gather(lambda t, s=shape, p=layer.size: pool_index(t, s, p)))
            else:
                ops.append(forwardprop.LIF(self.dense_weight(k, n_in), self.lif(layer.threshold), self.options(layer)))
            n_in, shape = math.prod(self.shapes[k]), self.shapes[k]
        return ops
