r"""The Open Neuromorphic benchmark: one Linear + LIF layer (n inputs, n neurons, T steps, batch B) in spikegrad and
in every installed peer library (:mod:`spikegrad.bench.peers`), side by side on the same inputs and weights.

For each n and library: the median wall time of the forward pass (under ``torch.no_grad``, inference) and of a
forward + backward pass of L = Σ z (its gradient reaches the weight), over ``repeats`` timed calls after
``WARMUP`` untimed ones with the device synchronised around each call, the calls of all libraries interleaved;
the peak memory of each (:func:`spikegrad.bench.timing.peak_bytes`); the output spike fraction, which must be
equal across libraries (the same neuron, :mod:`spikegrad.bench.peers`); and the seconds of the first call, which
for ``norse_compiled`` include ``torch.compile``. A library that is not installed or fails is recorded with its
reason, not skipped silently.

Inputs: Bernoulli spikes of probability ``P_IN`` per step; weights N(0, σ²) with σ = ``H_STD``/√(P_IN·n), so
that h = Wx has standard deviation about ``H_STD`` at every n and the layer fires a few per cent of its steps.

Run: ``python -m spikegrad.bench.lif_layer --out results/bench/lif_layer.json`` (CPU: n ∈ {512, 1024, 2048};
``--n 4096 8192 16384`` on a GPU, the benchmark's sizes).
"""

import argparse
import math
import statistics
import time
from pathlib import Path

import torch
from tqdm import tqdm

from spikegrad.bench import peers
from spikegrad.bench.timing import machine, median_seconds, peak_bytes
from spikegrad.device import add_device_argument, available_device
from spikegrad.results import write_json

ALPHA, THRESHOLD = math.exp(-1 / 10), 1.0  # leak of τ_m = 10 steps; ϑ
P_IN, H_STD = 0.05, 0.3
WARMUP = 1


def layer_inputs(T: int, B: int, n: int, device: torch.device, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """(x [T, B, n], W [n, n]) of the module docstring, fixed by ``seed``."""
    gen = torch.Generator().manual_seed(seed)
    x = (torch.rand(T, B, n, generator=gen) < P_IN).float()
    w = H_STD / math.sqrt(P_IN * n) * torch.randn(n, n, generator=gen)
    return x.to(device), w.to(device)


def _passes(layer: peers.PeerLayer, x: torch.Tensor) -> dict:
    """The two timed passes of ``layer``: inference forward, and forward + backward of L = Σ z."""

    def forward():
        with torch.no_grad():
            return layer.run(x)

    def forward_backward():
        layer.weight.grad = None
        layer.run(x).sum().backward()

    return {"forward": forward, "forward_backward": forward_backward}


def _measure_size(layers: dict[str, peers.PeerLayer], x: torch.Tensor, device: torch.device, repeats: int) -> dict:
    """Entries of the module docstring for every layer: first a warm-up of each (a library that fails there, on
    this machine, gets its error recorded and is left out), then the timed calls, interleaved across libraries so
    that drifting machine load hits all of them alike."""
    entries, passes = {}, {}
    for lib, layer in layers.items():
        try:
            fns = _passes(layer, x)
            start = time.perf_counter()
            z = fns["forward"]()
            entries[lib] = {"version": layer.version, "first_call_s": time.perf_counter() - start,
                            "spike_fraction": z.float().mean().item()}  # fmt: skip
            for fn in fns.values():
                median_seconds(fn, device, 1, WARMUP)  # warm-up (and compilation) outside the timed rounds
            passes[lib] = fns
        except Exception as err:  # noqa: BLE001 (a peer library failing here is a result, not a crash)
            entries[lib] = {"error": f"{type(err).__name__}: {err}".splitlines()[0]}
    times = {(lib, name): [] for lib in passes for name in ("forward", "forward_backward")}
    for _ in range(repeats):
        for (lib, name), samples in times.items():
            samples.append(median_seconds(passes[lib][name], device, 1, 0))
    for (lib, name), samples in times.items():
        entries[lib][f"{name}_ms"] = 1e3 * statistics.median(samples)
        entries[lib][f"{name}_peak_bytes"] = peak_bytes(passes[lib][name], device)
    return entries


def bench_lif_layer(
    T: int, B: int, sizes: list[int], libraries: list[str], device: str, repeats: int, progress: bool = True
) -> dict:
    """Times, peak memory and spike fractions per size and library (module docstring) in ``by_size``;
    ``fastest`` names the library with the least forward and forward + backward time at each size."""
    if repeats < 1 or T < 1 or B < 1 or not sizes or min(sizes) < 1:
        raise ValueError(f"need T, B, repeats >= 1 and positive sizes, got T={T}, B={B}, {repeats=}, {sizes=}")
    unknown = sorted(set(libraries) - set(peers.LIBRARIES))
    if unknown:
        raise ValueError(f"unknown libraries {unknown}; choose from {sorted(peers.LIBRARIES)}")
    device = available_device(device)
    result = {
        "workload": "Linear + LIF (Open Neuromorphic benchmark)", "T": T, "B": B, "sizes": sizes,
        "alpha": ALPHA, "threshold": THRESHOLD, "reset": "zero", "input_probability": P_IN, "h_std": H_STD,
        "repeats": repeats, "warmup": WARMUP,
        **machine(device), "by_size": {},
    }  # fmt: skip
    for n in tqdm(sizes, desc="lif_layer", disable=not progress):
        x, w = layer_inputs(T, B, n, device)
        entries, layers = {}, {}
        for lib in libraries:
            try:
                layers[lib] = peers.build(lib, w, ALPHA, THRESHOLD)
            except peers.PeerUnavailable as err:
                entries[lib] = {"unavailable": str(err)}
        entries.update(_measure_size(layers, x, device, repeats))
        result["by_size"][str(n)] = {lib: entries[lib] for lib in libraries}
    result["fastest"] = {}
    for n, entries in result["by_size"].items():
        measured = {lib: e for lib, e in entries.items() if "forward_ms" in e}
        result["fastest"][n] = {
            key: min(measured, key=lambda lib, k=key: measured[lib][k]) if measured else None
            for key in ("forward_ms", "forward_backward_ms")
        }
    return result


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, required=True, help="JSON file to write (atomically)")
    parser.add_argument("--T", type=int, default=500)
    parser.add_argument("--B", type=int, default=16)
    parser.add_argument("--n", type=int, nargs="+", default=[512, 1024, 2048], help="layer sizes")
    parser.add_argument("--libraries", nargs="+", default=list(peers.LIBRARIES), choices=list(peers.LIBRARIES))
    add_device_argument(parser)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args(argv)
    try:
        result = bench_lif_layer(args.T, args.B, args.n, args.libraries, args.device, args.repeats)
    except ValueError as err:
        parser.error(str(err))
    write_json(args.out, result)


if __name__ == "__main__":
    main()
