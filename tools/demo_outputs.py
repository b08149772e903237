"""What ``make demo`` makes besides the strip: the mp4 preview, the contact sheet and the
deflicker comparison (the same shot stylized with smoothing off and on)."""

import json
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np

from ..engine.image_sequences import read_image, write_png
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


def write_contact_sheet(shot, stylized, path, frames=SHEET_FRAMES):
    """Guide (shading) / depth / soft edge / result for a few frames, one row each."""
    rows = []
    for frame in frames:
        name = f"frame_{frame:04d}"
        guide = np.load(shot / "passes" / "guide" / f"{name}.npy")
        rows.append([guide[..., :3], read_image(shot / "passes" / "depth" / f"{name}.png")[0],
                     read_image(shot / "passes" / "softedge" / f"{name}.png")[0],
                     read_image(Path(stylized) / f"{name}.png")[0]])
    write_png(path, sheet(rows, [f"frame {f}" for f in frames], ["guide (shading)", "depth", "soft edge", "result"]))
    return path


def stylize_without_smoothing(job_path, output):
    """Run the engine on a copy of the job with every smoothing off; returns the output folder."""
    job = json.loads(Path(job_path).read_text())
    job["output"] = str(output)
    job["smoothing"] = {**job.get("smoothing", {}), "steps": [], "final": False}
    copy = Path(output).parent / "job_without_smoothing.json"
    copy.write_text(json.dumps(job, indent=1))
    subprocess.run([sys.executable, "-m", "diffsynth_render.engine", "run", str(copy)], check=True)
    return Path(output)


def temporal_differences(folder):
    """Mean absolute difference between consecutive frames, per pair."""
    frames = [read_image(path)[0] for path in sorted(Path(folder).glob("frame_*.png"))]
    return np.array([np.abs(b - a).mean() for a, b in zip(frames, frames[1:])])


def write_deflicker_comparison(without, with_smoothing, path, frames=SHEET_FRAMES[1:3]):
    """Frames and their change to the next frame (×4), smoothing off and on, above a plot of the
    mean change per frame pair; returns (mean off, mean on)."""
    off, on = temporal_differences(without), temporal_differences(with_smoothing)
    rows = []
    for folder in (without, with_smoothing):
        images = []
        for frame in frames:
            current, following = (read_image(Path(folder) / f"frame_{f:04d}.png")[0] for f in (frame, frame + 1))
            images += [current, np.clip(np.abs(following - current) * 4, 0, 1)]
        rows.append(images)
    columns = [text for f in frames for text in (f"frame {f}", f"change to {f + 1} x4")]
    figure = sheet(rows, ["smoothing off", "smoothing on"], columns)
    plot = _plot({"off": off, "on": on}, figure.shape[1])
    write_png(path, np.concatenate([figure, plot], axis=0))
    return float(off.mean()), float(on.mean())


def _plot(series, width, height=160, margin=30):
    """A line plot of each series (red: off, blue: on) on a white tile."""
    tile = np.ones((height, width, 3), np.float32)
    top = max(float(max(values.max() for values in series.values())), 1e-6)
    colours = {"off": (0.1, 0.1, 0.85), "on": (0.85, 0.3, 0.1)}  # BGR for OpenCV, written as RGB below
    for name, values in series.items():
        xs = margin + np.arange(len(values)) * (width - 2 * margin) / max(len(values) - 1, 1)
        ys = height - margin - values / top * (height - 2 * margin)
        points = np.stack([xs, ys], axis=1).astype(np.int32)
        cv2.polylines(tile, [points], False, colours[name], 2, cv2.LINE_AA)
        cv2.putText(tile, f"smoothing {name}: mean {values.mean():.4f}", (margin, 16 + 16 * list(series).index(name)),
                    cv2.FONT_HERSHEY_SIMPLEX, 0.45, colours[name], 1, cv2.LINE_AA)
    cv2.putText(tile, "mean |frame t+1 - frame t| per frame pair", (margin, height - 8), cv2.FONT_HERSHEY_SIMPLEX,
                0.45, (0, 0, 0), 1, cv2.LINE_AA)
    return tile[..., ::-1]
