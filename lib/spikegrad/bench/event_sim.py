r"""Benchmark of the event-driven LIF simulator (:mod:`spikegrad.kernels.event_sim`): the Numba CPU kernel and
(CUDA only) the Triton kernel against the PyTorch reference on the CPU, for one MNIST-like layer.

The layer: B samples, each a latency code of Q of the ``n_in`` = 784 pixels spiking once at uniform times in
[0, ``T_IN``] ms; N neurons with τ_s = 5 ms, τ_m = 2τ_s (``--ratio 1``: τ_m = τ_s), ϑ = 1, K spike slots,
t_max = 100 ms; weights N(``W_MEAN``, ``W_STD``²), so that a neuron fires a few spikes (about 4 on average,
none overflowing K = 30). The simulator is compute-bound (its module docstring), so the figures are input events
(the B·Q input spikes) and output spikes per second, not bytes. Times are medians over ``repeats`` timed calls
(``ref_repeats`` for the slow reference), after warm-up calls, with the device synchronised around each call.
Each kernel's speedup over the reference and its agreement with it (spike counts per neuron, spike times,
overflow flags) are recorded beside the times: ``numba_speedup`` and ``numba_vs_reference``, ``speedup`` and
``kernel_vs_reference`` (CUDA kernel).

Run: ``python -m spikegrad.bench.event_sim --out results/bench/event_sim.json``
"""

import argparse
import math
from pathlib import Path

import torch

from spikegrad.bench.timing import machine, median_seconds
from spikegrad.device import add_device_argument, available_device
from spikegrad.engines.events import input_stream
from spikegrad.kernels import event_sim as es
from spikegrad.results import write_json

TAU_SYN, THETA, T_MAX, T_IN = 5.0, 1.0, 100.0, 50.0  # ms, membrane units, ms, ms
W_MEAN, W_STD = 0.1, 0.3
WARMUP = {"kernel": 3, "numba": 2, "reference": 1}  # untimed calls first (compilation, allocator, caches)


def make_layer(B: int, Q: int, N: int, n_in: int, dtype: torch.dtype, seed: int = 0):
    """(times [B, Q], channels [B, Q], weight [N, n_in]) on the CPU: the layer of the module docstring."""
    if not 1 <= Q <= n_in:
        raise ValueError(f"Q must be in [1, n_in = {n_in}], got {Q}")
    gen = torch.Generator().manual_seed(seed)
    in_times = torch.full((B, n_in, 1), math.inf, dtype=torch.float64)
    for b in range(B):
        pixels = torch.randperm(n_in, generator=gen)[:Q]
        in_times[b, pixels, 0] = T_IN * torch.rand(Q, generator=gen, dtype=torch.float64)
    times, channels = input_stream(in_times)
    weight = W_MEAN + W_STD * torch.randn(N, n_in, generator=gen, dtype=torch.float64)
    return times.to(dtype), channels, weight.to(dtype)


def agreement(out, ref) -> dict:
    """How an implementation's (times, currents, overflow) agree with the reference's."""
    (t_k, _, o_k), (t_r, _, o_r) = out, ref
    fired, fired_ref = torch.isfinite(t_k), torch.isfinite(t_r)
    both = fired & fired_ref
    return {
        "spikes_equal": bool(torch.equal(fired, fired_ref)),  # the same spikes (slots), times aside
        "spike_count_mismatch_fraction": (fired.sum(-1) != fired_ref.sum(-1)).float().mean().item(),
        "max_abs_time_diff_ms": (t_k[both] - t_r[both]).abs().max().item() if both.any() else 0.0,
        "overflow_equal": bool((o_k == o_r).all()),
    }


def bench_event_sim(
    B: int, Q: int, N: int, n_in: int, K: int, ratio: int, device: str, dtype: torch.dtype, repeats: int,
    ref_repeats: int,
) -> dict:  # fmt: skip
    """Median times (ms), input events/s and output spikes/s of the reference (CPU), of the Numba kernel (CPU, with
    numba installed) and, on CUDA with triton installed, of the Triton kernel (module docstring)."""
    if repeats < 1 or ref_repeats < 1:
        raise ValueError(f"repeats and ref_repeats must be at least 1, got {repeats}, {ref_repeats}")
    device = available_device(device)
    times, channels, weight = make_layer(B, Q, N, n_in, dtype)
    tau_mem = ratio * TAU_SYN
    impls = {"reference": (es.event_sim_ref, torch.device("cpu"), ref_repeats)}
    if es.event_sim_cpu is not None:
        impls["numba"] = (es.event_sim_numba, torch.device("cpu"), repeats)
    if device.type == "cuda" and es.triton is not None:
        impls["kernel"] = (es.event_sim, device, repeats)
    result = {
        "B": B, "Q": Q, "N": N, "n_in": n_in, "K": K, "ratio": ratio, "tau_mem": tau_mem, "tau_syn": TAU_SYN,
        "theta": THETA, "t_max": T_MAX, "dtype": str(dtype).removeprefix("torch."),
        "repeats": repeats, "ref_repeats": ref_repeats, "warmup": WARMUP, "block_n": es.BLOCK_N,
        "numba_block": es.event_sim_cpu.BLOCK if es.event_sim_cpu else None,
        "input_events": int(torch.isfinite(times).sum()),
        **machine(device),
    }  # fmt: skip
    outputs = {}
    for name, (fn, dev, reps) in impls.items():
        args = (times.to(dev), channels.to(dev), weight.to(dev), tau_mem, ratio, THETA, T_MAX, K)
        t_ms = 1e3 * median_seconds(lambda f=fn, a=args: f(*a), dev, reps, WARMUP[name])
        out, _, overflow = outputs[name] = [x.cpu() for x in fn(*args)]
        spikes = int(torch.isfinite(out).sum())
        result[name] = {
            "device": str(dev), "ms": t_ms, "input_events_per_s": result["input_events"] / (t_ms / 1e3),
            "output_spikes_per_s": spikes / (t_ms / 1e3), "output_spikes": spikes,
            "spikes_per_neuron": spikes / (B * N), "overflow_fraction": overflow.float().mean().item(),
        }  # fmt: skip
    for name, prefix in (("numba", "numba_"), ("kernel", "")):
        if name in outputs:
            result[f"{prefix}speedup"] = result["reference"]["ms"] / result[name]["ms"]
            result[f"{name}_vs_reference"] = agreement(outputs[name], outputs["reference"])
    return result


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, required=True, help="JSON file to write (atomically)")
    parser.add_argument("--B", type=int, default=50)
    parser.add_argument("--Q", type=int, default=150, help="input spikes per sample")
    parser.add_argument("--N", type=int, default=800)
    parser.add_argument("--n-in", type=int, default=784)
    parser.add_argument("--K", type=int, default=30, help="spike slots per neuron")
    parser.add_argument("--ratio", type=int, choices=es.RATIOS, default=2, help="τ_m / τ_s")
    add_device_argument(parser)
    parser.add_argument("--dtype", choices=["float32", "float64"], default="float32")
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--ref-repeats", type=int, default=3)
    args = parser.parse_args(argv)
    result = bench_event_sim(
        args.B, args.Q, args.N, args.n_in, args.K, args.ratio, args.device, getattr(torch, args.dtype), args.repeats,
        args.ref_repeats,
    )  # fmt: skip
    write_json(args.out, result)


if __name__ == "__main__":
    main()
