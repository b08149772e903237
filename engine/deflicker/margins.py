"""A mirrored margin of one patch width less one (twice the patch radius) around every image the
deflicker works on.

NNF centres stay a patch radius inside the image, so without a margin the outermost pixels
could never match their own position and would come back shifted and blurred. Patch voting
also reads the NNFs of the centres up to a radius away from a pixel: with a margin of only one
radius those centres would lie in the margin, clamped inward, and still shift the outermost
pixels. With two radii every pixel of the frame and every centre voting for it are interior;
the output is cropped back.
"""

import torch.nn.functional as F


def add_margin(images, margin, mode="reflect"):
    """``images`` (…, H, W, C) with ``margin`` pixels added on each side (mirrored by default)."""
    if margin == 0:
        return images
    shape = images.shape
    nchw = images.reshape(-1, *shape[-3:]).permute(0, 3, 1, 2)
    padded = F.pad(nchw, (margin,) * 4, mode=mode).permute(0, 2, 3, 1)
    return padded.reshape(*shape[:-3], *padded.shape[1:]).contiguous()


def crop_margin(images, margin):
    """Undo ``add_margin``."""
    return images[..., margin: images.shape[-3] - margin, margin: images.shape[-2] - margin, :]
