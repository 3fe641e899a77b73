"""Wall-clock timing shared by the benchmarks: the median of repeated calls after untimed warm-up calls, with
the device synchronised around each timed call so that asynchronous CUDA work is counted."""

import itertools
import statistics
import time
from collections.abc import Callable

import torch


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
    allocator's peak on a GPU; on the CPU the running sum of the profiler's allocation and free events."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
        base = torch.cuda.memory_allocated(device)
        fn()
        torch.cuda.synchronize(device)
        return torch.cuda.max_memory_allocated(device) - base
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU], profile_memory=True) as prof:
        fn()
    # An op's own allocations are taken at its start and its own frees at its end (a free is reported by the
    # enclosing op, e.g. autograd's evaluate_function, after its children allocate): an upper bound of the peak.
    events = sorted(
        (e.time_range.start if e.self_cpu_memory_usage > 0 else e.time_range.end, e.self_cpu_memory_usage)
        for e in prof.events()
        if e.self_cpu_memory_usage
    )
    return max(itertools.accumulate(m for _, m in events), default=0)
