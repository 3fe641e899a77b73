"""Benchmark of one training step (forward + backward) of an SHD-sized network: EventProp against dense BPTT,
side by side in one process on the same inputs.

Reported per engine: median step time (ms) over ``repeats`` timed steps after warm-up, the bytes autograd
saves for the backward pass (the activations each engine keeps), and on CUDA the peak allocated memory of a
step above the inputs and weights. The ratios BPTT / EventProp are the paper's speed and memory claims (GeNN vs
Spyx: 3.7x faster, 4.7x less memory at 256 hidden and Δt = 1 ms).

Run: ``python -m spikegrad.bench.eventprop --out results/bench/eventprop.json``
"""

import argparse
from pathlib import Path

import torch

from spikegrad.bench.timing import median_seconds
from spikegrad.bench.workload import poisson_inputs
from spikegrad.losses import cross_entropy
from spikegrad.model import LIFParams, NetworkSpec, WeightInit
from spikegrad.network import SNN
from spikegrad.results import versions, write_json

WARMUP = 2  # untimed steps before timing (Triton compilation, allocator, caches)


def _step(model: SNN, x: torch.Tensor, y: torch.Tensor) -> None:
    model.zero_grad(set_to_none=True)
    cross_entropy("sum_weigh_exp", model(x).voltage, y)[0].backward()


def _saved_bytes(model: SNN, x: torch.Tensor, y: torch.Tensor) -> int:
    sizes = []

    def pack(t):
        sizes.append(0 if t.is_leaf and t.requires_grad else t.numel() * t.element_size())
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        loss = cross_entropy("sum_weigh_exp", model(x).voltage, y)[0]
    loss.backward()
    return sum(sizes)


def bench_step(T: int, B: int, n_in: int, hidden: int, dt: float, rate_hz: float, device: str, repeats: int) -> dict:
    """Step time, saved bytes and (CUDA) peak memory of EventProp and BPTT (module docstring)."""
    if repeats < 1:
        raise ValueError(f"repeats must be at least 1, got {repeats}")
    device = torch.device(device)
    x, y = poisson_inputs(T, B, n_in, rate_hz, dt, device)
    spec = NetworkSpec(n_in, (hidden,), 20, recurrent=True, lif=LIFParams(dt=dt))
    result = {
        "T": T, "B": B, "n_in": n_in, "hidden": hidden, "dt": dt, "input_rate_hz": rate_hz,
        "device": str(device), "repeats": repeats, "warmup": WARMUP,
        "device_name": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
        "versions": versions(),
    }  # fmt: skip
    for engine in ("eventprop", "bptt"):
        model = SNN(spec, engine=engine, hidden_init=WeightInit(1.5, 1.0), recurrent_init=WeightInit(0.0, 0.5))
        model = model.to(device)
        step_s = median_seconds(lambda m=model: _step(m, x, y), device, repeats, WARMUP)
        entry = {"step_ms": 1e3 * step_s, "saved_bytes": _saved_bytes(model, x, y)}
        if device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(device)
            base = torch.cuda.memory_allocated(device)
            _step(model, x, y)
            entry["peak_bytes"] = torch.cuda.max_memory_allocated(device) - base
        with torch.no_grad():
            entry["hidden_spikes_per_neuron"] = model(x).counts[0].mean().item()
        result[engine] = entry
    result["speedup"] = result["bptt"]["step_ms"] / result["eventprop"]["step_ms"]
    result["saved_memory_ratio"] = result["bptt"]["saved_bytes"] / result["eventprop"]["saved_bytes"]
    if device.type == "cuda":
        result["peak_memory_ratio"] = result["bptt"]["peak_bytes"] / result["eventprop"]["peak_bytes"]
    return result


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, required=True, help="JSON file to write (atomically)")
    parser.add_argument("--T", type=int, default=1000, help="steps (1000 = a 1-s SHD trial at Δt = 1 ms)")
    parser.add_argument("--B", type=int, default=32)
    parser.add_argument("--n-in", type=int, default=700)
    parser.add_argument("--hidden", type=int, default=256)
    parser.add_argument("--dt", type=float, default=1.0)
    parser.add_argument("--rate", type=float, default=5.0, help="input rate per channel, Hz (SHD: about 5)")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args(argv)
    result = bench_step(args.T, args.B, args.n_in, args.hidden, args.dt, args.rate, args.device, args.repeats)
    write_json(args.out, result)


if __name__ == "__main__":
    main()
