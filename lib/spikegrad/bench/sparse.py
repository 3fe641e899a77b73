"""Benchmark of sparse surrogate-gradient backprop (:mod:`spikegrad.engines.sparse`) against dense BPTT
(:mod:`spikegrad.engines.bptt`) on an SHD-sized workload, side by side in one process on the same inputs and
weights: Poisson input spikes [T, B, n_in], two feed-forward LIF hidden layers of ``hidden`` neurons, a
leaky-integrator readout of 20 classes.

Per hidden size and B_th, for each engine:

- ``layer2_backward_ms``: median time of the second hidden layer's backward pass alone (weight and input
  gradients; Perez-Nieves & Goodman's measure), from a retained graph;
- ``layer2_backward_peak_bytes``: peak memory that backward pass allocates (sparse: ∂L/∂x is a sparse tensor on
  the first layer's active set); ``layer2_saved_bytes``: what the layer's forward pass keeps for it (dense:
  U [T, B, N] and the non-zero inputs; sparse: the active set's indices and U − ϑ, the non-zero inputs and the
  first layer's active indices);
- ``step_ms``: median time of a whole training step (forward, loss, backward) of the network; ``forward_ms``.

and the active fraction |A|/(T·B·N) of each hidden layer; B_th = ∞ is written as null. Ratios dense / sparse are
the paper's speedups (SHD, B_th = 0.2: 35–43× backward, 2.8–7.8× overall) and 1 − sparse/dense its memory saved
(29–37 %).

Run: ``python -m spikegrad.bench.sparse --out results/bench/sparse.json``
"""

import argparse
import math
from pathlib import Path

import torch
from tqdm.auto import tqdm

from spikegrad.bench.timing import machine, median_seconds, peak_bytes, saved_bytes
from spikegrad.bench.workload import poisson_inputs
from spikegrad.device import add_device_argument, available_device
from spikegrad.engines import EngineOptions, bptt, sparse
from spikegrad.losses import cross_entropy
from spikegrad.model import LIFParams, WeightInit, dense_stack
from spikegrad.network import SNN
from spikegrad.results import write_json
from spikegrad.surrogate import SurrogateParams

WARMUP = 2  # untimed calls before timing (Triton compilation, allocator, page faults of fresh buffers)
LIF = LIFParams(tau_mem=10.0, tau_syn=1.0, dt=2.0, reset="subtract")  # Paper B's SHD setting: τ_m 10 ms, Δt 2 ms
SURROGATE = SurrogateParams("fast_sigmoid", 100.0)  # the paper's β = 100
HIDDEN_INIT = WeightInit(0.0, 25.0)  # about 7 and 3 Hz in the two layers at 10-Hz input (units of 1/√fan-in)


def _layer2(model: SNN, x: torch.Tensor, options: EngineOptions, device, repeats: int) -> dict:
    """Backward time, peak and saved memory of the second hidden layer on the first layer's spikes."""
    w1, w2 = (layer.weight for layer in model.hidden)
    with torch.no_grad():
        z1, upstream = sparse.SparseLIF.apply(x, w1, None, None, LIF, SURROGATE, options.active_band)
    z1 = z1.detach().requires_grad_()
    if model.engine == "sparse":
        run = lambda: sparse.SparseLIF.apply(z1, w2, None, upstream, LIF, SURROGATE, options.active_band)[0]  # noqa: E731
    else:
        run = lambda: bptt.hidden_layer(z1, w2, None, LIF, options)[0]  # noqa: E731
    saved, z2 = saved_bytes(run)
    grad = torch.randn(z2.shape, generator=torch.Generator().manual_seed(1)).to(device)
    backward = lambda: torch.autograd.grad(z2, (z1, w2), grad, retain_graph=True)  # noqa: E731
    return {
        "layer2_backward_ms": 1e3 * median_seconds(backward, device, repeats, WARMUP),
        "layer2_backward_peak_bytes": peak_bytes(backward, device),
        "layer2_saved_bytes": saved,
    }


def _step(model: SNN, x: torch.Tensor, y: torch.Tensor) -> None:
    model.zero_grad(set_to_none=True)
    cross_entropy("sum", model(x).voltage, y)[0].backward()


def bench_case(x, y, hidden: int, band: float, device, repeats: int) -> dict:
    """Dense and sparse measurements (module docstring) of one hidden size and B_th."""
    spec = dense_stack(x.shape[-1], (hidden, hidden), 20, neuron=LIF, hidden_init=HIDDEN_INIT)
    case = {"hidden": hidden, "band": band if math.isfinite(band) else None}  # None: B_th = ∞ (JSON has no inf)
    for engine in ("bptt", "sparse"):
        model = SNN(spec, engine, 0, surrogate=SURROGATE, active_band=band).to(device)
        entry = _layer2(model, x, model.options, device, repeats)
        entry["step_ms"] = 1e3 * median_seconds(lambda m=model: _step(m, x, y), device, repeats, WARMUP)
        with torch.no_grad():
            entry["forward_ms"] = 1e3 * median_seconds(lambda m=model: m(x), device, repeats, WARMUP)
            out = model(x)
        entry["hidden_rate_hz"] = [z.mean().item() * 1000 / LIF.dt for z in out.spikes]
        if engine == "sparse":
            entry["active_fraction"] = out.active
        case[engine] = entry
    dense, sparse_ = case["bptt"], case["sparse"]
    case["backward_speedup"] = dense["layer2_backward_ms"] / sparse_["layer2_backward_ms"]
    case["step_speedup"] = dense["step_ms"] / sparse_["step_ms"]
    case["memory_saved"] = 1 - sparse_["layer2_backward_peak_bytes"] / dense["layer2_backward_peak_bytes"]
    case["saved_bytes_ratio"] = dense["layer2_saved_bytes"] / sparse_["layer2_saved_bytes"]
    return case


def bench(T, B, n_in, rate_hz, sizes, bands, band_hidden, device, repeats, progress=True) -> dict:
    """Hidden-size sweep at ``bands[0]`` and B_th sweep at ``band_hidden`` neurons (module docstring)."""
    if repeats < 1 or not sizes or not bands:
        raise ValueError(f"need repeats >= 1 and at least one size and band, got {repeats}, {sizes}, {bands}")
    device = available_device(device)
    x, y = poisson_inputs(T, B, n_in, rate_hz, LIF.dt, device)
    cases = [("by_hidden", h, bands[0]) for h in sizes] + [("by_band", band_hidden, b) for b in bands[1:]]
    result = {
        "T": T, "B": B, "n_in": n_in, "input_rate_hz": rate_hz, "lif": LIF._asdict(),
        "surrogate": SURROGATE._asdict(), "hidden_init": HIDDEN_INIT._asdict(),
        "repeats": repeats, "warmup": WARMUP, **machine(device), "by_hidden": [], "by_band": [],
    }  # fmt: skip
    for sweep, h, band in tqdm(cases, desc="sparse bench", disable=not progress):
        result[sweep].append(bench_case(x, y, h, band, device, repeats))
    return result


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, required=True, help="JSON file to write (atomically)")
    parser.add_argument("--T", type=int, default=500, help="steps (500 = a 1-s SHD trial at Δt = 2 ms)")
    parser.add_argument("--B", type=int, default=256, help="batch (the paper's 256)")
    parser.add_argument("--n-in", type=int, default=700)
    parser.add_argument("--rate", type=float, default=10.0, help="input rate per channel, Hz")
    parser.add_argument("--sizes", type=int, nargs="+", default=[200, 400, 600, 800, 1000])
    parser.add_argument("--bands", type=float, nargs="+", default=[0.2, 0.05, 0.1, 0.25, 0.5, math.inf],
                        help="B_th values: the first for the hidden-size sweep, all at --band-hidden")  # fmt: skip
    parser.add_argument("--band-hidden", type=int, default=400)
    add_device_argument(parser)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args(argv)
    result = bench(args.T, args.B, args.n_in, args.rate, args.sizes, args.bands, args.band_hidden, args.device,
                   args.repeats)  # fmt: skip
    write_json(args.out, result)


if __name__ == "__main__":
    main()
