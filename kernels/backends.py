"""Which kernel backends this machine can run, and on which devices."""

import functools
import importlib.util


@functools.cache
def available_backends():
    """Backends usable here, each with its devices.

    ``{"torch": ["cpu", "cuda", ...], "cuda": ["cuda:0", ...]}``: ``"torch"`` is always there
    when torch is installed; ``"cuda"`` (the CuPy kernels) only with CuPy and an NVIDIA GPU.
    Probing never raises: a missing library or driver just leaves its backend out.
    """
    backends = {}
    if importlib.util.find_spec("torch") is not None:
        backends["torch"] = _torch_devices()
    cupy_devices = _cupy_devices()
    if cupy_devices:
        backends["cuda"] = cupy_devices
    return backends


def _torch_devices():
    import torch

    devices = ["cpu"]
    if torch.cuda.is_available():
        devices += [f"cuda:{i}" for i in range(torch.cuda.device_count())]
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        devices.append("mps")
    return devices


def _cupy_devices():
    if importlib.util.find_spec("cupy") is None:
        return []
    try:
        import cupy

        count = cupy.cuda.runtime.getDeviceCount()
    except Exception:  # no driver, no GPU, broken install: the backend is simply absent
        return []
    return [f"cuda:{i}" for i in range(count)]
