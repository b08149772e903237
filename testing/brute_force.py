"""Exact nearest-neighbour field by exhaustive search: the yardstick for small images."""

import torch
import torch.nn.functional as F

from ..kernels.arrays import image, like_input, patch_size_argument


def brute_force_nnf(source_guide, target_guide, patch_size=5):
    """The exact NNF (same conventions as ``estimate_nnf``); O(H²W²) — for small images only."""
    patch_size = patch_size_argument(patch_size)
    source = image(source_guide, "source_guide", patch_size)
    target = image(target_guide, "target_guide", patch_size)
    radius = patch_size // 2
    nnfs = [_exhaustive(s, t, patch_size, radius) for s, t in zip(source, target)]
    nnf = torch.stack(nnfs).int()
    return like_input(nnf if source_guide.ndim == 4 else nnf[0], target_guide)


def _exhaustive(source, target, patch_size, radius):
    height, width, _ = target.shape
    src = F.unfold(source.permute(2, 0, 1)[None].double(), patch_size)[0].T  # (M, D): interior centres
    padded = F.pad(target.permute(2, 0, 1)[None].double(), (radius,) * 4)
    tgt = F.unfold(padded, patch_size)[0].T  # (N, D), zeros outside
    inside = F.unfold(F.pad(torch.ones(1, 1, height, width, dtype=torch.double), (radius,) * 4), patch_size)[0].T
    inside = inside.repeat(1, target.shape[-1])  # unfold is channel-major: one mask per channel
    # ||m·(t − s)||² = Σ m t² − 2 (m t)·s + m·s², m the target pixels inside the image
    distance = (inside * tgt ** 2).sum(1, keepdim=True) - 2 * (inside * tgt) @ src.T + inside @ (src ** 2).T
    best = distance.argmin(1)
    src_width = source.shape[1] - 2 * radius
    return torch.stack([best // src_width + radius, best % src_width + radius], dim=-1).view(height, width, 2)
