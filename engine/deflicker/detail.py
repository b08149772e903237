"""Keeping the brushwork through a blend: variance-preserving blending of the fine detail.

Averaging frames whose strokes were painted independently keeps what they share and thins out
what they do not: n independent stroke patterns averaged keep about 1/n of their energy, and
the picture goes soft. The average's fine detail is steady (every frame of a window averages
nearly the same carried frames), only too faint; so the detail band (what a Gaussian of
``DETAIL_SIGMA`` removes) of the blend is scaled back up, pixel by pixel, until its local
energy matches the energy the painted frame had there — the histogram-preserving blending that
texture synthesis uses to mix exemplars (Heitz and Neyret 2018), applied to one band. Detail
the frames share is not thinned by averaging, so it gets no gain; the gain is at most
``MAX_GAIN``, so noise in nearly flat areas is never blown up. Measured in bench/RESULTS.md.
"""

import torch
import torch.nn.functional as F

DETAIL_SIGMA = 1.5  # pixels: the detail band is an image less its blur by this Gaussian
ENERGY_SIGMA = 4.0  # pixels: the reach of the local energy the gain matches
MAX_GAIN = 4.0
MATCH_WEIGHT = 1.0  # the frames' detail band beside guide values in [0, 1] (bench/RESULTS.md)


def gaussian_blur(images, sigma):
    """``images`` (…, H, W, C) blurred by a Gaussian of ``sigma`` pixels, edges replicated."""
    radius = max(1, int(3 * sigma + 0.5))
    offsets = torch.arange(-radius, radius + 1, dtype=images.dtype, device=images.device)
    kernel = torch.exp(-offsets ** 2 / (2 * sigma ** 2))
    kernel /= kernel.sum()
    shape = images.shape
    channels = shape[-1]
    planes = F.pad(images.reshape(-1, *shape[-3:]).permute(0, 3, 1, 2), (radius,) * 4, mode="replicate")
    planes = F.conv2d(planes, kernel.view(1, 1, 1, -1).expand(channels, 1, 1, -1), groups=channels)
    planes = F.conv2d(planes, kernel.view(1, 1, -1, 1).expand(channels, 1, -1, 1), groups=channels)
    return planes.permute(0, 2, 3, 1).reshape(shape)


def detail_band(images):
    """``images`` (…, H, W, C) less their blur by a Gaussian of ``DETAIL_SIGMA``: the fine detail."""
    return images - gaussian_blur(images, DETAIL_SIGMA)


def detail_energy(images):
    """(…, H, W) local energy of the detail band of ``images`` (…, H, W, C)."""
    return _local_energy(detail_band(images))


def restore_detail(blended, energy, max_gain=MAX_GAIN):
    """``blended`` (…, H, W, C) with its detail band scaled so that its local energy reaches
    ``energy`` (…, H, W; ``detail_energy`` of the frames it was blended from), gain 1 to
    ``max_gain``."""
    detail = detail_band(blended)
    gain = (energy / _local_energy(detail).clamp_min(1e-8)).sqrt().clamp(1, max_gain)
    return blended + (gain.unsqueeze(-1) - 1) * detail


def frame_detail(frames, weight=MATCH_WEIGHT):
    """The detail band of ``frames`` (N, H, W, C) times ``weight``, float32 numpy: channels for
    PatchMatch to match beside the guides (``PatchBlender``'s ``texture``) where the frames are
    known before the search. A guide without texture (flat shading) matches any patch of a flat
    area equally well and scrambles the frames' texture; the band tells those patches apart,
    and it carries no slow flicker (brightness, blotches) to mislead the search."""
    return (detail_band(torch.as_tensor(frames).float()) * weight).numpy()


def _local_energy(detail):
    """(…, H, W) mean squared ``detail`` over the channels, averaged over ``ENERGY_SIGMA``."""
    return gaussian_blur((detail ** 2).mean(dim=-1, keepdim=True), ENERGY_SIGMA)[..., 0]
