"""Motion fields, the NNFs of a shot with known motion: per-frame flows chained from one frame to
another, and which carried pixels land on the surface point they showed (not occluded).

``flows`` has one field per frame, ``(N, H, W, 2)``, ``(N, H, W, 4)`` or ``(N, H, W, 6)``, in
pixels as (row, col): channels 0–1 move a pixel of frame i to frame i+1, channels 2–3 (when
given) to frame i−1. Without them the step back from frame i is taken as minus the step forward
from frame i−1 at the same pixel, a fair guess for smooth motion. Channels 4–5 (estimated motion,
``engine.estimated_motion``) are the trust in each step, to i+1 and to i−1: 1 where it holds, 0
where it does not (the pixel is hidden there, or the estimate failed); a chain of steps is
trusted as much as all its steps. Any sequence whose ``flows[i]`` is frame i's field as a tensor
will do (an array, or ``Frames`` read from disk when asked).
"""

import torch
import torch.nn.functional as F

from ...shot.frames import Frames, Recent, as_frames
from ...shot.guides import FLOW_CHANNELS

SAME_SURFACE = 0.02  # largest difference, on any surface channel, of one surface point seen in two frames
TRUST = {1: 4, -1: 5}  # a step's trust channel by its direction, in flows of 6 channels


def check_flows(flows, shape):
    """``flows`` checked against the guides' (N, H, W): a float32 CPU tensor for an array (its
    values checked here), ``Frames`` as they are (a frame read from a file is checked there)."""
    frames = isinstance(flows, Frames)
    tensor = flows if frames else torch.as_tensor(flows).float().cpu()
    if len(tensor.shape) != 4 or tuple(tensor.shape[:3]) != tuple(shape) or tensor.shape[3] not in FLOW_CHANNELS:
        raise ValueError(f"flows must have shape {(*shape, 2)}, {(*shape, 4)} or {(*shape, 6)}, got "
                         f"{tuple(tensor.shape)}")
    if not frames and not bool(torch.isfinite(tensor).all()):
        raise ValueError("flows contain NaN or infinite values")
    return tensor


def chained_flow(flows, target, source):
    """Displacement (H, W, 2) taking each pixel of frame ``target`` to frame ``source``."""
    grid = pixels(*flows[target].shape[:2])
    return walk(flows, target, source, grid) - grid


def walk(flows, start, source, position, trust=None):
    """``position`` (H, W, 2), where a chain of flows from some frame has taken its pixels by
    frame ``start``, walked on to frame ``source``; with ``trust`` (H, W: the chain's so far, for
    flows with trust channels), (position, trust) with each step's trust multiplied in."""
    step = 1 if source > start else -1
    for frame in range(start, source, step):
        if trust is not None:
            channel = TRUST[step]
            trust = trust * _sampled(flows[frame][..., channel:channel + 1], position)[..., 0]
        position = position + _sampled(_step(flows, frame, step), position)
    return position if trust is None else (position, trust)


def trusted(flows):
    """Whether ``flows`` carry the trust of each step (6 channels)."""
    return flows is not None and flows.shape[-1] == FLOW_CHANNELS[-1]


def pixels(height, width):
    """(H, W, 2) float32 (row, col) of every pixel."""
    rows = torch.arange(height, dtype=torch.float32).view(-1, 1).expand(height, width)
    cols = torch.arange(width, dtype=torch.float32).view(1, -1).expand(height, width)
    return torch.stack([rows, cols], dim=-1)


def _step(flows, frame, step):
    if step > 0:
        return flows[frame][..., 0:2]
    if flows[frame].shape[-1] == 4:
        return flows[frame][..., 2:4]
    return -flows[frame - 1][..., 0:2]


def _sampled(field, position):
    """field at the nearest pixel of each position, positions outside clamped to the edge."""
    height, width = field.shape[:2]
    rows = position[..., 0].round().clamp_(0, height - 1)
    cols = position[..., 1].round().clamp_(0, width - 1)
    return _at(field, rows.long(), cols.long())


def resampled(image, positions):
    """``image`` (H, W, C) read at ``positions`` (H', W', 2: fractional (row, col) inside it),
    interpolated bicubically: carrying a frame by whole pixels would move its strokes by up to
    half a pixel, differently in each frame, and that jitter is flicker (bench/RESULTS.md)."""
    if image.device.type == "mps":  # PyTorch's MPS grid sampler refuses bicubic reading and border padding
        return resampled(image.cpu(), positions.cpu()).to(image.device)
    height, width = image.shape[:2]
    scale = torch.tensor([2 / max(width - 1, 1), 2 / max(height - 1, 1)], device=positions.device)
    grid = (positions.flip(-1) * scale - 1).to(image.dtype).unsqueeze(0)  # (x, y) in [-1, 1]
    planes = image.permute(2, 0, 1).unsqueeze(0)
    return F.grid_sample(planes, grid, mode="bicubic", padding_mode="border", align_corners=True)[0].permute(1, 2, 0)


def _at(field, rows, cols):
    """``field[rows, cols]`` for index fields inside it, as one flat gather (far faster than
    indexing two axes)."""
    channels = field.shape[-1]
    flat = (rows * field.shape[1] + cols).reshape(-1)
    return field.reshape(-1, channels).index_select(0, flat).view(*rows.shape, channels)


def visible(source_surfaces, target_surfaces, displacement, tolerance=SAME_SURFACE):
    """(H, W) bool: the pixels of the target frame whose ``displacement`` (H, W, 2) lands inside the
    source frame on the same surface point: ``*_surfaces`` (H, W, K) say what each pixel sees
    (surface coordinates), compared at the nearest source pixel."""
    height, width = displacement.shape[:2]
    rows = torch.arange(height, dtype=torch.float32).view(-1, 1) + displacement[..., 0]
    cols = torch.arange(width, dtype=torch.float32).view(1, -1) + displacement[..., 1]
    inside = (rows > -0.5) & (rows < height - 0.5) & (cols > -0.5) & (cols < width - 0.5)
    position = torch.stack([rows, cols], dim=-1)
    difference = (_sampled(source_surfaces, position) - target_surfaces).abs().amax(dim=-1)
    return inside & (difference <= tolerance)


def visible_at(source_surfaces, target_surfaces, rows, cols, tolerance=SAME_SURFACE):
    """``visible`` for pixels that land on whole pixels (an NNF): (H, W) integer ``rows`` and
    ``cols`` in the source frame, which may lie outside it."""
    height, width = source_surfaces.shape[:2]
    inside = (rows >= 0) & (rows < height) & (cols >= 0) & (cols < width)
    seen = _at(source_surfaces, rows.clamp(0, height - 1), cols.clamp(0, width - 1))
    return inside & ((seen - target_surfaces).abs().amax(dim=-1) <= tolerance)


def keyframe_flows(flows, keyframes):
    """The flows of the shot made of frames ``keyframes`` alone (ascending indices), as
    ``Frames`` (K, H, W, 4, or 6 with trust) made when asked: each keyframe's motion to the next
    keyframe and back to the one before, chained through the frames between."""
    size, channels = tuple(flows.shape[1:3]), 6 if trusted(flows) else 4
    flows, keyframes = tensor_frames(flows, 2), list(keyframes)
    grid = pixels(*size)

    def keyframe_flow(index):
        frame = keyframes[index]
        result = torch.zeros((*size, channels))
        for neighbour, moved, trust in ((index + 1, slice(0, 2), 4), (index - 1, slice(2, 4), 5)):
            if not 0 <= neighbour < len(keyframes):
                continue
            if channels == 6:
                position, result[..., trust] = walk(flows, frame, keyframes[neighbour], grid, torch.ones(size))
            else:
                position = walk(flows, frame, keyframes[neighbour], grid)
            result[..., moved] = position - grid
        return result

    return Frames(len(keyframes), (*size, channels), keyframe_flow)


def tensor_frames(frames, capacity, device="cpu", dtype=torch.float32):
    """``frames`` (``Frames``, an array or a tensor) as a ``Recent`` of ``dtype`` tensors on
    ``device``, the ``capacity`` last used kept."""
    return Recent(as_frames(frames), capacity, lambda frame: torch.as_tensor(frame).to(device, dtype))
