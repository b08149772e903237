"""Footage (frames made elsewhere, no passes): motion estimated with DeepFlow optical flow and checked
forward–backward, a soft-edge control, and jobs made from footage run by the engine."""

import json

import numpy as np
import pytest
import torch

from diffsynth_render.contract import frame_name
from diffsynth_render.engine.__main__ import main
from diffsynth_render.engine.deflicker import BlendSettings, PatchBlender
from diffsynth_render.engine.estimated_motion import EstimatedMotion
from diffsynth_render.engine.footage import soft_edges
from diffsynth_render.engine.image_sequences import write_png
from diffsynth_render.engine.job import JobError, read_job
from diffsynth_render.shot.frames import as_frames
from diffsynth_render.testing.synthetic_sequences import moving_shot, occluding_shot

SIZE, STEP = 96, (1, 2)


def _footage(count=6, seed=2):
    frames, _ = moving_shot(count, SIZE, 3, seed, step=STEP)
    return frames


def test_estimated_motion_finds_the_cameras_move_and_trusts_it_inside_the_picture():
    motion = EstimatedMotion(as_frames(_footage()))
    field = motion.field(2)
    inner = (slice(8, -8), slice(8, -8))
    # frame i shows the canvas moved by STEP: its pixels are found STEP earlier in frame i+1
    assert np.abs(np.median(field[inner][..., 0:2].reshape(-1, 2), axis=0) + STEP).max() < 0.25
    assert np.abs(np.median(field[inner][..., 2:4].reshape(-1, 2), axis=0) - STEP).max() < 0.25
    assert field[inner][..., 4:6].mean() > 0.95
    # the last row and columns come from outside frame i−1 (STEP on): not trusted
    assert field[-1:, :, 5].mean() < 0.5 and field[:, -2:, 5].mean() < 0.5
    first, last = motion.field(0), motion.field(5)
    assert not first[..., 2:4].any() and not first[..., 5].any()  # nothing before the first frame
    assert not last[..., 0:2].any() and not last[..., 4].any()


def test_small_frames_are_enlarged_for_the_flow():
    """DeepFlow's coarsest level is 25 px: a 32 px frame's 2 px move is found only once enlarged."""
    frames, _ = moving_shot(4, 32, 3, seed=7, step=STEP)
    field = EstimatedMotion(as_frames(frames)).field(1)
    assert np.abs(np.median(field[6:-6, 6:-6, 0:2].reshape(-1, 2), axis=0) + STEP).max() < 0.25


def test_an_opencv_without_its_contrib_modules_is_named(monkeypatch):
    import cv2

    monkeypatch.delattr(cv2, "optflow")
    with pytest.raises(RuntimeError, match="opencv-contrib-python-headless"):
        EstimatedMotion(as_frames(_footage(2))).field(0)


def test_what_is_hidden_in_the_next_frame_is_not_trusted():
    frames, _ = occluding_shot(4, SIZE, 3, seed=4, square=32, step=(0, 4))
    field = EstimatedMotion(as_frames(frames)).field(1)
    top, left = SIZE // 3, SIZE // 6 + 4  # frame 1's square; the background just right of it is covered next
    covered = field[top + 8: top + 24, left + 32: left + 36, 4]
    assert covered.mean() < 0.5
    assert field[top + 8: top + 24, left + 8: left + 24, 4].mean() > 0.9  # the square itself moves on, seen
    assert field[:top - 4, :, 4].mean() > 0.9  # the still background above it


def test_trusted_estimated_motion_weights_the_blend():
    frames = _footage(8)
    flows = EstimatedMotion(as_frames(frames)).flows
    flows = np.stack(list(flows))
    blender = PatchBlender(frames, BlendSettings(window=2), flows)
    assert blender.fields.trusted and blender.fields.weighted
    _, weight = blender.fields.get(3, 5)
    assert weight is not None and 0.5 < float(weight.mean()) <= 1
    untrusted = flows.copy()
    untrusted[4, ..., 4] = 0  # the step from frame 4 to 5 fails everywhere: nothing of 5 reaches 3
    _, weight = PatchBlender(frames, BlendSettings(window=2), untrusted).fields.get(3, 5)
    assert float(weight.max()) == 0
    _, weight = PatchBlender(frames, BlendSettings(window=2), untrusted).fields.get(5, 3)  # the way back holds
    assert float(weight.mean()) > 0.5
    assert torch.is_tensor(weight)


def test_soft_edges_are_the_pictures_edges():
    picture = np.zeros((64, 64, 3), np.float32)
    picture[:, 32:] = 1
    edges = soft_edges(picture)[..., 0]
    assert edges.shape == (64, 64) and edges[:, 31:33].min() == 1 and edges[:, :25].max() == 0 == edges[:, 40:].max()


def _footage_job(root, frames=None, painter=None, **fields):
    """A job on footage frames written as PNGs into root/footage; returns its path."""
    frames = _footage() if frames is None else frames
    (root / "footage").mkdir(parents=True, exist_ok=True)
    for index, frame in enumerate(frames):
        write_png(root / "footage" / frame_name(index + 1), frame)
    job = {"schema": 1, "output": "out", "size": [SIZE, SIZE], "footage": {"frames": "footage", "derived": "derived"},
           "smoothing": {"window": 2}, **(painter or {"painter": "style"}), **fields}
    path = root / "job.json"
    path.write_text(json.dumps(job))
    return path


def test_a_style_job_on_footage_derives_its_motion_once_and_paints_every_frame(tmp_path):
    path = _footage_job(tmp_path)
    assert main(["run", str(path), "--progress", "jsonl"]) == 0
    assert sorted(p.name for p in (tmp_path / "out").glob("frame_*.png")) == [frame_name(i) for i in range(1, 7)]
    flow = np.load(tmp_path / "derived" / "flow" / frame_name(3, ".npy"))
    assert flow.shape == (SIZE, SIZE, 6) and flow.dtype == np.float16
    written = (tmp_path / "derived" / "flow" / frame_name(3, ".npy")).stat().st_mtime_ns
    assert main(["run", str(path), "--progress", "jsonl"]) == 0  # another style, say: nothing derived again
    assert (tmp_path / "derived" / "flow" / frame_name(3, ".npy")).stat().st_mtime_ns == written


def test_a_diffusion_job_on_footage_gets_its_soft_edges_and_starts_from_the_frames(tmp_path):
    painter = {"painter": "diffusion", "prompt": "a harbour", "preset": "fast-preview", "steps": 2,
               "controls": {"softedge": {"model": "tiny"}}, "image_strength": 0.5}
    path = _footage_job(tmp_path, painter=painter)
    assert main(["run", str(path), "--progress", "jsonl"]) == 0
    assert len(list((tmp_path / "out").glob("frame_*.png"))) == 6
    assert len(list((tmp_path / "derived" / "softedge").glob("*.png"))) == 6


@pytest.mark.parametrize("change, message", [
    (lambda job: job["controls"].update(depth={"model": "tiny"}), "controls.depth: footage give only softedge"),
    (lambda job: job.update(passes={"frames": "footage", "derived": "d"}), "footage: a job is made from passes or "
                                                                             "from footage, not both"),
    (lambda job: job.update(guides=["footage"]), "guides: comes from footage: leave it out"),
])
def test_bad_footage_jobs_are_named(tmp_path, change, message):
    path = _footage_job(tmp_path, painter={"painter": "diffusion", "prompt": "a harbour",
                                           "controls": {"softedge": {"model": "tiny"}}})
    job = json.loads(path.read_text())
    change(job)
    path.write_text(json.dumps(job))
    with pytest.raises(JobError, match=message):
        read_job(path)


# ---- engine stylize-video -----------------------------------------------------------------------

def _video(path, count=6, size=(100, 90)):
    """An MJPG AVI of ``count`` frames of moving texture, ``size`` (width, height)."""
    import cv2

    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 24, size)
    for frame in _footage(count):
        writer.write(cv2.resize((np.asarray(frame)[..., ::-1] * 255).astype(np.uint8), size))
    writer.release()
    return path


def test_a_video_is_stylized_into_versions_and_its_frames_are_taken_once(tmp_path):
    video, out = _video(tmp_path / "clip.avi"), tmp_path / "out"
    assert main(["stylize-video", str(video), "--out", str(out), "--window", "2", "--progress", "jsonl"]) == 0
    names = [frame_name(i) for i in range(1, 7)]
    assert sorted(p.name for p in (out / "stylized_v001").glob("frame_*.png")) == names
    assert sorted(p.name for p in (out / "footage").glob("frame_*.png")) == names
    job = json.loads((out / "jobs" / "job_v001.json").read_text())
    assert job["size"] == [96, 88] and job["painter"] == "style"  # rounded to multiples of 8
    taken = {p.name: p.stat().st_mtime_ns for p in (out / "footage").iterdir()}
    assert main(["stylize-video", str(video), "--out", str(out), "--style", "3", "--progress", "jsonl"]) == 0
    assert (out / "stylized_v002").is_dir() and (out / "stylized_v001").is_dir()
    assert {p.name: p.stat().st_mtime_ns for p in (out / "footage").iterdir()} == taken


def test_a_folder_of_frames_with_a_prompt_gets_the_diffusion_painter_from_the_frames(tmp_path):
    folder, out = tmp_path / "frames", tmp_path / "out"
    folder.mkdir()
    for index, frame in enumerate(_footage(4)):
        write_png(folder / f"shot{index:02d}.png", frame)
    assert main(["stylize-video", str(folder), "--out", str(out), "--prompt", "a harbour", "--steps", "2",
                 "--preset", "fast-preview", "--size", "64x64", "--progress", "jsonl"]) == 0
    job = json.loads((out / "jobs" / "job_v001.json").read_text())
    assert list(job["controls"]) == ["softedge"] and job["image_strength"] == 0.6 and job["size"] == [64, 64]
    assert len(list((out / "stylized_v001").glob("frame_*.png"))) == 4


@pytest.mark.parametrize("make, message", [
    (lambda path: path.write_text("not a video"), "is not a video OpenCV can read"),
    (lambda path: path.mkdir(), "holds no frames"),
    (lambda path: [path.mkdir(), write_png(path / "a.png", np.zeros((64, 64, 3))),
                   write_png(path / "b.png", np.zeros((72, 64, 3)))], "every frame must have one size"),
    (lambda path: [path.mkdir(), (path / "a.png").write_bytes(b"broken")], "cannot be read as a picture"),
    (lambda path: None, "does not exist"),
])
def test_bad_footage_is_named_and_nothing_is_written(tmp_path, capsys, make, message):
    make(tmp_path / "input")
    out = tmp_path / "new" / "out"
    assert main(["stylize-video", str(tmp_path / "input"), "--out", str(out)]) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "new").exists()
