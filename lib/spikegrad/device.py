"""Devices checked before any work: ``cuda`` on a machine without a usable GPU is refused in one line that says
why and what to use instead, not with an error from deep inside torch."""

import argparse

import torch


def available_device(name: str | torch.device) -> torch.device:
    """``torch.device(name)``; :class:`ValueError` if it is not a device name or this machine cannot run it."""
    try:
        device = torch.device(name)
    except (RuntimeError, TypeError):
        raise ValueError(f"device {name!r} is not a torch device; use 'cpu', 'cuda' or 'cuda:N'") from None
    if device.type == "cuda":
        if torch.version.cuda is None:
            why = f"this torch ({torch.__version__}) is a CPU build"
        elif not torch.cuda.is_available():
            why = "no CUDA GPU is visible"
        elif device.index is not None and device.index >= torch.cuda.device_count():
            why = f"this machine has {torch.cuda.device_count()} CUDA GPU(s)"
        else:
            return device
        raise ValueError(f"device {str(device)!r} is not available: {why}; use device 'cpu'")
    if device.type != "cpu":
        raise ValueError(f"device {str(device)!r} is not supported; use 'cpu' or 'cuda'")
    return device


def add_device_argument(parser: argparse.ArgumentParser) -> None:
    """``--device`` (default: ``cuda`` where a GPU is visible, else ``cpu``), checked by :func:`available_device`."""

    def device(name: str) -> torch.device:
        try:
            return available_device(name)
        except ValueError as err:
            raise argparse.ArgumentTypeError(str(err)) from None

    parser.add_argument("--device", type=device, default="cuda" if torch.cuda.is_available() else "cpu")
