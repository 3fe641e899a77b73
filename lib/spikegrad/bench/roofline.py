r"""Roofline floors of a kernel and the measured fraction of them.

A kernel that moves ``bytes`` and does ``flops`` cannot take less than

.. math::

    t_\text{bytes} = \frac{\text{bytes}}{\text{bandwidth}}, \qquad
    t_\text{flops} = \frac{\text{flops}}{\text{peak}}, \qquad
    t_\text{floor} = \max(t_\text{bytes}, t_\text{flops}),

and ``fraction`` = t_floor / t_measured says how close it comes (1 = at the roofline).

Peaks: for the GPUs in :data:`GPU_PEAKS` the datasheet figures (HBM bandwidth; FP32 and FP64 non-tensor-core
rates, since the scans are elementwise); for any other device they are measured here (:func:`measured_peaks`:
the bandwidth of a large tensor copy, read + write, and the rate of a large matrix product), which makes the CPU
fraction relative to what this machine sustains, not to its datasheet.
"""

import torch

from spikegrad.bench.timing import median_seconds

# name fragment: (bytes/s, FP32 flop/s, FP64 flop/s), NVIDIA H100 SXM5 and H200 SXM datasheets
GPU_PEAKS = {"H200": (4.8e12, 67e12, 34e12), "H100": (3.35e12, 67e12, 34e12)}
COPY_BYTES = 256 * 2**20  # the copy is large enough to leave every cache
MATMUL_N = 2048


def measured_peaks(device: torch.device, dtype: torch.dtype) -> tuple[float, float]:
    """(bytes/s of a COPY_BYTES tensor copy counting read + write, flop/s of an N×N matrix product) on ``device``."""
    elements = COPY_BYTES // torch.finfo(dtype).bits * 8
    src = torch.ones(elements, dtype=dtype, device=device)
    dst = torch.empty_like(src)
    copy_s = median_seconds(lambda: dst.copy_(src), device, repeats=5, warmup=1)
    a = torch.randn(MATMUL_N, MATMUL_N, dtype=dtype, device=device)
    matmul_s = median_seconds(lambda: a @ a, device, repeats=3, warmup=1)
    return 2 * COPY_BYTES / copy_s, 2 * MATMUL_N**3 / matmul_s


def peaks(device: torch.device, dtype: torch.dtype) -> dict:
    """Bandwidth and flop rate to compare against: the datasheet's for a known GPU, else measured here."""
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"
    for fragment, (bandwidth, fp32, fp64) in GPU_PEAKS.items():
        if fragment in name:
            return {"bandwidth": bandwidth, "flops": fp64 if dtype == torch.float64 else fp32, "source": "datasheet"}
    bandwidth, flops = measured_peaks(device, dtype)
    return {"bandwidth": bandwidth, "flops": flops, "source": "measured (copy, matmul)"}


def fraction(bytes_moved: float, flops: float, seconds: float, peak: dict) -> dict:
    """The floors (ms) of the module docstring and the measured fraction of the floor."""
    if seconds <= 0:
        raise ValueError(f"measured time must be positive, got {seconds}")
    t_bytes, t_flops = bytes_moved / peak["bandwidth"], flops / peak["flops"]
    return {
        "bytes_floor_ms": 1e3 * t_bytes,
        "flops_floor_ms": 1e3 * t_flops,
        "fraction_of_floor": max(t_bytes, t_flops) / seconds,
    }
