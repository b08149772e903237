"""Synthetic shots for deflicker tests and benchmarks: moving textured guides, a styled image
that follows them exactly, and the flicker a per-frame diffusion run adds on top."""

import numpy as np
import torch
import torch.nn.functional as F

from .synthetic_images import texture


def moving_shot(count, size, channels, seed, step=(1, 2), turn_degrees=0.0):
    """(guides, styled) of ``count`` frames, ``size``² pixels: two textures on one canvas that
    moves by ``step`` (rows, cols) pixels and turns by ``turn_degrees`` per frame.

    The styled frames are the guide-consistent result a perfect stylizer would give.
    """
    canvas = texture(2 * size + count * abs(step[0]), 2 * size + count * abs(step[1]), channels + 3, seed)
    guides = np.empty((count, size, size, channels), np.float32)
    styled = np.empty((count, size, size, 3), np.float32)
    for frame in range(count):
        shown = view(canvas, size, frame - count // 2, step, turn_degrees)  # the shot is centred on the canvas
        guides[frame], styled[frame] = np.split(shown, [channels], axis=-1)
    return guides, styled


def view(canvas, size, frame, step, turn_degrees):
    """Frame ``frame`` of the camera: a ``size``² window on ``canvas``, moved and turned."""
    angle = np.deg2rad(turn_degrees * frame)
    cos, sin = np.cos(angle), np.sin(angle)
    rows, cols = np.mgrid[:size, :size].astype(np.float64) - (size - 1) / 2
    # frame pixel p shows canvas point centre + R(angle)·p + frame·step
    canvas_rows = (canvas.shape[0] - 1) / 2 + cos * rows - sin * cols + frame * step[0]
    canvas_cols = (canvas.shape[1] - 1) / 2 + sin * rows + cos * cols + frame * step[1]
    return sample(canvas, canvas_rows, canvas_cols)


def sample(image, rows, cols):
    """Bilinear samples of ``image`` (H, W, C) at float pixel positions, edges replicated."""
    height, width = image.shape[:2]
    grid = np.stack([cols / (width - 1) * 2 - 1, rows / (height - 1) * 2 - 1], axis=-1)
    source = torch.from_numpy(image).permute(2, 0, 1)[None]
    sampled = F.grid_sample(source, torch.from_numpy(grid).float()[None], align_corners=True, padding_mode="border")
    return sampled[0].permute(1, 2, 0).numpy().astype(np.float32)


def flickered(styled, seed, jitter=0.15, blotches=3, blotch_strength=0.25):
    """``styled`` frames with per-frame brightness jitter and coloured blotches, clipped to [0, 1]."""
    rng = np.random.default_rng(seed)
    count, height, width, channels = styled.shape
    rows, cols = np.mgrid[:height, :width]
    frames = styled * (1 + rng.uniform(-jitter, jitter, (count, 1, 1, 1))).astype(np.float32)
    for frame in frames:
        for _ in range(blotches):
            centre, radius = rng.uniform(0, [height, width]), rng.uniform(0.05, 0.15) * max(height, width)
            blob = np.exp(-((rows - centre[0]) ** 2 + (cols - centre[1]) ** 2) / (2 * radius ** 2))
            frame += (blotch_strength * blob[..., None] * rng.uniform(-1, 1, channels)).astype(np.float32)
    return np.clip(frames, 0, 1, out=frames)


def occluding_shot(count, size, channels, seed, square=None, step=(0, 3)):
    """(guides, styled): a static textured background and a textured square sliding over it,
    each with its own style, so content appears and disappears behind the square."""
    square = square or size // 3
    background, foreground = texture(size, size, channels + 3, seed), texture(square, square, channels + 3, seed + 1)
    foreground[..., channels:] = 1 - foreground[..., channels:]  # a style unlike the background's
    shots = []
    for frame in range(count):
        image = background.copy()
        top = size // 3 + frame * step[0]
        left = size // 6 + frame * step[1]
        image[top: top + square, left: left + square] = foreground[: size - top, : size - left]
        shots.append(image)
    guides, styled = np.split(np.stack(shots), [channels], axis=-1)
    return np.ascontiguousarray(guides), np.ascontiguousarray(styled)
