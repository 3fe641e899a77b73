"""Without CUDA, run Triton kernels in the interpreter on CPU tensors. Triton reads TRITON_INTERPRET when a
kernel is decorated, so this runs before any test module imports spikegrad.kernels."""

import os

import torch

if not torch.cuda.is_available():
    os.environ.setdefault("TRITON_INTERPRET", "1")
