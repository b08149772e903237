"""How steady and how detailed a stylized shot is, measured with the shot's exact motion.

Flicker: the mean squared difference between frame i and frame i+1 warped onto frame i by the
vector pass, over the pixels whose motion passes a forward–backward check (seen in both frames:
not occluded, not leaving the picture). Detail: the mean gradient energy of the frames; the ratio
deflickered / per-frame says how much of the brushwork the deflicker kept.
"""

import numpy as np

CONSISTENCY_PX = 0.5  # forward–backward mismatch allowed, plus a share of the motion itself
CONSISTENCY_SHARE = 0.05


def warp_from_next(image: np.ndarray, to_next: np.ndarray) -> np.ndarray:
    """``image`` (H, W, C) of frame i+1 sampled (bilinear, edges clamped) where each pixel of
    frame i moves to: ``to_next`` (H, W, 2), (row, col) pixels."""
    height, width = image.shape[:2]
    rows, cols = np.meshgrid(np.arange(height, dtype=np.float32), np.arange(width, dtype=np.float32), indexing="ij")
    return _sample(image, rows + to_next[..., 0], cols + to_next[..., 1])


def consistent_motion(flow_i: np.ndarray, flow_next: np.ndarray) -> np.ndarray:
    """(H, W) bool: pixels of frame i whose motion to frame i+1 (``flow_i[..., 0:2]``) is undone by
    frame i+1's motion back (``flow_next[..., 2:4]``) and stays inside the picture."""
    to_next = flow_i[..., :2]
    back = warp_from_next(flow_next[..., 2:4], to_next)
    height, width = to_next.shape[:2]
    rows, cols = np.meshgrid(np.arange(height), np.arange(width), indexing="ij")
    inside = ((rows + to_next[..., 0] >= 0) & (rows + to_next[..., 0] <= height - 1)
              & (cols + to_next[..., 1] >= 0) & (cols + to_next[..., 1] <= width - 1))
    mismatch = np.linalg.norm(to_next + back, axis=-1)
    return inside & (mismatch <= CONSISTENCY_PX + CONSISTENCY_SHARE * np.linalg.norm(to_next, axis=-1))


def warp_errors(frames: np.ndarray, flows: np.ndarray) -> np.ndarray:
    """Per frame pair (N−1,): mean squared difference between frame i and frame i+1 warped onto
    it, over the consistent pixels. ``frames`` (N, H, W, C), ``flows`` (N, H, W, 4) as derived
    from the vector pass (to next, to previous)."""
    errors = []
    for index in range(len(frames) - 1):
        mask = consistent_motion(flows[index], flows[index + 1])
        warped = warp_from_next(frames[index + 1], flows[index][..., :2])
        squared = ((warped - frames[index]) ** 2).mean(axis=-1)
        errors.append(float(squared[mask].mean()) if mask.any() else 0.0)
    return np.array(errors)


def seam_errors(errors: np.ndarray, overlaps: list[tuple[int, int]]) -> tuple[list[float], float]:
    """(the worst pair error across each seam, the mean pair error away from them) of a shot's
    ``warp_errors`` (pair i: frames i and i+1); ``overlaps``: the (start, stop) frame indices each
    two neighbouring chunks share. A seam's pairs run from the one into its overlap to the one out."""
    seams = [range(start - 1, stop) for start, stop in overlaps]
    inside = [error for pair, error in enumerate(errors) if not any(pair in seam for seam in seams)]
    return [float(errors[list(seam)].max()) for seam in seams], float(np.mean(inside))


def gradient_energy(frames: np.ndarray) -> float:
    """Mean squared gradient (forward differences, all channels) of ``frames`` (N, H, W, C)."""
    frames = np.asarray(frames, np.float32)
    rows = np.diff(frames, axis=1) ** 2
    cols = np.diff(frames, axis=2) ** 2
    return float((rows.mean() + cols.mean()) / 2)


def _sample(image, rows, cols):
    height, width = image.shape[:2]
    rows, cols = np.clip(rows, 0, height - 1), np.clip(cols, 0, width - 1)
    top, left = np.floor(rows).astype(np.int64), np.floor(cols).astype(np.int64)
    bottom, right = np.minimum(top + 1, height - 1), np.minimum(left + 1, width - 1)
    dy, dx = (rows - top)[..., None], (cols - left)[..., None]
    upper = image[top, left] * (1 - dx) + image[top, right] * dx
    lower = image[bottom, left] * (1 - dx) + image[bottom, right] * dx
    return (upper * (1 - dy) + lower * dy).astype(np.float32)
