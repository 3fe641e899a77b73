"""Benchmark of one training step (forward, loss, backward) of an SHD-sized recurrent network: dense BPTT,
EventProp and sparse surrogate-gradient BPTT side by side in one process on the same inputs and weights.

Network: Poisson input spikes [T, B, n_in], one recurrent LIF hidden layer, a leaky-integrator readout of 20
classes, the loss ``sum_weigh_exp`` cross-entropy. BPTT and EventProp use the zero reset (EventProp's model);
the sparse engine needs reset by subtraction (:mod:`spikegrad.engines.sparse`) and runs with it.

Per engine at the main T: the median step time (ms) over ``repeats`` timed steps after warm-up, the bytes autograd
saves for the backward pass (the activations each engine keeps), the peak memory a step allocates above the
inputs and weights (:func:`spikegrad.bench.timing.peak_bytes`) and the hidden spikes per neuron. Ratios
BPTT / engine are the speed and memory claims (GeNN's EventProp vs Spyx: 3.7× faster and 4.7× less memory at
256 hidden and Δt = 1 ms; the target here is ≥ 4× and ≥ 5× on a GPU).

Memory over T (``by_T``): saved and peak bytes of BPTT and EventProp for each T in ``--memory-T`` at a fixed number
of spikes: every trial starts with the same input spikes, drawn over the shortest T at the rate scaled by
T_main/T_shortest (as many input spikes as at the main T), and is silent after them, so the hidden spikes stay
about the same (recorded per row) while T grows: BPTT's memory grows with T, EventProp's with the spikes.

Run: ``python -m spikegrad.bench.training_step --out results/bench/training_step.json``
"""

import argparse
from pathlib import Path

import torch
from tqdm.auto import tqdm

from spikegrad.bench.timing import machine, median_seconds, peak_bytes, saved_bytes
from spikegrad.bench.workload import poisson_inputs
from spikegrad.device import add_device_argument, available_device
from spikegrad.losses import cross_entropy
from spikegrad.model import LIFParams, WeightInit, dense_stack
from spikegrad.network import SNN
from spikegrad.results import write_json

WARMUP = 2  # untimed steps before timing (Triton/Numba compilation, allocator, caches)
RESETS = {"bptt": "zero", "eventprop": "zero", "sparse": "subtract"}  # grid engine: its reset rule
ACTIVE_BAND = 0.2  # B_th of the sparse engine (Perez-Nieves & Goodman's SHD setting)


def _loss(model: SNN, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return cross_entropy("sum_weigh_exp", model(x).voltage, y)[0]


def _step(model: SNN, x: torch.Tensor, y: torch.Tensor) -> None:
    model.zero_grad(set_to_none=True)
    _loss(model, x, y).backward()


def _saved_bytes(model: SNN, x: torch.Tensor, y: torch.Tensor) -> int:
    saved, loss = saved_bytes(lambda: _loss(model, x, y))
    loss.backward()
    return saved


def _model(engine: str, n_in: int, hidden: int, dt: float, device: torch.device) -> SNN:
    spec = dense_stack(n_in, (hidden,), 20, recurrent=True, neuron=LIFParams(dt=dt, reset=RESETS[engine]),
                       hidden_init=WeightInit(1.5, 1.0), recurrent_init=WeightInit(0.0, 0.5))  # fmt: skip
    band = ACTIVE_BAND if engine == "sparse" else float("inf")
    return SNN(spec, engine, active_band=band).to(device)


def _memory(model: SNN, x: torch.Tensor, y: torch.Tensor, device: torch.device) -> dict:
    with torch.no_grad():
        spikes = model(x).counts[0].mean().item()
    return {
        "saved_bytes": _saved_bytes(model, x, y),
        "peak_bytes": peak_bytes(lambda: _step(model, x, y), device),
        "hidden_spikes_per_neuron": spikes,
    }


def bench_step(
    T: int, B: int, n_in: int, hidden: int, dt: float, rate_hz: float, device: str, repeats: int,
    memory_T: tuple[int, ...] = (), progress: bool = True,
) -> dict:  # fmt: skip
    """Step time and memory of each engine at T, and memory over ``memory_T`` (module docstring)."""
    if repeats < 1 or T < 1 or B < 1 or min(memory_T, default=1) < 1:
        raise ValueError(f"need repeats, T, B and every memory T >= 1, got {repeats}, {T}, {B}, {memory_T}")
    device = available_device(device)
    x, y = poisson_inputs(T, B, n_in, rate_hz, dt, device)
    result = {
        "T": T, "B": B, "n_in": n_in, "hidden": hidden, "dt": dt, "input_rate_hz": rate_hz, "resets": RESETS,
        "active_band": ACTIVE_BAND, "repeats": repeats, "warmup": WARMUP, **machine(device), "by_T": [],
    }  # fmt: skip
    for engine in tqdm(RESETS, desc="training step", disable=not progress):
        model = _model(engine, n_in, hidden, dt, device)
        step_s = median_seconds(lambda m=model: _step(m, x, y), device, repeats, WARMUP)
        result[engine] = {"step_ms": 1e3 * step_s, **_memory(model, x, y, device)}
    for engine in RESETS:
        if engine != "bptt":
            result[f"{engine}_speedup"] = result["bptt"]["step_ms"] / result[engine]["step_ms"]
            for kind in ("saved_bytes", "peak_bytes"):
                result[f"{engine}_{kind}_ratio"] = result["bptt"][kind] / result[engine][kind]
    if memory_T:
        window = min(memory_T)
        x_w, y_t = poisson_inputs(window, B, n_in, rate_hz * T / window, dt, device)
    for t in tqdm(memory_T, desc="memory over T", disable=not progress):
        x_t = torch.cat([x_w, x_w.new_zeros(t - window, B, n_in)])
        entry = {"T": t, "input_window": window, "input_spikes": int(x_t.sum().item())}
        for engine in ("bptt", "eventprop"):
            entry[engine] = _memory(_model(engine, n_in, hidden, dt, device), x_t, y_t, device)
        result["by_T"].append(entry)
    if memory_T:
        peaks = [entry["eventprop"]["peak_bytes"] for entry in result["by_T"]]
        result["eventprop_peak_over_T"] = max(peaks) / min(peaks)  # 1 = flat in T
    return result


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, required=True, help="JSON file to write (atomically)")
    parser.add_argument("--T", type=int, default=1000, help="steps (1000 = a 1-s SHD trial at Δt = 1 ms)")
    parser.add_argument("--B", type=int, default=32)
    parser.add_argument("--n-in", type=int, default=700)
    parser.add_argument("--hidden", type=int, default=256)
    parser.add_argument("--dt", type=float, default=1.0)
    parser.add_argument("--rate", type=float, default=5.0, help="input rate per channel at --T, Hz (SHD: about 5)")
    parser.add_argument("--memory-T", type=int, nargs="*", default=[250, 500, 1000, 2000],
                        help="trial lengths of the memory-over-T curve (none: skip it)")  # fmt: skip
    add_device_argument(parser)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args(argv)
    try:
        result = bench_step(args.T, args.B, args.n_in, args.hidden, args.dt, args.rate, args.device, args.repeats,
                            tuple(args.memory_T))  # fmt: skip
    except ValueError as err:
        parser.error(str(err))
    write_json(args.out, result)


if __name__ == "__main__":
    main()
