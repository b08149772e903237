"""PatchMatch primitives for the deflicker: nearest-neighbour fields and patch voting.

Two backends share one API: CuPy CUDA kernels on NVIDIA GPUs and a portable torch path
(CPU, CUDA, MPS) that is also the reference. Never imports bpy. The API is loaded on first
use, so importing the package needs no torch (``engine info`` reports a missing torch).
"""

import importlib

_API = {
    "available_backends": "backends",
    "estimate_nnf": "patchmatch",
    "patch_distance": "patchmatch",
    "remap": "patchmatch",
}
__all__ = sorted(_API)


def __getattr__(name):
    if name not in _API:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f".{_API[name]}", __name__), name)
