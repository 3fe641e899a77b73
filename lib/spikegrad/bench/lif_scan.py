r"""Benchmark of the LIF scan (:mod:`spikegrad.kernels.lif_scan`): the Triton kernel (CUDA) or the Numba kernel
(CPU) against the PyTorch reference, forward and backward, for a spiking layer with every gradient present.

Effective bandwidth counts the bytes the kernel must move, s bytes per element (4 for float32, 8 for float64):

.. math::

    \text{GB/s} = \frac{k \, s \, T B N}{10^6 \, t_\text{ms}}, \qquad
    k = 3 \text{ forward (read } h \text{, write } z, U), \qquad
    k = 5 \text{ backward (read } \partial L/\partial z, \partial L/\partial U, U, \sigma' \text{, write }
    \partial L/\partial h).

The same formula is applied to the reference, which moves more (its per-step temporaries), so its figure is
the bandwidth a kernel would need to match its time. Each implementation also gets its roofline floors and the
measured fraction of them (:mod:`spikegrad.bench.roofline`), with ``FLOPS_PER_STEP`` flops per element-step.
Times are medians over ``repeats`` timed calls, after warm-up calls, with the device synchronised around each
call.

Run: ``python -m spikegrad.bench.lif_scan --out results/bench/lif_scan.json``
"""

import argparse
from pathlib import Path

import torch

from spikegrad.bench import roofline
from spikegrad.bench.timing import machine, median_seconds
from spikegrad.device import add_device_argument, available_device
from spikegrad.kernels import lif_scan as ls
from spikegrad.model import LIFParams, decay_factors
from spikegrad.results import write_json
from spikegrad.surrogate import SurrogateParams, pseudo_derivative

BYTES_PER_STEP = {"forward": 3, "backward": 5}  # k in the module docstring, in units of s
FLOPS_PER_STEP = {"forward": 8, "backward": 10}  # adds, multiplies and the threshold compare per element-step
WARMUP = 3  # untimed calls before timing (Triton compilation, allocator, caches)


def _median_ms(fn, device: torch.device, repeats: int) -> float:
    return 1e3 * median_seconds(fn, device, repeats, WARMUP)


def bench_lif_scan(T: int, B: int, N: int, device: str, dtype: torch.dtype, repeats: int) -> dict:
    """Median forward/backward times (ms), effective GB/s and roofline fractions (module docstring) of the
    reference and of the kernel (Triton on CUDA, Numba on the CPU, where installed), for a [T, B, N] spiking
    layer with LIFParams() neurons."""
    if repeats < 1:
        raise ValueError(f"repeats must be at least 1, got {repeats}")
    device = available_device(device)
    p, sgp = LIFParams(), SurrogateParams()
    alpha, beta, c = decay_factors(p)
    gen = torch.Generator().manual_seed(0)
    h, grad_z, grad_u = (torch.randn(T, B, N, generator=gen, dtype=dtype).to(device) for _ in range(3))
    _, u = ls.lif_scan_fwd_ref(h, alpha, beta, c, p.threshold, p.reset)
    sg = pseudo_derivative(u - p.threshold, sgp)

    impls = {"reference": (ls.lif_scan_fwd_ref, ls.lif_scan_bwd_ref)}
    if device.type == "cuda" and ls.triton is not None:
        impls["kernel"] = (ls.lif_scan_fwd, ls.lif_scan_bwd)
    if device.type == "cpu" and ls.lif_scan_cpu is not None:
        impls["kernel"] = (ls.lif_scan_fwd_cpu, ls.lif_scan_bwd_cpu)
    peak = roofline.peaks(device, dtype)
    elem_bytes = torch.finfo(dtype).bits // 8
    result = {
        "T": T, "B": B, "N": N, "dtype": str(dtype).removeprefix("torch."),
        "repeats": repeats, "warmup": WARMUP,
        "bytes_per_step": {k: v * elem_bytes for k, v in BYTES_PER_STEP.items()}, "flops_per_step": FLOPS_PER_STEP,
        "peaks": peak,
        **machine(device),
    }  # fmt: skip
    for name, (fwd, bwd) in impls.items():
        ms = {
            "forward": _median_ms(lambda f=fwd: f(h, alpha, beta, c, p.threshold, p.reset), device, repeats),
            "backward": _median_ms(
                lambda b=bwd: b(grad_z, grad_u, u, sg, alpha, beta, c, p.threshold, p.reset), device, repeats
            ),
        }
        result[name] = {}
        for direction, t_ms in ms.items():
            gbytes = result["bytes_per_step"][direction] * T * B * N / 1e9
            result[name][f"{direction}_ms"] = t_ms
            result[name][f"{direction}_gbps"] = gbytes / (t_ms / 1e3)
            floor = roofline.fraction(gbytes * 1e9, FLOPS_PER_STEP[direction] * T * B * N, t_ms / 1e3, peak)
            result[name][f"{direction}_roofline"] = floor
    return result


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, required=True, help="JSON file to write (atomically)")
    parser.add_argument("--T", type=int, default=500)
    parser.add_argument("--B", type=int, default=16)
    parser.add_argument("--N", type=int, default=1000)
    add_device_argument(parser)
    parser.add_argument("--dtype", choices=["float32", "float64"], default="float32")
    parser.add_argument("--repeats", type=int, default=20)
    args = parser.parse_args(argv)
    result = bench_lif_scan(args.T, args.B, args.N, args.device, getattr(torch, args.dtype), args.repeats)
    write_json(args.out, result)


if __name__ == "__main__":
    main()
