"""What ``make demo`` makes besides the strip: the mp4 preview, the contact sheet and the
deflicker comparison (the same shot painted per frame and deflickered, measured with its exact
motion)."""

import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np

from ..contract import FRAME_GLOB, frame_name
from ..engine.image_sequences import read_image, write_png
from ..shot.video_quality import gradient_energy, warp_errors, warp_from_next
from .contact_sheet import sheet

SHEET_FRAMES = (1, 8, 16, 24)


def write_preview(bpy, scene, path):
    """Render the scene's sequencer (the stylized strip) to an H.264 mp4 with Blender's FFmpeg."""
    render = scene.render
    saved = (render.filepath, render.use_sequencer, render.image_settings.file_format)
    if hasattr(render.image_settings, "media_type"):
        render.image_settings.media_type = "VIDEO"
    render.image_settings.file_format = "FFMPEG"
    render.ffmpeg.format, render.ffmpeg.codec = "MPEG4", "H264"
    render.filepath, render.use_sequencer = str(path), True
    try:
        bpy.ops.render.render(animation=True, scene=scene.name)
    finally:
        render.filepath, render.use_sequencer = saved[0], saved[1]
        if hasattr(render.image_settings, "media_type"):
            render.image_settings.media_type = "IMAGE"
        render.image_settings.file_format = saved[2]
    written = sorted(Path(path).parent.glob(Path(path).stem + "*.mp4"))
    if written and written[0] != Path(path):
        written[0].replace(path)  # Blender appends the frame range to movie names
    return Path(path)


def write_contact_sheet(shot, per_frame, deflickered, path, frames=SHEET_FRAMES):
    """Guide (shading) / depth / soft edge / painted per frame / deflickered for a few frames, a
    row each."""
    rows = []
    for frame in frames:
        name = frame_name(frame, "")
        guide = np.load(shot / "passes" / "guide" / f"{name}.npy")
        rows.append([guide[..., :3], read_image(shot / "passes" / "depth" / f"{name}.png")[0],
                     read_image(shot / "passes" / "softedge" / f"{name}.png")[0],
                     read_image(Path(per_frame) / f"{name}.png")[0], read_image(Path(deflickered) / f"{name}.png")[0]])
    columns = ["guide (shading)", "depth", "soft edge", "painted per frame", "deflickered"]
    write_png(path, sheet(rows, [f"frame {f}" for f in frames], columns))
    return path


def stylize_per_frame(job_path, output):
    """Run the engine on a copy of the job with every smoothing off; returns the output folder."""
    job = json.loads(Path(job_path).read_text())
    job["output"] = str(output)
    job["smoothing"] = {**job.get("smoothing", {}), "final": False}
    if job.get("painter") != "style":
        job["smoothing"]["steps"] = []
    copy = Path(output).parent / "job_per_frame.json"
    copy.write_text(json.dumps(job, indent=1))
    subprocess.run([sys.executable, "-m", "diffsynth_render.engine", "run", str(copy)], check=True)
    return Path(output)


@dataclasses.dataclass(frozen=True)
class Steadiness:
    """Flicker (mean warp error per frame pair) of the shot painted per frame and deflickered,
    and the share of the per-frame detail (gradient energy) the deflickered frames keep."""

    per_frame: np.ndarray
    deflickered: np.ndarray
    detail_kept: float

    @property
    def flicker_cut(self):
        return 1 - self.deflickered.mean() / self.per_frame.mean()


def steadiness(per_frame, deflickered, flow_folder):
    """The ``Steadiness`` of two renders of a shot, measured with its flows (the vector pass)."""
    flows = _stack(flow_folder, "*.npy", np.load)
    painted, blended = (_stack(folder, FRAME_GLOB, lambda p: read_image(p)[0]) for folder in (per_frame, deflickered))
    return Steadiness(warp_errors(painted, flows), warp_errors(blended, flows),
                      gradient_energy(blended) / gradient_energy(painted))


def _stack(folder, pattern, read):
    return np.stack([read(path) for path in sorted(Path(folder).glob(pattern))])


def write_deflicker_comparison(per_frame, deflickered, flow_folder, path, frames=SHEET_FRAMES[1:3]):
    """Two frames and how far each is from the next one warped onto it by the shot's motion (×4),
    per frame and deflickered, above a plot of the warp error per frame pair; returns the
    ``Steadiness``."""
    measured = steadiness(per_frame, deflickered, flow_folder)
    rows = []
    for folder in (per_frame, deflickered):
        images = []
        for frame in frames:
            current, following = (read_image(Path(folder) / frame_name(f))[0] for f in (frame, frame + 1))
            flow = np.load(Path(flow_folder) / frame_name(frame, ".npy"))
            images += [current, np.clip(np.abs(warp_from_next(following, flow[..., :2]) - current) * 4, 0, 1)]
        rows.append(images)
    columns = [text for f in frames for text in (f"frame {f}", f"vs {f + 1} warped, x4")]
    figure = sheet(rows, ["painted per frame", "deflickered"], columns)
    plot = _plot({"per frame": measured.per_frame, "deflickered": measured.deflickered}, figure.shape[1],
                 f"detail kept {measured.detail_kept:.0%}")
    write_png(path, np.concatenate([figure, plot], axis=0))
    return measured


def _plot(series, width, note, height=170, margin=30):
    """A line plot of each series (red: per frame, blue: deflickered) on a white tile."""
    tile = np.ones((height, width, 3), np.float32)
    top = max(float(max(values.max() for values in series.values())), 1e-6)
    colours = [(0.1, 0.1, 0.85), (0.85, 0.3, 0.1)]  # BGR for OpenCV, written as RGB below
    for (name, values), colour in zip(series.items(), colours):
        xs = margin + np.arange(len(values)) * (width - 2 * margin) / max(len(values) - 1, 1)
        ys = height - margin - values / top * (height - 2 * margin)
        points = np.stack([xs, ys], axis=1).astype(np.int32)
        cv2.polylines(tile, [points], False, colour, 2, cv2.LINE_AA)
        cv2.putText(tile, f"{name}: mean {values.mean():.5f}", (margin, 16 + 16 * list(series).index(name)),
                    cv2.FONT_HERSHEY_SIMPLEX, 0.45, colour, 1, cv2.LINE_AA)
    cv2.putText(tile, f"warp error (MSE, frame t vs t+1 warped by the vector pass) per frame pair; {note}",
                (margin, height - 8), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (0, 0, 0), 1, cv2.LINE_AA)
    return tile[..., ::-1]
