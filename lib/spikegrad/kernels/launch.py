"""Checks shared by every Triton launcher."""

import torch

try:
    from triton.runtime.interpreter import InterpretedFunction
except ImportError:  # e.g. macOS: only the references run
    InterpretedFunction = None


def check_launch(x: torch.Tensor, kernel, reference: str) -> None:
    """The kernels run on CUDA tensors, or on CPU tensors under the Triton interpreter (TRITON_INTERPRET=1)."""
    if InterpretedFunction is None:
        raise RuntimeError(f"triton is not installed; use {reference} (reference)")
    if not (x.is_cuda or isinstance(kernel, InterpretedFunction)):
        raise ValueError(
            f"the Triton launcher needs CUDA tensors, got device {x.device} "
            "(set TRITON_INTERPRET=1 before importing triton to run it on the CPU)"
        )
