"""Inputs shared by the benchmarks."""

import torch


def poisson_inputs(T: int, B: int, n_in: int, rate_hz: float, dt: float, device: torch.device, n_classes: int = 20):
    """(x [T, B, n_in], labels [B]): Bernoulli spikes with probability rate_hz·dt/1000 per bin (dt in ms) and
    uniform labels, fixed by seed 0."""
    gen = torch.Generator().manual_seed(0)
    x = (torch.rand(T, B, n_in, generator=gen) < rate_hz * dt / 1000).float().to(device)
    return x, torch.randint(0, n_classes, (B,), generator=gen).to(device)
