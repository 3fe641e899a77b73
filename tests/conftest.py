"""Without CUDA, run Triton kernels in the interpreter on CPU tensors. Triton reads TRITON_INTERPRET when a
kernel is decorated, so this runs before any test module imports spikegrad.kernels. Also the fixture that kills a
training run mid-way, shared by the trainers' resume tests."""

import os

import pytest
import torch

if not torch.cuda.is_available():
    os.environ.setdefault("TRITON_INTERPRET", "1")


@pytest.fixture
def kill_evaluation(monkeypatch):
    """``kill_evaluation(module, call=2)`` makes ``module._evaluate`` (the training loop's evaluation) raise
    KeyboardInterrupt on its ``call``-th call (with the default, a training run killed after its first epoch's
    checkpoint); it returns a function that puts the real one back."""

    def kill(module, call: int = 2):
        real = module._evaluate
        calls = {"n": 0}

        def evaluate(*args, **kwargs):
            calls["n"] += 1
            if calls["n"] == call:
                raise KeyboardInterrupt("killed")
            return real(*args, **kwargs)

        monkeypatch.setattr(module, "_evaluate", evaluate)
        return lambda: monkeypatch.setattr(module, "evaluate", real)

    return kill
