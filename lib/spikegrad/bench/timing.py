"""Wall-clock timing shared by the benchmarks: the median of repeated calls after untimed warm-up calls, with
the device synchronised around each timed call so that asynchronous CUDA work is counted."""

import datetime
import importlib.metadata
import itertools
import statistics
import time
from collections.abc import Callable

import torch

from spikegrad.results import versions


def median_seconds(fn: Callable[[], object], device: torch.device, repeats: int, warmup: int) -> float:
    """Median wall time (s) of ``repeats`` calls of ``fn`` after ``warmup`` untimed ones."""
    if repeats < 1 or warmup < 0:
        raise ValueError(f"need repeats >= 1 and warmup >= 0, got {repeats}, {warmup}")
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        start = time.perf_counter()
        fn()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def peak_bytes(fn: Callable[[], object], device: torch.device) -> int:
    """Peak memory (bytes) allocated by one call of ``fn`` above what was allocated before it: the CUDA
    allocator's peak on a GPU; on the CPU the running sum of the profiler's raw allocation and free records."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
        base = torch.cuda.memory_allocated(device)
        fn()
        torch.cuda.synchronize(device)
        return torch.cuda.max_memory_allocated(device) - base
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU], profile_memory=True) as prof:
        fn()
    # The profiler's raw allocation (+) and free (−) records, each at its own time. (The per-op totals of
    # prof.events() credit a free to the enclosing op's end, e.g. a custom autograd Function's, which
    # over-counts a Python loop's temporaries.)
    events = sorted(
        (e.start_ns(), e.nbytes())
        for e in prof.profiler.kineto_results.events()
        if e.name() == "[memory]" and e.device_type() == torch.autograd.DeviceType.CPU
    )
    return max(itertools.accumulate(nbytes for _, nbytes in events), default=0)


def stored_bytes(t: torch.Tensor) -> int:
    """Bytes a tensor holds: its elements, or for a sparse tensor its values and indices."""
    if t.layout == torch.sparse_coo:
        return stored_bytes(t._values()) + stored_bytes(t._indices())
    if t.layout == torch.sparse_csr:
        return sum(stored_bytes(x) for x in (t.values(), t.crow_indices(), t.col_indices()))
    return t.numel() * t.element_size()


def saved_bytes(fn) -> tuple[int, object]:
    """(bytes autograd saves while running ``fn``, not counting the trainable leaves it is given (weights, the layer
    input): the activations kept for backward; ``fn``'s result)."""
    sizes = []

    def pack(t):
        sizes.append(0 if t.is_leaf and t.requires_grad else stored_bytes(t))
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        out = fn()
    return sum(sizes), out


def machine(device: torch.device) -> dict:
    """Where and when a benchmark ran: the device and its name, the CPU threads, the UTC time, and the versions of
    the libraries (:func:`spikegrad.results.versions`, plus triton and numba where installed)."""
    extra = {}
    for name in ("triton", "numba"):
        try:
            extra[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            extra[name] = None
    return {
        "device": str(device),
        "device_name": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
        "threads": torch.get_num_threads(),
        "measured_at": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "versions": {**versions(), **extra},
    }
