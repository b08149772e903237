"""How many frames go through the UNet and ControlNets at once: an estimate from free memory.

The estimate is deliberately rough (activations of an SD1.5-shaped UNet scale with the latent
area and the first block's width); the pipeline halves a batch that runs out of GPU memory
anyway, so a wrong guess costs time, not the render.
"""

import ctypes
import sys

# Bytes of activations per latent pixel, per unit of the UNet's first width, per batch row
# and byte of dtype, for the UNet and two ControlNets together. Measured on the CPU (fp32,
# SD1.5-sized, guidance, cross-frame attention; peak resident memory): 16 at 256², 23 at 512²
# (attention grows faster than the area there); twice that for headroom.
ACTIVATION_FACTOR = 40
MEASURED_REFERENCES = 3  # the measurement's cross-frame attention: first frame ± 1
CPU_BUDGET_CAP = 8 << 30


def frames_per_batch(settings, unet_config, height, width, dtype, device, count):
    """``settings.batch_frames`` if set, else as many frames as fit half the free memory."""
    import torch  # here: ``return_freed_memory`` is for runs with no torch too

    if settings.batch_frames:
        return min(settings.batch_frames, count)
    rows = 2 if settings.guidance_scale > 1 else 1
    references = 1 + 2 * settings.cross_frame.neighbours if settings.cross_frame.enabled else 1
    attention = (1 + references) / (1 + MEASURED_REFERENCES)  # longer keys, more attention memory
    per_frame = (ACTIVATION_FACTOR * (height // 8) * (width // 8) * unet_config.block_out_channels[0]
                 * torch.finfo(dtype).bits / 8 * rows * max(attention, 0.5))
    return max(1, min(count, int(free_bytes(device) / 2 // per_frame)))


def free_bytes(device):
    """Memory free for activations on ``device`` (CUDA: what the driver reports; otherwise the
    system's available memory, capped at 8 GiB)."""
    import torch

    device = torch.device(device)
    if device.type == "cuda":
        return torch.cuda.mem_get_info(device)[0]
    return min(_available_system_memory(), CPU_BUDGET_CAP)


def _available_system_memory():
    try:
        with open("/proc/meminfo") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 4 << 30  # no /proc (macOS, Windows): assume a modest machine


def return_freed_memory():
    """Give the memory freed so far back to the system. glibc keeps what each thread freed in that
    thread's pool: after the derive's threads at 1080p, some 250 MiB the frames' stages would
    otherwise add to. Elsewhere there is nothing to do."""
    if sys.platform.startswith("linux"):
        try:
            ctypes.CDLL("libc.so.6").malloc_trim(0)
        except (OSError, AttributeError):  # not glibc (musl, say)
            pass
