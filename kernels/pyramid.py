"""Coarse-to-fine helpers shared by the backends: image pyramids and NNF resampling."""

import math

import torch
import torch.nn.functional as F

from .arrays import pixel_grid


def default_levels(height, width, patch_size):
    """Pyramid depth: halve while the short side stays at least 2·patch + 1 (Ebsynth's rule)."""
    short, smallest = min(height, width), 2 * patch_size + 1
    return max(1, int(math.floor(math.log2(short / smallest))) + 1) if short >= smallest else 1


def level_sizes(height, width, levels):
    """(H, W) of each level, finest first; each level is the previous one halved (rounded up)."""
    sizes = [(height, width)]
    for _ in range(levels - 1):
        h, w = sizes[-1]
        sizes.append(((h + 1) // 2, (w + 1) // 2))
    return sizes


def downsample(images, size):
    """``(B, H, W, C)`` images area-averaged to ``size``."""
    if tuple(images.shape[1:3]) == tuple(size):
        return images
    return F.interpolate(images.permute(0, 3, 1, 2), size=size, mode="area").permute(0, 2, 3, 1).contiguous()


def downsample_flow(flow, size):
    """Displacement field ``(B, H, W, 2)`` resampled to ``size``, its values scaled to match."""
    height, width = flow.shape[1:3]
    scale = flow.new_tensor([size[0] / height, size[1] / width])
    return downsample(flow, size) * scale


def upsample_nnf(nnf, size):
    """NNF of a coarse level carried to the next finer level of ``size``.

    Fine pixel p inherits the match of its coarse parent q = p // 2: 2·nnf(q) + (p − 2q).
    """
    height, width = size
    coarse_h, coarse_w = nnf.shape[1:3]
    grid = pixel_grid(height, width, nnf.device)
    parent_rows = torch.clamp(grid[..., 0] // 2, max=coarse_h - 1)[0]
    parent_cols = torch.clamp(grid[..., 1] // 2, max=coarse_w - 1)[0]
    parent = nnf[:, parent_rows, parent_cols]
    return 2 * parent + (grid - 2 * torch.stack([parent_rows, parent_cols], dim=-1))


def clamp_centres(nnf, height, width, radius):
    """Keep every matched patch centre at least ``radius`` pixels inside the source image."""
    rows = nnf[..., 0].clamp(radius, height - 1 - radius)
    cols = nnf[..., 1].clamp(radius, width - 1 - radius)
    return torch.stack([rows, cols], dim=-1)
