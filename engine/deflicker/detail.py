"""Keeping the brushwork through a blend: variance-preserving blending of the fine detail.

Averaging frames whose strokes were painted independently keeps what they share and thins out
what they do not: n independent stroke patterns averaged keep about 1/n of their energy, and
the picture goes soft. The average's fine detail is steady (every frame of a window averages
nearly the same carried frames), only too faint; so each detail band of the blend (``BANDS``:
what a Gaussian of one width keeps and one of the next removes) is scaled back up, pixel by
pixel, until its local energy matches the energy the painted frame had there — the
histogram-preserving blending that texture synthesis uses to mix exemplars (Heitz and Neyret
2018), band by band. Detail the frames share is not thinned by averaging, so it gets no gain;
each band's gain is capped, so noise in nearly flat areas is never blown up. Carrying frames to
a fraction of a pixel (``motion.resampled``) softens the finest band most, so its cap is the
highest. Measured in bench/RESULTS.md.
"""

import torch
import torch.nn.functional as F

# The bands restored: (σ, pixels, of the Gaussian whose blur is the band's lower edge, the
# band's largest gain); the first band runs from the pixels themselves, each next from the last
# blur. One band at 1.5 px kept 74% of the detail where these keep 81% (bench/RESULTS.md).
BANDS = ((1.0, 8.0), (2.0, 4.0), (4.0, 4.0))
DETAIL_SIGMA = 1.5  # pixels: the detail a search matches on is an image less its blur by this Gaussian
ENERGY_SIGMA = 4.0  # pixels: the reach of the local energy a gain matches
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


def bands(images):
    """The detail bands of ``images`` (…, H, W, C), one per ``BANDS`` entry, finest first."""
    result, above = [], images
    for sigma, _ in BANDS:
        blurred = gaussian_blur(images, sigma)
        result.append(above - blurred)
        above = blurred
    return result


def detail_energy(images):
    """(…, H, W, B) local energy of each of the B detail bands of ``images`` (…, H, W, C)."""
    return _local_energies(bands(images))


def restore_detail(blended, energy):
    """``blended`` (…, H, W, C) with each detail band scaled by the gain (1 to the band's cap)
    that would bring its local energy to ``energy`` (…, H, W, B; ``detail_energy`` of the frames
    it was blended from). The gains are measured on the blend's bands and applied together; the
    bands overlap, so a band's gain also lifts its neighbours: on noise thinned as a blend thins
    strokes, the finest band ends at 0.9 of its energy and the others at 1.4 (scaled one after
    another, each measured afresh, they end at 0.8–1.0, and the painting keeps 74% of its detail
    instead of 81%: bench/RESULTS.md)."""
    detail = bands(blended)
    caps = torch.tensor([cap for _, cap in BANDS], dtype=blended.dtype, device=blended.device)
    # Carried energies may overshoot below zero.
    gains = (energy.clamp_min(0) / _local_energies(detail).clamp_min(1e-8)).sqrt().clamp(min=1).minimum(caps)
    return blended + sum((gains[..., index:index + 1] - 1) * band for index, band in enumerate(detail))


def frame_detail(frames, weight=MATCH_WEIGHT):
    """The detail band of ``frames`` (N, H, W, C) times ``weight``, float32 numpy: channels for
    PatchMatch to match beside the guides (``PatchBlender``'s ``texture``) where the frames are
    known before the search. A guide without texture (flat shading) matches any patch of a flat
    area equally well and scrambles the frames' texture; the band tells those patches apart,
    and it carries no slow flicker (brightness, blotches) to mislead the search."""
    return (detail_band(torch.as_tensor(frames).float()) * weight).numpy()


def _local_energies(detail):
    """(…, H, W, B) mean squared ``detail`` (B bands (…, H, W, C)) over the channels, averaged
    over ``ENERGY_SIGMA``."""
    return gaussian_blur(torch.stack([(band ** 2).mean(dim=-1) for band in detail], dim=-1), ENERGY_SIGMA)
