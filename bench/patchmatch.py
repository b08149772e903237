"""PatchMatch speed and quality: ms per estimate_nnf / remap per size, channels and backend,
and the NNF quality ratio against brute force at 48²."""

import torch

from diffsynth_render.kernels import available_backends, estimate_nnf, patch_distance, remap
from diffsynth_render.testing.brute_force import brute_force_nnf
from diffsynth_render.testing.synthetic_images import texture

from .report import median_seconds, write_report

SIZES = (256, 512, 1024)
CHANNELS = (3, 7)


def _timed(backend, device, run, repeats):
    def synchronized():
        run()
        if device.startswith("cuda"):
            torch.cuda.synchronize()

    synchronized()  # warm-up: kernel compilation, allocator
    return 1000 * median_seconds(synchronized, repeats)


def speed_rows(backend, device):
    rows = []
    for size in SIZES:
        for channels in CHANNELS:
            source, target = (torch.from_numpy(texture(size, size, channels, seed)).to(device) for seed in (1, 2))
            nnf = estimate_nnf(source, target, backend=backend)
            repeats = 3 if size <= 512 or device != "cpu" else 1
            rows.append({
                "backend": backend, "device": device, "size": f"{size}²", "channels": channels,
                "nnf_ms": _timed(backend, device, lambda: estimate_nnf(source, target, backend=backend), repeats),
                "remap_ms": _timed(backend, device, lambda: remap(source, nnf), repeats),
                "mean_patch_distance": float(patch_distance(source, target, nnf).mean()),
            })
    return rows


def quality_rows(backend, device, pairs=4):
    rows = []
    for channels in CHANNELS:
        ratios = []
        for seed in range(pairs):
            source, target = (torch.from_numpy(texture(48, 48, channels, seed + offset)) for offset in (0, 1000))
            nnf = estimate_nnf(source.to(device), target.to(device), backend=backend, seed=seed).cpu()
            exact = brute_force_nnf(source, target)
            found, best = patch_distance(source, target, nnf).mean(), patch_distance(source, target, exact).mean()
            ratios.append(float(found / best))
        rows.append({"backend": backend, "device": device, "channels": channels, "pairs": pairs,
                     "mean_ratio": sum(ratios) / pairs, "worst_ratio": max(ratios)})
    return rows


def run():
    """Measure every available backend; returns the speed and quality rows."""
    targets = [("torch", "cpu")] + [("cuda", device) for device in available_backends().get("cuda", [])[:1]]
    speed = [row for backend, device in targets for row in speed_rows(backend, device)]
    quality = [row for backend, device in targets for row in quality_rows(backend, device)]
    write_report("patchmatch_speed", speed)
    write_report("patchmatch_quality", quality)
    return speed, quality


if __name__ == "__main__":
    run()
