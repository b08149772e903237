"""Footage: stylizing frames made elsewhere, with motion estimated from the frames themselves.

The footage is the rendered shot (``rendered_shot``: the sample shot with procedural textures that
stick to its surfaces, rendered by Cycles), used as a video would be: the engine sees its frames
only. Its vector pass is kept aside to measure with, independent of what the engine estimates:

* the estimate's accuracy: end-point error (pixels) of the DeepFlow flow to the next frame against the
  vector pass, over the pixels whose true motion passes a forward–backward check, and the share
  of those pixels the estimate trusts (and its error there);
* the footage painted frame by frame by the built-in style painter (the footage its own base
  image), then made steady by patch blending: without motion (the standalone deflicker, which
  matches the footage and the frames' detail), with the estimated motion, and with the exact
  motion and surfaces of the passes (the add-on path, for reference): flicker left (warp error
  by the vector pass, share of per-frame painting's) and detail kept (gradient energy);
* seconds per frame at 720p of estimating the motion and of the soft-edge control;
* the whole path at 720p: ``engine stylize-video`` on the footage scaled up, as a folder of
  frames (played forward and back to make it longer), 24 and 96 frames: seconds per frame of the
  run and of each stage, and the process's peak memory (it should not grow with the clip).

Run alone: ``.venv/bin/python -m diffsynth_render.bench.footage``.
"""

import json
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

from ..contract import STYLE_WINDOW
from ..shot.frames import as_frames
from ..shot.guides import surfaces
from ..shot.video_quality import consistent_motion, gradient_energy, warp_errors
from .rendered_shot import rendered_shot
from .report import write_report

SIZE = (512, 288)
TIMED_SIZE = (1280, 720)


def run(size=SIZE, window=STYLE_WINDOW):
    """Measure and report; returns the rows."""
    from ..engine.estimated_motion import EstimatedMotion

    clean, guides, flows = rendered_shot(size)
    estimated = np.stack(list(EstimatedMotion(as_frames(clean)).flows))
    rows = accuracy_rows(estimated, flows)
    write_report("footage_motion", rows)
    painted_rows = painting_rows(clean, guides, flows, estimated, window)
    write_report("footage_painted", painted_rows)
    timing = timing_rows(clean)
    write_report("footage_seconds", timing)
    whole = whole_path_rows(clean)
    write_report("footage_stylize_video", whole)
    return rows + painted_rows + timing + whole


def accuracy_rows(estimated, flows):
    """The estimate to the next frame against the vector pass's, on consistent pixels."""
    errors, trusted, trusted_errors, motion = [], [], [], []
    for index in range(len(flows) - 1):
        truth = consistent_motion(flows[index], flows[index + 1])
        error = np.linalg.norm(estimated[index, ..., 0:2] - flows[index, ..., 0:2], axis=-1)[truth]
        trust = estimated[index, ..., 4][truth] > 0.5
        errors.append(error.mean())
        trusted.append(trust.mean())
        trusted_errors.append(error[trust].mean())
        motion.append(np.linalg.norm(flows[index, ..., 0:2], axis=-1)[truth].mean())
    return [{"case": "DeepFlow, against the vector pass",
             "true motion px": float(np.mean(motion)),
             "end-point error px": float(np.mean(errors)), "share trusted": float(np.mean(trusted)),
             "error where trusted px": float(np.mean(trusted_errors))}]


def painting_rows(clean, guides, flows, estimated, window):
    """Flicker left and detail kept of the painted footage made steady, by case."""
    from ..engine.deflicker import BlendSettings, PatchBlender
    from ..engine.deflicker.detail import frame_detail
    from ..engine.style_painter import StylePainter, StyleSettings

    painter = StylePainter(StyleSettings(), "cpu")
    painted = np.stack([painter(frame) for frame in clean])
    per_frame, energy = float(warp_errors(painted, flows).mean()), gradient_energy(painted)
    settings = BlendSettings(window=window, keep_detail=True)  # a job's default
    cases = [("painted frame by frame", lambda: painted),
             ("no motion (standalone deflicker: footage + the frames' detail matched)",
              lambda: PatchBlender(clean, settings, texture=frame_detail(painted))(painted)),
             ("estimated motion (DeepFlow, trusted steps): footage jobs", lambda: PatchBlender(clean, settings,
                                                                                          estimated)(painted)),
             ("exact motion and surfaces (the passes: add-on path, reference)",
              lambda: PatchBlender(guides, settings, flows, surfaces(guides))(painted))]
    rows = []
    for name, make in cases:
        started = time.perf_counter()
        result = make()
        rows.append({"case": name, "flicker left": float(warp_errors(result, flows).mean()) / per_frame,
                     "detail kept": gradient_energy(result) / energy, "seconds": time.perf_counter() - started})
    return rows


def timing_rows(clean, size=TIMED_SIZE, frames=8):
    """Seconds per frame at ``size`` of the motion estimate (both steps of a frame, checked) and
    of the soft-edge control, on the footage scaled up to it."""
    from ..engine.estimated_motion import EstimatedMotion
    from ..engine.footage import soft_edges

    scaled = np.stack([cv2.resize(frame, size, interpolation=cv2.INTER_CUBIC) for frame in clean[:frames]])
    motion = EstimatedMotion(as_frames(np.clip(scaled, 0, 1)))
    started = time.perf_counter()
    for index in range(frames):
        motion.field(index)
    estimate = (time.perf_counter() - started) / frames
    started = time.perf_counter()
    for frame in scaled:
        soft_edges(frame)
    edges = (time.perf_counter() - started) / frames
    return [{"size": f"{size[0]}x{size[1]}", "motion s/frame": estimate, "soft edges s/frame": edges}]


def whole_path_rows(clean, counts=(24, 96), size=TIMED_SIZE):
    """``engine stylize-video`` (style painter, every default) on ``clean`` scaled to ``size``, as
    a folder of ``count`` frames played forward and back: its seconds per frame, all and by stage,
    and its peak resident memory."""
    from .scale import STAGES, measured

    scaled = [cv2.resize(frame, size, interpolation=cv2.INTER_CUBIC) for frame in clean]
    pictures = [np.clip(np.rint(frame[..., ::-1] * 255), 0, 255).astype(np.uint8) for frame in scaled]
    rows = []
    with tempfile.TemporaryDirectory(prefix="diffsynth-footage-bench-") as temp:
        for count in counts:
            folder, out = Path(temp) / f"frames_{count}", Path(temp) / f"out_{count}"
            folder.mkdir()
            for number in range(count):
                lap, step = divmod(number, len(pictures))
                cv2.imwrite(str(folder / f"f{number:04d}.png"), pictures[step if lap % 2 == 0 else -1 - step])
            seconds, mib = measured("diffsynth_render.engine", "stylize-video", folder, "--out", out)
            timings = json.loads((out / "stylized_v001" / "result.json").read_text())["timings_s"]
            row = {"size": f"{size[0]}x{size[1]}", "frames": count, "total s/frame": seconds / count}
            row.update({f"{stage} s": timings[stage] / count for stage in STAGES if stage in timings})
            rows.append({**row, "peak MiB": round(mib)})
    return rows


if __name__ == "__main__":
    run()
