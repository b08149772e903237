"""PatchMatch primitives for the deflicker: nearest-neighbour fields and patch voting.

Two backends share one API: CuPy CUDA kernels on NVIDIA GPUs and a portable torch path
(CPU, CUDA, MPS) that is also the reference. Never imports bpy. Importing it imports torch:
``engine info`` probes ``kernels.backends`` alone, which needs none.
"""

from .arrays import like_input, to_torch
from .backends import available_backends
from .patchmatch import estimate_nnf, patch_distance, remap, resolve_backend, vote

__all__ = ["available_backends", "estimate_nnf", "like_input", "patch_distance", "remap", "resolve_backend",
           "to_torch", "vote"]
