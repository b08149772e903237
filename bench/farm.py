"""A long shot on a farm: the whole shot stylized by one task, against 4 chunks run one after
another and stitched (as ``openjd run`` or a farm with one host would run them).

The shot is the steady panning shot (``testing.panning_shot``), 96 frames at 256×256, painted by
the style painter (window 7) through the same commands a farm runs: ``cli farm-template``, ``cli
passes``, ``engine run JOB [--chunk K/4]``, ``engine stitch JOB``. Per case: wall time of the
stylize tasks (passes rendered once, before), the peak resident memory of the largest task, and
the warp error (exact vector pass) at the chunk seams against the mean elsewhere.

Run alone: ``.venv/bin/python -m diffsynth_render.bench.farm [--frames 96] [--size 256]``.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from ..engine.image_sequences import read_sequence
from ..shot.video_quality import seam_errors, warp_errors
from .report import write_report

CHUNKS, OVERLAP = 4, 8


def measured(*args):
    """(seconds, peak resident MiB) of ``python -m diffsynth_render ARGS`` in its own process."""
    started = time.perf_counter()
    process = subprocess.Popen([sys.executable, "-m", *map(str, args)], stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE, env={**os.environ, "PYTHONSAFEPATH": "1"})
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode:
        raise RuntimeError(f"{args} failed: {process.stderr.read()[-2000:]}")
    return time.perf_counter() - started, usage.ru_maxrss / 1024


def run(frames=96, size=256):
    import bpy

    from ..testing.panning_shot import build_panning_shot

    chunk_frames = -(-(frames - OVERLAP) // CHUNKS)  # so that the shot splits into CHUNKS chunks
    with tempfile.TemporaryDirectory(prefix="diffsynth-farm-bench-") as temp:
        root = Path(temp)
        build_panning_shot(1, frames, (size, size))
        bpy.ops.wm.save_as_mainfile(filepath=str(root / "shot.blend"))
        farm = root / "farm"
        measured("diffsynth_render.cli", "farm-template", root / "shot.blend", "--out", farm, "--painter", "style",
                 "--chunk-frames", chunk_frames, "--overlap", OVERLAP)
        passes_s, _ = measured("diffsynth_render.cli", "passes", root / "shot.blend", "--out", farm,
                               "--frames", f"1-{frames}", "--size", f"{size}x{size}")
        job = json.loads((farm / "job.json").read_text())
        chunks = job.pop("chunks")
        (farm / "whole.json").write_text(json.dumps({**job, "output": "whole"}))
        whole_s, whole_mib = measured("diffsynth_render.engine", "run", farm / "whole.json")
        tasks = [measured("diffsynth_render.engine", "run", farm / "job.json", "--chunk", f"{k}/{CHUNKS}")
                 for k in range(1, CHUNKS + 1)]
        stitch_s, stitch_mib = measured("diffsynth_render.engine", "stitch", farm / "job.json")
        flows = np.stack([np.load(p) for p in sorted((farm / "passes" / "flow").glob("*.npy"))])
        starts = [k * chunks["frames"] for k in range(1, CHUNKS)]
        overlaps = [(start, start + OVERLAP) for start in starts]
        quality = {case: seam_errors(warp_errors(read_sequence(farm / case)[0], flows), overlaps)
                   for case in ("whole", "final")}
    rows = []
    for case, seconds, mib, folder in (("whole shot, 1 task", whole_s, whole_mib, "whole"),
                                       (f"{CHUNKS} chunks + stitch", sum(s for s, _ in tasks) + stitch_s,
                                        max(m for _, m in [*tasks, (stitch_s, stitch_mib)]), "final")):
        seams, inside = quality[folder]
        rows.append({"case": case, "frames": frames, "size": f"{size}²", "stylize_s": round(seconds, 1),
                     "peak_task_MiB": round(mib), "seam_max_x1e4": round(max(seams) * 1e4, 2),
                     "inside_mean_x1e4": round(inside * 1e4, 2), "seam/inside": round(max(seams) / inside, 2)})
    rows[1]["per_task_s"] = " ".join(f"{s:.1f}" for s, _ in tasks) + f" +{stitch_s:.1f}"
    rows[0]["per_task_s"] = f"{whole_s:.1f}"
    print(f"passes (Cycles, once for both): {passes_s:.1f} s; chunks of {chunk_frames} + {OVERLAP} frames")
    write_report("farm", rows)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--frames", type=int, default=96)
    parser.add_argument("--size", type=int, default=256)
    arguments = parser.parse_args()
    run(arguments.frames, arguments.size)
