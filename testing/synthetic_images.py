"""Synthetic test images for kernel tests and benchmarks (seeded, never constant)."""

import numpy as np
import torch
import torch.nn.functional as F


def texture(height, width, channels, seed):
    """A random natural-looking texture in [0, 1]: value noise summed over octaves with a 1/f spectrum.

    Closer to render guides than white noise, for which the exact nearest neighbour of a patch is
    mostly luck and any PatchMatch stays ~1.2× above brute force.
    """
    generator = torch.Generator().manual_seed(seed)
    octaves = (1, 2, 4, 8, 16)
    image = torch.zeros(1, channels, height, width)
    for scale in octaves:
        noise = torch.rand(1, channels, height // scale + 2, width // scale + 2, generator=generator)
        big = F.interpolate(noise, size=(height + 2 * scale, width + 2 * scale), mode="bicubic", align_corners=False)
        image += scale * big[..., scale: scale + height, scale: scale + width]
    image = (image - image.amin()) / (image.amax() - image.amin())
    return image[0].permute(1, 2, 0).contiguous().numpy().astype(np.float32)


def translated(image, dy, dx):
    """``image`` moved by (dy, dx): result[p] = image[p − (dy, dx)], edges replicated."""
    height, width = image.shape[:2]
    rows = np.clip(np.arange(height) - dy, 0, height - 1)
    cols = np.clip(np.arange(width) - dx, 0, width - 1)
    return np.ascontiguousarray(image[rows][:, cols])
