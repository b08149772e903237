"""Between latents and pixels: the x̂0 ↔ ε algebra of DDIM (paper eqs. 2 and 4) and the VAE
round trip, in slices of frames.

Pixels here are (N, 3, H, W) in [-1, 1] as the VAE makes them, not clamped: clamping would break
the round trip's algebra; only final frames are clamped.
"""

import torch


def x0_from_noise(latents, noise, alpha_bar):
    """x̂0 = (x_t − √(1−ᾱ_t) ε) / √ᾱ_t."""
    return (latents - (1 - alpha_bar) ** 0.5 * noise) / alpha_bar ** 0.5


def noise_from_x0(latents, x0, alpha_bar):
    """ε̄ = (x_t − √ᾱ_t x̄0) / √(1−ᾱ_t)."""
    return (latents - alpha_bar ** 0.5 * x0) / (1 - alpha_bar) ** 0.5


def decode(vae, latents, frames_per_slice):
    """Pixels of ``latents``, decoded ``frames_per_slice`` frames at a time."""
    scale = vae.config.scaling_factor
    return torch.cat([vae.decode(part / scale).sample for part in latents.split(frames_per_slice)])


def encode(vae, pixels, frames_per_slice):
    """Latents of ``pixels``: the mean of the VAE's posterior (not a sample), scaled."""
    scale = vae.config.scaling_factor
    return torch.cat([vae.encode(part).latent_dist.mean * scale for part in pixels.split(frames_per_slice)])


def to_unit(pixels):
    """VAE pixels → (N, H, W, 3) float32 in [0, 1], not clamped, for blending."""
    return (pixels.float() / 2 + 0.5).permute(0, 2, 3, 1).contiguous()


def from_unit(images, like):
    """(N, H, W, 3) in [0, 1] → VAE pixels in the dtype and device of ``like``."""
    return (images.permute(0, 3, 1, 2) * 2 - 1).to(device=like.device, dtype=like.dtype)
