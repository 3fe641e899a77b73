r"""Benchmark of forward propagation of spike-time derivatives (:mod:`spikegrad.engines.forwardprop`) against
reverse mode (:mod:`spikegrad.engines.spiketime`) on a 2-layer dense event-based LIF network.

Network: 50 inputs with one latency spike each, uniform in [0, 20] ms; h hidden neurons; 10 outputs; batch 16;
τ_m = 10 ms, τ_s = 5 ms, ϑ = 1, t_max = 60 ms. Weights w ~ N(μ, σ²) with μ = a·ϑ/(κ_max·fan_in),
σ = b·ϑ/(κ_max·√fan_in), κ_max = 1/4, (a, b) = (3, 1) for the hidden layer (a few spikes per neuron) and
(0.5, 0.5) for the outputs. Loss: Σ c·t over the finite output spike times, c fixed random.

Timed per hidden size (median of ``repeats`` calls after one warm-up), forward and gradient together:

- ``fp_full``: :func:`~spikegrad.engines.forwardprop.network` and backward (the full Jacobian, P = all weights),
- ``reverse``: :func:`~spikegrad.engines.spiketime.layer` chained and backward,
- ``fp_jvp``: one :func:`~spikegrad.engines.forwardprop.jvp` (one directional derivative),
- ``forward_only``: the event simulation alone (no gradient), the part the three share.

The forward-mode cost grows as O(#spikes · P) against O(#spikes · fan-in) for reverse mode, so
``fp_over_reverse`` should grow with h once the Jacobian, not the event simulation (a Python loop over input
events in :func:`~spikegrad.kernels.event_sim.event_sim_ref`), dominates.

Run: ``python -m spikegrad.bench.forwardprop --out results/bench/forwardprop.json``
"""

import argparse
import math
from pathlib import Path

import torch

from spikegrad.bench.timing import machine, median_seconds
from spikegrad.device import add_device_argument, available_device
from spikegrad.engines import forwardprop, spiketime
from spikegrad.engines.events import EventOptions, kappa_max, ratio_of
from spikegrad.model import LIFParams
from spikegrad.results import write_json

WARMUP = 1  # untimed calls before timing
N_IN, N_OUT, BATCH = 50, 10, 16
LIF = LIFParams(tau_mem=10.0, tau_syn=5.0, threshold=1.0)
OPTIONS = EventOptions(max_spikes=16, t_max=60.0, truncate=True)
INIT = ((3.0, 1.0), (0.5, 0.5))  # (a, b) of the module docstring, hidden then output layer


def _problem(hidden: int, device: torch.device, dtype: torch.dtype):
    gen = torch.Generator().manual_seed(hidden)
    tin = torch.rand(BATCH, N_IN, 1, generator=gen) * 20
    weights, fan_in = [], N_IN
    for n, (a, b) in zip((hidden, N_OUT), INIT, strict=True):
        w = torch.randn(n, fan_in, generator=gen) * b / math.sqrt(fan_in) + a / fan_in
        weights.append(w * LIF.threshold / kappa_max(ratio_of(LIF)))
        fan_in = n
    coef = torch.randn(BATCH, N_OUT, OPTIONS.max_spikes, generator=gen)
    directions = [torch.randn(w.shape, generator=gen) for w in weights]
    return [x.to(device=device, dtype=dtype) for x in (tin, coef, *weights, *directions)]


def _loss(out: torch.Tensor, coef: torch.Tensor) -> torch.Tensor:
    return torch.where(torch.isfinite(out), coef * out, 0.0).sum()


def bench_size(hidden: int, device: torch.device, dtype: torch.dtype, repeats: int, budget: int) -> dict:
    """Times and sizes for one hidden size (module docstring)."""
    tin, coef, w1, w2, d1, d2 = _problem(hidden, device, dtype)
    params = [w1.clone().requires_grad_(), w2.clone().requires_grad_()]

    def fp_full():
        for p in params:
            p.grad = None
        outs = forwardprop.network(tin, [forwardprop.LIF(p, LIF, OPTIONS) for p in params], budget=budget)
        _loss(outs[-1], coef).backward()
        return outs

    def reverse():
        for p in params:
            p.grad = None
        x = tin
        for p in params:
            x = spiketime.layer(x, p, LIF, OPTIONS)
        _loss(x, coef).backward()

    ops = [forwardprop.LIF(w, LIF, OPTIONS) for w in (w1, w2)]

    def fp_jvp():
        return forwardprop.jvp(tin, ops, [d1, d2])

    def forward_only():
        with torch.no_grad():
            x = tin
            for w in (w1, w2):
                x = spiketime.layer(x, w, LIF, OPTIONS)

    outs = fp_full()
    grad_fp = [p.grad.clone() for p in params]
    reverse()
    agreement = max(
        ((a - p.grad).abs().max() / p.grad.abs().max()).item() for a, p in zip(grad_fp, params, strict=True)
    )
    counts = [torch.isfinite(o).sum(-1) for o in outs]
    result = {
        "hidden": hidden,
        "P": w1.numel() + w2.numel(),
        "spikes": sum(int(c.sum()) for c in counts),
        "hidden_spikes_per_neuron": counts[0].float().mean().item(),
        "output_spikes_per_neuron": counts[1].float().mean().item(),
        "max_spikes_per_neuron": [int(c.max()) for c in counts],
        "grad_rel_diff_fp_vs_reverse": agreement,
    }
    try:
        result["fp_full_s"] = median_seconds(fp_full, device, repeats, WARMUP)
    except ValueError as err:  # over the Jacobian budget
        result["fp_full_s"], result["fp_full_error"] = None, str(err)
    result["forward_only_s"] = median_seconds(forward_only, device, repeats, WARMUP)
    result["reverse_s"] = median_seconds(reverse, device, repeats, WARMUP)
    result["fp_jvp_s"] = median_seconds(fp_jvp, device, repeats, WARMUP)
    if result["fp_full_s"] is not None:
        result["fp_over_reverse"] = result["fp_full_s"] / result["reverse_s"]
    result["jvp_over_reverse"] = result["fp_jvp_s"] / result["reverse_s"]
    return result


def bench(sizes: list[int], device: str, dtype: str, repeats: int, budget: int) -> dict:
    if repeats < 1:
        raise ValueError(f"repeats must be at least 1, got {repeats}")
    device = available_device(device)
    torch_dtype = getattr(torch, dtype)
    return {
        "n_in": N_IN, "n_out": N_OUT, "batch": BATCH, "lif": LIF._asdict(), "options": OPTIONS._asdict(),
        "init": INIT, "dtype": dtype, "repeats": repeats, "warmup": WARMUP, "budget": budget,
        **machine(device),
        "sizes": [bench_size(h, device, torch_dtype, repeats, budget) for h in sizes],
    }  # fmt: skip


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, required=True, help="JSON file to write (atomically)")
    parser.add_argument("--sizes", type=int, nargs="+", default=[8, 16, 32, 64, 128], help="hidden sizes h")
    add_device_argument(parser)
    parser.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument(
        "--budget",
        type=int,
        default=1 << 30,
        help="Jacobian elements forwardprop.network may store (h = 128 needs ~2^27)",
    )
    args = parser.parse_args(argv)
    write_json(args.out, bench(args.sizes, args.device, args.dtype, args.repeats, args.budget))


if __name__ == "__main__":
    main()
