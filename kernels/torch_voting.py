"""Exact patch operations in torch: patch distance and patch voting (remap).

Both walk the P×P patch offsets and gather; no zero padding: a target pixel whose patch leaves
the target image, or whose matched source patch leaves the source image, uses only the
offsets that stay inside both.
"""

import torch
import torch.nn.functional as F


def _offsets(patch_size):
    radius = patch_size // 2
    return [(dy, dx) for dy in range(-radius, radius + 1) for dx in range(-radius, radius + 1)]


def _accumulator_dtype(device):
    # float64 makes identity voting exact (k·x / k == x); MPS has no float64.
    return torch.float32 if device.type == "mps" else torch.float64


def _gather(source, rows, cols):
    """source[b, rows, cols] for (B, H, W) index fields, with validity of each position."""
    batch, height, width, channels = source.shape
    valid = (rows >= 0) & (rows < height) & (cols >= 0) & (cols < width)
    base = torch.arange(batch, device=source.device).view(batch, 1, 1) * (height * width)
    flat = base + rows.clamp(0, height - 1) * width + cols.clamp(0, width - 1)
    values = source.reshape(-1, channels).index_select(0, flat.reshape(-1)).view(*rows.shape, channels)
    return values, valid


def _shifted(field, dy, dx, radius):
    """field[p + (dy, dx)] for a (B, H, W, K) field, with a mask of the positions inside it."""
    batch, height, width = field.shape[:3]
    padded = F.pad(field.movedim(-1, 1), (radius, radius, radius, radius)).movedim(1, -1)
    window = padded[:, radius + dy: radius + dy + height, radius + dx: radius + dx + width]
    rows = torch.arange(height, device=field.device).view(1, height, 1) + dy
    cols = torch.arange(width, device=field.device).view(1, 1, width) + dx
    inside = (rows >= 0) & (rows < height) & (cols >= 0) & (cols < width)
    return window, inside.expand(batch, height, width)


def patch_distance(source, target, nnf, patch_size):
    """Per target pixel: SSD between its patch and the matched source patch / patch area.

    ``source`` (B, Hs, Ws, C), ``target`` (B, H, W, C), ``nnf`` (B, H, W, 2) int64.
    """
    radius = patch_size // 2
    dtype = _accumulator_dtype(target.device)
    total = torch.zeros(target.shape[:3], dtype=dtype, device=target.device)
    count = torch.zeros_like(total)
    for dy, dx in _offsets(patch_size):
        target_values, target_inside = _shifted(target, dy, dx, radius)
        source_values, source_inside = _gather(source, nnf[..., 0] + dy, nnf[..., 1] + dx)
        valid = (target_inside & source_inside).to(dtype)
        total += ((source_values - target_values) ** 2).sum(-1).to(dtype) * valid
        count += valid
    return (total / count).float()


def remap(source, nnf, patch_size):
    """Patch voting: every target pixel averages what the overlapping target patches point to.

    Target pixel q gets source[nnf(q − o) + o] from every offset o whose patch centre q − o
    lies in the target image and whose source pixel lies in the source image. Votes are summed
    as deviations from q's own centre vote source[nnf(q)] (always valid), in the source's
    precision: identity voting is exact, and no wider accumulator is needed.
    """
    radius = patch_size // 2
    reference, _ = _gather(source, nnf[..., 0], nnf[..., 1])
    if radius == 0:  # one vote: the centre's, exactly
        return reference
    deviation = torch.zeros_like(reference)
    count = torch.zeros(*reference.shape[:-1], 1, dtype=source.dtype, device=source.device)
    for dy, dx in _offsets(patch_size):
        centre, centre_inside = _shifted(nnf, -dy, -dx, radius)
        values, source_inside = _gather(source, centre[..., 0] + dy, centre[..., 1] + dx)
        valid = (centre_inside & source_inside).unsqueeze(-1).to(source.dtype)
        deviation.addcmul_(values.sub_(reference), valid)
        count += valid
    return reference + deviation / count
