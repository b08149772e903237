"""Choosing the torch device and dtype for a run."""

import torch

from ..contract import DEVICES


def resolve_device(name="auto"):
    """``(torch.device, dtype)`` for ``name``: 'auto' takes CUDA, then MPS, then the CPU; half
    precision on CUDA, single elsewhere. Raises ValueError for a device this torch cannot use."""
    kind = name.split(":")[0]
    if kind not in DEVICES:
        raise ValueError(f"device {name!r} is not one of {', '.join(DEVICES)} (CUDA may name an index: cuda:1)")
    if kind == "auto":
        kind = "cuda" if torch.cuda.is_available() else "mps" if _has_mps() else "cpu"
        name = kind
    if kind == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {name!r}: this torch sees no CUDA GPU")
    if kind == "mps" and not _has_mps():
        raise ValueError(f"device {name!r}: this torch has no MPS (Apple GPU) support")
    return torch.device(name), torch.float16 if kind == "cuda" else torch.float32


def _has_mps():
    return getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available()
