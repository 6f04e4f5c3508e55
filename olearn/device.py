"""Device and dtype choice."""

from __future__ import annotations

import torch

from olearn.errors import SpecError
from olearn.validation import check_choice

DTYPES = {"float32": torch.float32, "float64": torch.float64}


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """Turn ``"auto" | "cpu" | "cuda" | "cuda:N"`` into a ``torch.device``.

    ``"auto"`` is the first CUDA device when one is present, else the CPU.

    >>> resolve_device("cpu")
    device(type='cpu')
    """
    if isinstance(device, torch.device):
        return device
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except RuntimeError:
        msg = f"device must be 'auto', 'cpu', 'cuda' or 'cuda:N', got {device!r}"
        raise SpecError(msg) from None
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            msg = (f"device {device!r} asked for, but no CUDA device is available; "
                   "use 'cpu' or 'auto'")
            raise SpecError(msg)
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            msg = (f"device {device!r} does not exist: "
                   f"{torch.cuda.device_count()} CUDA device(s) present")
            raise SpecError(msg)
    elif dev.type != "cpu" or dev.index is not None:
        msg = f"device must be 'auto', 'cpu', 'cuda' or 'cuda:N', got {device!r}"
        raise SpecError(msg)
    return dev


def resolve_dtype(dtype: str | torch.dtype) -> torch.dtype:
    """``"float32"`` or ``"float64"`` to the torch dtype."""
    if isinstance(dtype, torch.dtype):
        return dtype
    check_choice("dtype", dtype, sorted(DTYPES))
    return DTYPES[dtype]
