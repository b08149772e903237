"""Build the CUDA kernels for the CPU (g++) and launch them like CuPy would, for the tests."""

import ctypes
import shutil
import subprocess
from pathlib import Path

import torch

from diffsynth_render.kernels.cuda_patchmatch import BLOCK, KERNEL_SOURCE, SIGNATURES, launch_grid

HOST_LAUNCHER = Path(__file__).with_name("cuda_on_cpu") / "host_launch.cpp"
_CTYPES = {"float*": ctypes.c_void_p, "int*": ctypes.c_void_p, "int": ctypes.c_int, "uint64": ctypes.c_uint64}


def build(folder):
    """Compile the kernels and their CPU launcher into a shared library in ``folder``."""
    compiler = shutil.which("g++") or shutil.which("c++")
    if compiler is None:
        return None
    library = Path(folder) / "patchmatch_host.so"
    subprocess.run([compiler, "-O2", "-std=c++14", "-shared", "-fPIC", f"-I{KERNEL_SOURCE.parent}",
                    str(HOST_LAUNCHER), "-o", str(library)], check=True, capture_output=True, text=True)
    return ctypes.CDLL(str(library))


class CpuRunner:
    """A kernel runner (see cuda_patchmatch.CupyRunner) that executes the CPU build."""

    def __init__(self, library):
        self.library = library
        self.launches = 0

    def __call__(self, name, batch_shape, *args):
        function = getattr(self.library, f"launch_{name}")
        function.argtypes = [ctypes.c_void_p, ctypes.c_void_p] + [_CTYPES[kind] for kind in SIGNATURES[name]]
        grid = (ctypes.c_uint * 3)(*launch_grid(batch_shape))
        block = (ctypes.c_uint * 3)(*BLOCK)
        converted = []
        for kind, arg in zip(SIGNATURES[name], args):
            if kind.endswith("*"):
                assert arg.device.type == "cpu" and arg.is_contiguous()
                assert arg.dtype == (torch.float32 if kind == "float*" else torch.int32), (name, kind, arg.dtype)
                converted.append(arg.data_ptr())
            else:
                converted.append(arg)
        function(grid, block, *converted)
        self.launches += 1
