"""PatchMatch on NVIDIA GPUs: the kernels of ``cuda/patchmatch.cu`` launched through CuPy.

Tensors stay on the GPU: torch CUDA tensors are handed to the kernels through DLPack (no copy),
and kernels run on torch's current stream. The level logic here is plain torch; a *runner*
launches the kernels, so the same code also drives a CPU build of the kernels in the tests.
"""

import functools
from pathlib import Path

import numpy as np
import torch

from .pyramid import clamp_centres

KERNEL_SOURCE = Path(__file__).with_name("cuda") / "patchmatch.cu"
BLOCK = (32, 8, 1)  # 32 threads along a row: coalesced reads of the target image
# Argument types of each kernel, in order (used to convert arguments for any runner).
SIGNATURES = {
    "patch_error": ("float*", "float*", "int*", "float*") + ("int",) * 7,
    "patchmatch_iterate": ("float*", "float*", "int*", "float*", "int*", "float*") + ("int",) * 5 + ("uint64",),
    "remap": ("float*", "int*", "float*") + ("int",) * 6,
}


class CupyRunner:
    """Launches the kernels with CuPy on the device of the tensors it is given."""

    def __call__(self, name, batch_shape, *args):
        import cupy

        grid = launch_grid(batch_shape)
        device = next(arg.device for arg in args if isinstance(arg, torch.Tensor))
        converted = [_cupy_argument(kind, arg) for kind, arg in zip(SIGNATURES[name], args)]
        with cupy.cuda.Device(device.index), cupy.cuda.ExternalStream(torch.cuda.current_stream(device).cuda_stream):
            _module(device.index).get_function(name)(grid, BLOCK, tuple(converted))


def launch_grid(batch_shape):
    """Blocks per axis to cover (B, H, W) pixels with BLOCK-sized thread blocks."""
    batch, height, width = batch_shape
    return (width + BLOCK[0] - 1) // BLOCK[0], (height + BLOCK[1] - 1) // BLOCK[1], batch


@functools.cache
def _module(device_index):
    import cupy

    with cupy.cuda.Device(device_index):
        return cupy.RawModule(code=KERNEL_SOURCE.read_text(), options=("-std=c++14",))


def _cupy_argument(kind, value):
    import cupy

    if kind.endswith("*"):
        return cupy.from_dlpack(value)
    return np.uint64(value) if kind == "uint64" else np.int32(value)


def iteration_seed(seed, level, iteration):
    """A 64-bit key per (seed, level, iteration); the kernels add pixel and sample counters."""
    return (((seed * 1_000_003 + level) * 1_000_003 + iteration) * 0x9E3779B97F4A7C15) % 2 ** 64


class CudaLevelSearch:
    """One pyramid level with the fused CUDA iteration kernel (exact SSD with early exit)."""

    def __init__(self, patch_size, seed, runner=None, search_radius=None):
        self.patch_size, self.seed, self.search_radius = patch_size, seed, search_radius
        self.run_kernel = runner or CupyRunner()

    def __call__(self, source, target, start, extra, iterations, level):
        batch, height, width, channels = target.shape
        radius = self.patch_size // 2
        source, target = source.contiguous(), target.contiguous()
        nnf = clamp_centres(start, height, width, radius).int().contiguous()
        error = self.errors(source, target, nnf)
        for candidate in extra:
            candidate = clamp_centres(candidate, height, width, radius).int().contiguous()
            candidate_error = self.errors(source, target, candidate)
            better = candidate_error < error
            nnf = torch.where(better.unsqueeze(-1), candidate, nnf)
            error = torch.minimum(error, candidate_error)
        nnf_next, error_next = torch.empty_like(nnf), torch.empty_like(error)
        for iteration in range(iterations):
            self.run_kernel("patchmatch_iterate", (batch, height, width), source, target, nnf, error,
                            nnf_next, error_next, height, width, channels, radius,
                            self.search_radius or max(height, width), iteration_seed(self.seed, level, iteration))
            nnf, nnf_next, error, error_next = nnf_next, nnf, error_next, error
        return nnf.long()

    def errors(self, source, target, nnf, normalize=False):
        """Patch SSD of every target pixel against its match (per patch area when ``normalize``)."""
        batch, height, width, channels = target.shape
        error = torch.empty(batch, height, width, device=target.device)
        self.run_kernel("patch_error", (batch, height, width), source, target, nnf.int().contiguous(), error,
                        height, width, source.shape[1], source.shape[2], channels, self.patch_size // 2, int(normalize))
        return error


def patch_distance(source, target, nnf, patch_size, runner=None):
    """Same as ``torch_voting.patch_distance``, on the GPU."""
    return CudaLevelSearch(patch_size, 0, runner=runner).errors(source.contiguous(), target.contiguous(), nnf,
                                                                normalize=True)


def remap(source, nnf, patch_size, runner=None):
    """Same as ``torch_voting.remap``, on the GPU."""
    batch, height, width = nnf.shape[:3]
    source = source.contiguous()
    out = torch.empty(batch, height, width, source.shape[-1], device=source.device)
    (runner or CupyRunner())("remap", (batch, height, width), source, nnf.int().contiguous(), out, height, width,
                             source.shape[1], source.shape[2], source.shape[-1], patch_size // 2)
    return out
