"""The public PatchMatch API: backend choice, argument checks, the coarse-to-fine driver."""

import torch

from ..contract import BACKENDS
from . import torch_voting
from .arrays import image, init_field, like_input, nnf_field, patch_size_argument, pixel_grid
from .backends import available_backends
from .pyramid import clamp_centres, default_levels, downsample, downsample_flow, level_sizes, upsample_nnf
from .torch_patchmatch import (
    EXACT_ITERATIONS,
    POLISH_JUMP_STEPS,
    POLISH_RADIUS,
    DescriptorMetric,
    ExactMetric,
    LevelSearch,
)


def estimate_nnf(source_guide, target_guide, *, patch_size=5, iterations=5, levels=None, init=None, seed=0,
                 search_radius=None, backend="auto", device=None):
    """Nearest-neighbour field from ``target_guide`` patches to ``source_guide`` patches.

    Images are float32 ``(H, W, C)`` or ``(B, H, W, C)`` in [0, 1], source and target of one
    shape. Returns int32 ``(…, H, W, 2)``: for each target pixel the absolute (row, col) of the
    matched source patch centre, always at least patch_size // 2 inside the source. ``init``: an
    integer NNF, or a float flow (row, col displacement target→source), used as the start.
    ``search_radius``: the random search's largest radius in pixels (default: the image size); a
    small one with ``levels=1`` refines a good ``init`` locally.
    numpy in → numpy out; torch in → torch out on the input's device. Deterministic per seed
    and backend.
    """
    patch_size = patch_size_argument(patch_size)
    backend, device = resolve_backend(backend, device, target_guide)
    source = image(source_guide, "source_guide", patch_size, device)
    target = image(target_guide, "target_guide", patch_size, device)
    if source.shape[-1] != target.shape[-1]:
        raise ValueError(f"source_guide has {source.shape[-1]} channels but target_guide has {target.shape[-1]}")
    if source.shape != target.shape:
        raise ValueError(f"source_guide {tuple(source_guide.shape)} and target_guide {tuple(target_guide.shape)} "
                         "must have the same shape")
    iterations = _count_argument("iterations", iterations, minimum=0)
    if search_radius is not None:
        search_radius = _count_argument("search_radius", search_radius, minimum=1)
    levels = _levels_argument(levels, target.shape[1:3], patch_size)
    flow = None if init is None else init_field(init, "init", target.shape, device)
    if backend == "cuda":
        from .cuda_patchmatch import CudaLevelSearch

        search = CudaLevelSearch(patch_size, seed, search_radius=search_radius)
    else:
        search = TorchLevelSearch(patch_size, seed, device, search_radius)
    nnf = coarse_to_fine(source, target, patch_size, iterations, levels, flow, search)
    return like_input(_unbatch(nnf.int(), target_guide), target_guide)


def remap(source_image, nnf, patch_size=5):
    """``source_image`` rebuilt in the target's geometry by patch voting through ``nnf``."""
    patch_size = patch_size_argument(patch_size)
    source = image(source_image, "source_image", patch_size)
    field = nnf_field(nnf, "nnf", (source.shape[0], *_field_size(nnf)), source.shape[1:3], source.device)
    return like_input(_unbatch(_voting(source).remap(source, field, patch_size), nnf), source_image)


def vote(source, nnf, patch_size):
    """``remap`` for tensors already checked, on one device: ``source`` (B, H, W, C) float,
    ``nnf`` (B, H, W, 2) int64 inside the source; the backend's kernel, without the checks (for
    loops that remap the same frames again and again)."""
    return _voting(source).remap(source, nnf, patch_size)


def patch_distance(source_guide, target_guide, nnf, patch_size=5):
    """Per target pixel: SSD of its patch against the matched source patch / patch area."""
    patch_size = patch_size_argument(patch_size)
    source = image(source_guide, "source_guide", patch_size)
    target = image(target_guide, "target_guide", patch_size, source.device)
    if source.shape[-1] != target.shape[-1]:
        raise ValueError(f"source_guide has {source.shape[-1]} channels but target_guide has {target.shape[-1]}")
    field = nnf_field(nnf, "nnf", target.shape, source.shape[1:3], source.device)
    distance = _voting(source).patch_distance(source, target, field, patch_size)
    return like_input(_unbatch(distance, target_guide), target_guide)


def resolve_backend(backend, device, template):
    """(backend, torch.device) for a call: 'auto' takes the CUDA kernels where they can run."""
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {tuple(BACKENDS)}, got {backend!r}")
    device = None if device is None else _device_argument(device)
    has_cuda_kernels = "cuda" in available_backends()
    if backend == "auto":
        backend = "cuda" if has_cuda_kernels and (device is None or device.type == "cuda") else "torch"
    if backend == "cuda":
        if not has_cuda_kernels:
            raise ValueError(f"backend='cuda' needs CuPy and an NVIDIA GPU; this machine has {available_backends()}")
        if device is None or device.type != "cuda":
            device = _input_device(template) if _input_device(template).type == "cuda" else torch.device("cuda")
    elif device is None:
        device = _input_device(template)
    return backend, device


def coarse_to_fine(source, target, patch_size, iterations, levels, flow, search):
    """Run ``search`` level by level, coarsest first, each level starting from the previous one."""
    nnf = None
    for level, size in reversed(list(enumerate(level_sizes(*target.shape[1:3], levels)))):
        grid = pixel_grid(*size, target.device)
        start = grid.expand(target.shape[0], *size, 2) if nnf is None else upsample_nnf(nnf, size)
        extra = [] if flow is None else [grid + downsample_flow(flow, size).round().long()]
        if nnf is None and extra:
            start, extra = extra[0], []
        if iterations == 0 and not extra:  # nothing to search: the start, its centres inside the source
            nnf = clamp_centres(start, *size, patch_size // 2)
        else:
            nnf = search(downsample(source, size), downsample(target, size), start, extra, iterations, level)
    return nnf


class TorchLevelSearch:
    """One pyramid level on the torch path; a single generator makes a whole call deterministic."""

    def __init__(self, patch_size, seed, device, search_radius=None):
        self.patch_size, self.search_radius = patch_size, search_radius
        self.generator = torch.Generator(device=device).manual_seed(seed)

    def __call__(self, source, target, start, extra, iterations, level):
        size = self.patch_size
        search = LevelSearch(DescriptorMetric(source, target, size), size, self.generator,
                             search_radius=self.search_radius)
        nnf = search.run(start, iterations, extra)
        polish = min(EXACT_ITERATIONS, iterations) if level == 0 else 0
        if polish:
            exact = LevelSearch(ExactMetric(source, target, size), size, self.generator, POLISH_JUMP_STEPS,
                                min(POLISH_RADIUS, self.search_radius or POLISH_RADIUS))
            nnf = exact.run(nnf, polish)
        return nnf


def _voting(source):
    if source.device.type == "cuda" and "cuda" in available_backends():
        from . import cuda_patchmatch

        return cuda_patchmatch
    return torch_voting


def _device_argument(device):
    """A torch.device this machine has, or ValueError naming the device."""
    try:
        device = torch.device(device)
    except (RuntimeError, TypeError):
        raise ValueError(f"device must be a torch device such as 'cpu', 'cuda' or 'mps', got {device!r}") from None
    present = {"cpu": True, "cuda": torch.cuda.is_available(), "mps": torch.backends.mps.is_available()}
    if not present.get(device.type, True):
        raise ValueError(f"device {str(device)!r} is not available on this machine")
    return device


def _input_device(array):
    kind = type(array).__module__.split(".")[0]
    if isinstance(array, torch.Tensor):
        return array.device
    return torch.device(f"cuda:{array.device.id}") if kind == "cupy" else torch.device("cpu")


def _field_size(nnf):
    if getattr(nnf, "ndim", 0) not in (3, 4):
        raise ValueError(f"nnf must be (H, W, 2) or (B, H, W, 2), got shape {tuple(getattr(nnf, 'shape', ()))}")
    return tuple(nnf.shape[-3:-1])


def _unbatch(tensor, template):
    return tensor[0] if template.ndim == 3 else tensor


def _count_argument(name, value, minimum):
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{name} must be an integer ≥ {minimum}, got {value!r}")
    return value


def _levels_argument(levels, size, patch_size):
    if levels is None:
        return default_levels(*size, patch_size)
    levels = _count_argument("levels", levels, minimum=1)
    deepest = 1  # never shrink a level below one patch
    while deepest < levels and min(level_sizes(*size, deepest + 1)[-1]) >= patch_size:
        deepest += 1
    return deepest
