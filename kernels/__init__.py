"""PatchMatch primitives for the deflicker: nearest-neighbour fields and patch voting.

Two backends share one API: CuPy CUDA kernels on NVIDIA GPUs and a portable torch path
(CPU, CUDA, MPS) that is also the reference. Never imports bpy.
"""

from .backends import available_backends
from .patchmatch import estimate_nnf, patch_distance, remap

__all__ = ["available_backends", "estimate_nnf", "patch_distance", "remap"]
