"""Deflicker speed and memory: frames per second of ``PatchBlender`` (first call with its NNF
estimations, later calls from the NNF cache) and peak host / GPU memory, window 15; and the
quality of both weightings on small synthetic shots (PSNR against the clean styled frames).

Each case runs in a fresh process so its peak memory is its own. The issue's cases (64 and 240
frames at 512², fast and balanced) run on CUDA; on a CPU, where one 512² NNF takes over a second,
the default cases are smaller (see CPU_CASES) and named in the table.
"""

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

from .report import write_report

WINDOW = 15
GPU_CASES = [(frames, 512, mode) for frames in (64, 240) for mode in ("fast", "balanced")]
CPU_CASES = [(16, 512, "fast"), (64, 128, "fast"), (64, 128, "balanced"), (240, 128, "fast")]


def measure(frames, size, mode, backend, device, iterations=5):
    """One case in this process: a dict row of timings and peak memory.

    Fewer ``iterations`` shorten the NNF search without changing what is held in memory.
    """
    import torch

    from diffsynth_render.engine.deflicker import BlendSettings, PatchBlender
    from diffsynth_render.testing.synthetic_sequences import flickered, moving_shot

    guides, styled = moving_shot(frames, size, 3, seed=1, step=(0, 1))
    shot = flickered(styled, seed=2)
    del styled
    inputs = _reset_peak_memory()  # the peak below is the blender's, with its inputs resident
    settings = BlendSettings(mode=mode, window=WINDOW, backend=backend, device=device, iterations=iterations)
    blender = PatchBlender(guides, settings)

    def timed_call():
        started = time.perf_counter()
        blender(shot)
        if blender.device.type == "cuda":
            torch.cuda.synchronize()
        return time.perf_counter() - started

    first, later = timed_call(), timed_call()
    gpu_peak = torch.cuda.max_memory_allocated() / 2 ** 20 if blender.device.type == "cuda" else 0.0
    return {"backend": blender.backend, "device": str(blender.device), "frames": frames, "size": f"{size}²",
            "mode": mode, "iterations": iterations, "nnfs": blender.estimations, "first_call_fps": frames / first,
            "later_call_fps": frames / later, "host_inputs_mib": inputs, "host_peak_mib": _peak_memory(),
            "gpu_peak_mib": gpu_peak}


def _reset_peak_memory():
    """Reset this process's peak resident memory (Linux); returns the resident MiB now."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        pass  # elsewhere the peak includes making the test shot
    return _status_mib("VmRSS") or resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _peak_memory():
    return _status_mib("VmHWM") or resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _status_mib(field):
    status = Path("/proc/self/status")
    if not status.exists():
        return None
    for line in status.read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return None


def quality_rows(count=16, size=64, window=4):
    """PSNR of input and output, per weighting, on a moving shot and on an occluding square."""
    import numpy as np

    from diffsynth_render.engine.deflicker import BlendSettings, PatchBlender
    from diffsynth_render.testing.synthetic_sequences import flickered, moving_shot, occluding_shot

    def psnr(frames, clean):
        return float(10 * np.log10(1 / np.mean((frames - clean) ** 2)))

    rows = []
    for scene, (guides, styled) in (("moving", moving_shot(count, size, 3, seed=5, turn_degrees=1.0)),
                                    ("occluding", occluding_shot(count, size, 3, seed=6))):
        frames = flickered(styled, seed=7)
        row = {"scene": f"{scene} {count}×{size}²", "input_psnr": psnr(frames, styled)}
        for weighting in ("uniform", "confidence"):
            smoothed = PatchBlender(guides, BlendSettings(window=window, weighting=weighting, backend="torch"))(frames)
            row[f"{weighting}_psnr"] = psnr(smoothed, styled)
        rows.append(row)
    return rows


def run():
    """Measure each case of each available backend in its own process; returns the rows."""
    from diffsynth_render.kernels import available_backends

    cuda = available_backends().get("cuda", [])
    targets = [("cuda", cuda[0], GPU_CASES)] if cuda else []
    targets.append(("torch", "cpu", CPU_CASES))
    rows = []
    for backend, device, cases in targets:
        for frames, size, mode in cases:
            command = [sys.executable, "-m", __spec__.name, "--case", str(frames), str(size), mode, backend, device]
            result = subprocess.run(command, capture_output=True, text=True, check=True)
            rows.append(json.loads(result.stdout.splitlines()[-1]))
            print(f"  {backend} {frames}×{size}² {mode}: done", file=sys.stderr)
    write_report("deflicker", rows)
    write_report("deflicker_quality", quality_rows())
    return rows


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--case", nargs=5, metavar=("FRAMES", "SIZE", "MODE", "BACKEND", "DEVICE"),
                        help="measure one case in this process and print its row as JSON")
    parser.add_argument("--iterations", type=int, default=5, help="PatchMatch iterations for --case")
    args = parser.parse_args()
    if args.case:
        frames, size, mode, backend, device = args.case
        print(json.dumps(measure(int(frames), int(size), mode, backend, device, args.iterations)))
    else:
        run()
