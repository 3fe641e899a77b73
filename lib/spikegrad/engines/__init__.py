"""Gradient engines. Each engine computes the same network forward pass and differs only in how gradients
flow back; every engine exposes ``hidden_layer(x, weight, recurrent, lif, options) -> z [T, B, N]`` and
``readout(x, weight, lif) -> U [T, B, C]`` built from ``torch.autograd.Function`` s."""

from types import ModuleType

from spikegrad.engines import bptt

ENGINES: dict[str, ModuleType] = {"bptt": bptt}


def get_engine(name: str) -> ModuleType:
    """The engine module registered under ``name``."""
    if name not in ENGINES:
        raise ValueError(f"unknown engine {name!r}; choose one of {sorted(ENGINES)}")
    return ENGINES[name]
