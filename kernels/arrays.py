"""Checking the arrays given to the kernels, and moving them between numpy, torch and CuPy.

Every public kernel works on torch tensors shaped ``(B, H, W, C)`` internally; these helpers
turn whatever came in into that form, naming the argument in every error, and give results
back in the caller's own kind of array.
"""

import numpy as np
import torch


def array_kind(array):
    """'numpy', 'torch' or 'cupy'."""
    if isinstance(array, torch.Tensor):
        return "torch"
    if isinstance(array, np.ndarray):
        return "numpy"
    if type(array).__module__.split(".")[0] == "cupy":
        return "cupy"
    raise ValueError(f"expected a numpy array, torch tensor or CuPy array, got {type(array).__name__}")


def to_torch(array, device=None):
    """A torch tensor sharing memory with ``array`` where possible (CuPy via DLPack), on ``device``."""
    kind = array_kind(array)
    tensor = {"torch": lambda a: a, "numpy": torch.from_numpy, "cupy": torch.from_dlpack}[kind](array)
    return tensor if device is None else tensor.to(device)


def like_input(tensor, template):
    """``tensor`` returned in the kind (and, for torch, the device) of ``template``."""
    kind = array_kind(template)
    if kind == "torch":
        return tensor.to(template.device)
    if kind == "numpy":
        return tensor.cpu().numpy()
    import cupy

    with cupy.cuda.Device(template.device.id):
        return cupy.from_dlpack(tensor.to(f"cuda:{template.device.id}").contiguous())


def image(array, name, patch_size, device=None):
    """Check an image argument and return it as a float32 ``(B, H, W, C)`` tensor.

    Raises ValueError naming ``name`` for a wrong type, dtype, shape, a non-finite value or
    an image smaller than one patch.
    """
    try:
        kind = array_kind(array)
    except ValueError as error:
        raise ValueError(f"{name}: {error}") from None
    if str(array.dtype) not in ("float32", "torch.float32"):
        raise ValueError(f"{name} must be float32, got {array.dtype}")
    if array.ndim not in (3, 4):
        raise ValueError(f"{name} must be (H, W, C) or (B, H, W, C), got shape {tuple(array.shape)}")
    tensor = to_torch(array, device)
    if tensor.ndim == 3:
        tensor = tensor.unsqueeze(0)
    height, width = tensor.shape[1:3]
    if min(height, width) < patch_size:
        raise ValueError(f"{name} is {height}x{width}, smaller than one {patch_size}x{patch_size} patch")
    if tensor.shape[0] == 0 or tensor.shape[3] == 0:
        raise ValueError(f"{name} has an empty batch or channel axis: shape {tuple(array.shape)}")
    if not bool(torch.isfinite(tensor).all()):
        raise ValueError(f"{name} contains NaN or infinite values ({kind} array)")
    return tensor


def nnf_field(array, name, shape, source_shape, device=None):
    """Check an NNF (int ``(H, W, 2)`` or ``(B, H, W, 2)``) against the target and source sizes."""
    tensor = _field(array, name, shape, device)
    if tensor.dtype.is_floating_point:
        raise ValueError(f"{name} must be an integer field of absolute (row, col), got {array.dtype}")
    tensor = tensor.long()
    height, width = source_shape
    rows, cols = tensor[..., 0], tensor[..., 1]
    if bool((rows < 0).any() | (rows >= height).any() | (cols < 0).any() | (cols >= width).any()):
        raise ValueError(f"{name} points outside the {height}x{width} source image")
    return tensor


def init_field(array, name, shape, device=None):
    """An ``init`` argument as a float ``(B, H, W, 2)`` displacement target→source.

    Integer input is an NNF (absolute positions), floating point input a flow (displacements).
    """
    tensor = _field(array, name, shape, device)
    if tensor.dtype.is_floating_point:
        if not bool(torch.isfinite(tensor).all()):
            raise ValueError(f"{name} contains NaN or infinite values")
        return tensor.float()
    return (tensor - pixel_grid(shape[1], shape[2], tensor.device)).float()


def _field(array, name, shape, device):
    try:
        tensor = to_torch(array, device)
    except ValueError as error:
        raise ValueError(f"{name}: {error}") from None
    if tensor.ndim == 3:
        tensor = tensor.unsqueeze(0)
    batch, height, width = shape[:3]
    if tensor.ndim != 4 or tensor.shape[1:] != (height, width, 2) or tensor.shape[0] not in (1, batch):
        raise ValueError(f"{name} must have shape ({height}, {width}, 2) or ({batch}, {height}, {width}, 2), "
                         f"got {tuple(array.shape)}")
    return tensor.expand(batch, height, width, 2)


def pixel_grid(height, width, device):
    """``(1, H, W, 2)`` int64 tensor of each pixel's own (row, col): the identity NNF."""
    rows = torch.arange(height, device=device).view(height, 1).expand(height, width)
    cols = torch.arange(width, device=device).view(1, width).expand(height, width)
    return torch.stack([rows, cols], dim=-1).unsqueeze(0)


def patch_size_argument(patch_size):
    """Check ``patch_size``: a positive odd integer."""
    if isinstance(patch_size, bool) or not isinstance(patch_size, (int, np.integer)):
        raise ValueError(f"patch_size must be an odd integer, got {patch_size!r}")
    if patch_size < 1 or patch_size % 2 == 0:
        raise ValueError(f"patch_size must be a positive odd integer, got {patch_size}")
    return int(patch_size)
