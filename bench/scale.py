"""Shots of the size users work at: does a Stylize fit, and what does each stage cost per frame?

The sample shot (``tools/sample_shot.py``) at 1280×720 and 1920×1080, 60 / 120 / 240 frames,
with the style painter and every default; the diffusion painter with the embedded tiny model
at 512², 60 and 240 frames (4 steps, 8 frames a batch: its memory should not grow with the shot
either). The passes are rendered once per size (``cli passes``, the longest
shot; the shorter ones take its first frames), then each shot is stylized by ``engine run`` in
its own process, deriving its inputs from the passes as a Stylize does. Per case: seconds per
frame of the passes and of each engine stage (derive, paint or denoise, blend, carry, write),
the engine process's peak resident memory, and the disk the passes and derived inputs take
per frame.

Run alone: ``.venv/bin/python -m diffsynth_render.bench.scale [--sizes 720p,1080p] [--counts 60,120,240]
[--diffusion 60,240]`` (the whole table takes about an hour on 2 cores).
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from .report import write_report

SIZES = {"720p": (1280, 720), "1080p": (1920, 1080), "512²": (512, 512)}
DIFFUSION_STEPS, DIFFUSION_BATCH = 4, 8  # the tiny model at 512² takes minutes a step on 2 CPU cores
STAGES = ("derive", "read", "load", "paint", "denoise", "decode", "encode", "blend", "carry", "write")


def measured(*args):
    """(seconds, peak resident MiB) of ``python -m diffsynth_render ARGS`` in its own process."""
    started = time.perf_counter()
    process = subprocess.Popen([sys.executable, "-m", *map(str, args)], stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE, env={**os.environ, "PYTHONSAFEPATH": "1"})
    _, status, usage = os.wait4(process.pid, 0)
    if os.waitstatus_to_exitcode(status):
        raise RuntimeError(f"{args} failed: {process.stderr.read()[-2000:]}")
    return time.perf_counter() - started, usage.ru_maxrss / 1024


def folder_mib(folder):
    return sum(path.stat().st_size for path in Path(folder).rglob("*") if path.is_file()) / 2 ** 20


def shot_passes(root, name, frames, painter):
    """Render the sample shot's passes at size ``name`` for ``frames`` frames into ``root``; returns
    (the job ``cli farm-template`` writes for ``painter``, less its chunks, seconds per frame of
    the passes, EXR MiB per frame)."""
    import bpy

    from ..tools.sample_shot import build_sample_shot

    width, height = SIZES[name]
    blend = root / "shot.blend"
    if not blend.is_file():
        build_sample_shot(frames, (width, height))
        bpy.ops.wm.save_as_mainfile(filepath=str(blend))
    out = root / "shot"
    options = ["--model", "tiny"] if painter == "diffusion" else []
    measured("diffsynth_render.cli", "farm-template", blend, "--out", out, "--painter", painter, *options,
             "--chunk-frames", frames // 2, "--size", f"{width}x{height}")  # its job, less the chunks
    cached = len(list((out / "passes" / "exr").glob("*.exr"))) if (out / "passes" / "exr").is_dir() else 0
    seconds, _ = measured("diffsynth_render.cli", "passes", blend, "--out", out, "--frames", f"1-{frames}",
                          "--size", f"{width}x{height}")
    job = json.loads((out / "job.json").read_text())
    job.pop("chunks")
    if painter == "diffusion":  # a few steps in fixed batches: what is measured is how it scales
        job.update(steps=DIFFUSION_STEPS, batch_frames=DIFFUSION_BATCH)
    job["passes"]["frames"] = [str(out / path) for path in job["passes"]["frames"]]
    per_frame = seconds / (frames - cached) if cached < frames else None  # None: all found rendered
    return job, per_frame, folder_mib(out / "passes" / "exr") / frames


def stylize(root, job, name, count, passes_s, exr_mib):
    """One row: ``job`` on the first ``count`` frames, its own derived folder and output."""
    case = root / f"{job['painter']}_{count}"
    shutil.rmtree(case, ignore_errors=True)
    job = {**job, "output": str(case / "out"),
           "passes": {"frames": job["passes"]["frames"][:count], "derived": str(case / "derived")}}
    case.mkdir()
    (case / "job.json").write_text(json.dumps(job))
    seconds, mib = measured("diffsynth_render.engine", "run", case / "job.json")
    timings = json.loads((case / "out" / "result.json").read_text())["timings_s"]
    row = {"painter": job["painter"], "size": name, "frames": count, "total_s_per_frame": round(seconds / count, 3),
           "passes_s_per_frame": "cached" if passes_s is None else round(passes_s, 3)}
    row.update({f"{stage}_s": round(timings[stage] / count, 3) if stage in timings else "" for stage in STAGES})
    row.update({"peak_MiB": round(mib), "exr_MiB_per_frame": round(exr_mib, 1),
                "derived_MiB_per_frame": round(folder_mib(case / "derived") / count, 1)})
    return row


def run(sizes=("720p", "1080p"), counts=(60, 120, 240), diffusion=(60, 240), work=None):
    """The table; ``work``: a folder to keep each size's shot and passes in (and find them there
    again: passes already rendered are not rendered again, and their time is not measured)."""
    rows = []
    cases = [(name, "style", counts) for name in sizes] + ([("512²", "diffusion", diffusion)] if diffusion else [])
    for name, painter, lengths in cases:
        with tempfile.TemporaryDirectory(prefix="diffsynth-scale-bench-") as temp:
            root = Path(work or temp) / f"{name}_{painter}"
            root.mkdir(parents=True, exist_ok=True)
            job, passes_s, exr_mib = shot_passes(root, name, max(lengths), painter)
            for count in lengths:
                rows.append(stylize(root, job, name, count, passes_s, exr_mib))
                print(rows[-1], flush=True)
    write_report("scale", rows)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", default="720p,1080p", help="style painter sizes: 720p, 1080p")
    parser.add_argument("--counts", default="60,120,240", help="style painter shot lengths")
    parser.add_argument("--diffusion", default="60,240", help="diffusion painter (tiny model, 512²) shot lengths; "
                        "empty for none")
    parser.add_argument("--work", type=Path, help="keep the shots and their passes here (and reuse them)")
    arguments = parser.parse_args()
    run([s for s in arguments.sizes.split(",") if s], [int(c) for c in arguments.counts.split(",") if c],
        [int(c) for c in arguments.diffusion.split(",") if c], arguments.work)
