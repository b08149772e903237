"""The engine worker: ``python -m diffsynth_render.engine run JOB.json`` with the tiny model."""

import json
import signal
import subprocess

import cv2
import numpy as np
import pytest
from conftest import engine_command, run_engine

from diffsynth_render.contract import cancel_file
from diffsynth_render.engine.__main__ import main

SIZE, FRAMES = 64, 4
PROGRESS_KEYS = {"event", "stage", "step", "steps", "frames_done", "frames", "fraction", "eta_s"}


def _write_frames(folder, count, size=SIZE, seed=0):
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for index in range(count):
        cv2.imwrite(str(folder / f"{index:04d}.png"), (rng.random((size, size, 3)) * 255).astype(np.uint8))


@pytest.fixture
def job(tmp_path):
    """A valid job file over random frames; returns (path, the job dict) — rewrite to change it."""
    for index, name in enumerate(("depth", "softedge", "shaded")):
        _write_frames(tmp_path / name, FRAMES, seed=index)
    raw = {"schema": 1, "output": "out", "prompt": "a castle at dusk", "size": [SIZE, SIZE], "preset": "stylize",
           "steps": 4, "seed": 3, "first_frame": 11,
           "controls": {"depth": {"frames": "depth"}, "softedge": {"frames": "softedge", "weight": 0.8}},
           "guides": ["shaded"], "smoothing": {"window": 2, "iterations": 2}}
    path = tmp_path / "job.json"
    path.write_text(json.dumps(raw))
    return path, raw


def _out_files(folder):
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def test_run_writes_frames_result_and_monotone_progress(job):
    path, _ = job
    status, events = run_engine(path)
    assert status == 0, events[-1]
    progress = [e for e in events if e["event"] == "progress"]
    assert all(set(e) == PROGRESS_KEYS for e in progress)
    assert {e["stage"] for e in progress} == {"denoise", "decode", "blend", "encode", "write"}
    fractions = [e["fraction"] for e in progress]
    assert fractions == sorted(fractions) and fractions[-1] == 1
    assert [e["step"] for e in progress] == sorted(e["step"] for e in progress)
    assert events[-1] == {"event": "done", "output": str(path.parent / "out"), "frames": FRAMES,
                          "seconds": events[-1]["seconds"]}
    out = path.parent / "out"
    assert _out_files(out) == [f"frame_{11 + i:04d}.png" for i in range(FRAMES)] + ["result.json"]
    assert cv2.imread(str(out / "frame_0011.png")).shape == (SIZE, SIZE, 3)
    result = json.loads((out / "result.json").read_text())
    assert result["settings"]["smoothing_steps"] == [0, 1, 2, 3]
    assert result["device"] == "cpu" and result["model_hashes"] == {"tiny": "seed-20230807"}
    assert {"read", "load", "denoise", "decode", "blend", "encode", "write", "total"} <= set(result["timings_s"])


def test_the_first_frames_estimate_is_shown_every_few_steps(job):
    path, _ = job
    status, events = run_engine(path)
    assert status == 0, events[-1]
    previews = [e for e in events if e["event"] == "step-preview"]
    assert [(e["step"], e["steps"]) for e in previews] == [(1, 4), (2, 4), (3, 4)]  # every step of 4; not the last
    assert {e["picture"] for e in previews} == {str(path.with_suffix(".step.png"))}
    assert cv2.imread(previews[-1]["picture"]).shape == (SIZE, SIZE, 3)


def test_an_image_to_image_start_denoises_only_the_later_steps(job):
    path, raw = job
    path.write_text(json.dumps({**raw, "image_strength": 0.5, "base_image": "clay"}))
    status, events = run_engine(path)
    assert status == 0, events[-1]
    assert {e["step"] for e in events if e.get("stage") == "denoise"} == {2, 3}  # 4 steps, half of them
    result = json.loads((path.parent / "out" / "result.json").read_text())
    assert result["settings"]["strength"] == 0.5


def test_a_gallery_of_a_diffusion_job_is_refused(job, capsys):
    path, _ = job
    assert main(["run", str(path), "--gallery", "--progress", "jsonl"]) == 2
    event = json.loads(capsys.readouterr().out.splitlines()[-1])
    assert event["problems"] == ["painter: the gallery shows the style painter's styles, not the diffusion painter's"]
    assert not (path.parent / "out").exists()


def _cancel_run(job, on_step, cancel):
    """Run ``job`` with 20 steps, call ``cancel(process)`` at step ``on_step``; (status, events after)."""
    path, raw = job
    path.write_text(json.dumps({**raw, "steps": 20}))
    with subprocess.Popen(engine_command(path), stdout=subprocess.PIPE, text=True) as process:
        for line in process.stdout:
            event = json.loads(line)
            if event.get("stage") == "denoise" and event["step"] == on_step:
                cancel(process)
                break
        after = [json.loads(line) for line in process.stdout]
        return process.wait(), after


def test_cancel_file_stops_within_a_step_and_leaves_nothing(job):
    status, after = _cancel_run(job, 2, lambda process: cancel_file(job[0]).write_text(""))
    assert status == 130
    assert after[-1]["event"] == "error" and after[-1]["kind"] == "cancelled"
    assert all(e["step"] <= 3 for e in after[:-1])  # stopped within a step of the request
    assert sorted(p.name for p in job[0].parent.iterdir()) == ["depth", "job.json", "shaded", "softedge"]


def test_sigterm_cancels(job):
    status, after = _cancel_run(job, 0, lambda process: process.send_signal(signal.SIGTERM))
    assert status == 130 and after[-1]["kind"] == "cancelled"


BAD_FIELDS = [
    (lambda j: j.pop("prompt"), "prompt: is missing"),
    (lambda j: j.update(size=[60, 64]), "size: 60x64"),
    (lambda j: j.update(size=[32, 32]), "from 64 to 4096"),
    (lambda j: j.update(size=[8192, 64]), "8192x64: each side must be from 64 to 4096"),
    (lambda j: j.update(steps=151), "steps: must be between 1 and 150"),
    (lambda j: j.update(seed=2 ** 31), "seed: must be between 0 and 2147483647"),
    (lambda j: j.update(smoothing={"window": 501}), "smoothing.window: must be a number of frames from 1 to 500"),
    (lambda j: j.update(size="512"), "size: must be list"),
    (lambda j: j.update(preset="cinematic"), "preset: must be one of"),
    (lambda j: j.update(device="tpu"), "device: must be one of"),
    (lambda j: j.update(schema=9), "schema: version 9"),
    (lambda j: j.update(steps=0), "steps: must be between 1"),
    (lambda j: j.update(seed=-1), "seed: must be between 0"),
    (lambda j: j.update(guidance_scale="high"), "guidance_scale: must be int or float"),
    (lambda j: j.update(image_strength=1.5), "image_strength: must be between 0 and 1"),
    (lambda j: j.update(base_image="photo"), "base_image: must be one of normals, clay"),
    (lambda j: j["controls"]["depth"].update(frames="nowhere"), "controls.depth.frames: "),
    (lambda j: j["controls"]["depth"].update(weight=-1), "controls.depth.weight: must be between 0"),
    (lambda j: j["controls"]["softedge"].update(start=0.9, end=0.5), "controls.softedge: ControlNet start"),
    (lambda j: j.update(controls={}), "controls: needs at least one"),
    (lambda j: j.update(guides=[]), "guides: at least one"),
    (lambda j: j.update(guides=["shaded", "fewer"]), "frames: every sequence needs as many frames"),
    (lambda j: j["smoothing"].update(steps=[0, 9]), "smoothing.steps: smoothing steps [9]"),
    (lambda j: j["smoothing"].update(window=0), "smoothing.window: must be a number of frames"),
    (lambda j: j["smoothing"].update(mode="slow"), "smoothing.mode: must be one of fast, balanced"),
    (lambda j: j.update(cross_frame={"neighbours": -2}), "cross_frame.neighbours: must be ≥ 0"),
    (lambda j: j.update(model={"base": 7}), "model.base: must be text"),
    (lambda j: j.update(first_frame=-3), "first_frame: must be ≥ 0"),
]


@pytest.mark.parametrize("change, message", BAD_FIELDS, ids=[m.split(":")[0] for _, m in BAD_FIELDS])
def test_each_invalid_field_is_named(job, change, message, capsys):
    path, raw = job
    _write_frames(path.parent / "fewer", FRAMES - 1)
    change(raw)
    path.write_text(json.dumps(raw))
    assert main(["run", str(path), "--progress", "jsonl"]) == 2
    event = json.loads(capsys.readouterr().out.splitlines()[-1])
    assert event["event"] == "error" and event["kind"] == "job"
    assert any(message in problem for problem in event["problems"]), event["problems"]
    assert len(event["problems"]) == 1, event["problems"]
    assert not (path.parent / "out").exists()


def test_unreadable_job_file(tmp_path, capsys):
    (tmp_path / "job.json").write_text("{not json")
    assert main(["run", str(tmp_path / "job.json")]) == 2
    assert "is not valid JSON" in capsys.readouterr().err
    assert main(["run", str(tmp_path / "missing.json")]) == 2
    assert "cannot read" in capsys.readouterr().err


@pytest.mark.parametrize("damage, kind, status, message", [
    (lambda folder: (folder / "depth" / "0002.png").write_bytes(b"\x89PNG broken"), "input", 2,
     "cannot read image"),
    (lambda folder: _write_frames(folder / "depth", FRAMES, size=SIZE + 8), "input", 2,
     "0000.png is 72x72, but the job's size is 64x64"),
])
def test_bad_frames_give_one_error_event(job, damage, kind, status, message):
    path, _ = job
    damage(path.parent)
    code, events = run_engine(path)
    assert code == status
    assert [e["event"] for e in events] == ["error"]
    assert events[0]["kind"] == kind and any(message in p for p in events[0]["problems"]), events[0]


def test_an_alpha_channel_in_the_inputs_is_left_out_with_a_note(job, capsys):
    path, raw = job
    main(["run", str(path)])
    opaque = {p.name: p.read_bytes() for p in (path.parent / "out").glob("*.png")}
    capsys.readouterr()
    rng = np.random.default_rng()
    for frame in sorted((path.parent / "depth").iterdir())[1:]:  # the first frame stays RGB
        colour = cv2.imread(str(frame))
        alpha = (rng.random((SIZE, SIZE, 1)) * 255).astype(np.uint8)
        cv2.imwrite(str(frame), np.concatenate([colour, alpha], axis=2))
    assert main(["run", str(path)]) == 0
    note = "controls.depth.frames: the alpha channel of its PNGs is not used (0001.png is the first)"
    assert capsys.readouterr().err.splitlines()[-1] == f"  note: {note}"
    out = path.parent / "out"
    assert json.loads((out / "result.json").read_text())["notes"] == [note]
    assert {p.name: p.read_bytes() for p in out.glob("*.png")} == opaque  # the colour alone was used


def test_missing_model_file_gives_a_model_error(job):
    path, raw = job
    raw["controls"]["depth"]["model"] = str(path.parent / "missing_depth.safetensors")
    path.write_text(json.dumps(raw))
    code, events = run_engine(path)
    assert code == 3 and events[-1]["kind"] == "model" and "missing_depth.safetensors" in events[-1]["message"]
    assert "frame_0011.png" not in _out_files(path.parent / "out")


@pytest.mark.parametrize("error, kind, status", [
    ("cuda", "out-of-memory", 4), ("cpu", "out-of-memory", 4), ("other", "internal", 1)])
def test_failures_become_one_clear_error_event(error, kind, status, capsys):
    import torch

    from diffsynth_render.engine import process_control

    raised = {"cuda": torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB"),
              "cpu": RuntimeError("[enforce fail] DefaultCPUAllocator: can't allocate memory: you tried 8 GB"),
              "other": KeyError("unet")}[error]
    assert process_control.failure(process_control.Events(jsonl=True), raised) == status
    event = json.loads(capsys.readouterr().out)
    assert event["event"] == "error" and event["kind"] == kind
    if kind == "out-of-memory":
        assert "lower the size or batch_frames" in event["message"]


def test_a_cancel_file_written_before_the_engine_started_counts(job):
    path, _ = job
    cancel_file(path).write_text("")
    status, events = run_engine(path)
    assert status == 130 and events[-1]["kind"] == "cancelled"
    assert not cancel_file(path).exists() and not (path.parent / "out").exists()  # the next run starts clean


def test_keyframe_mode_runs_the_diffusion_loop_on_the_keyframes_alone(job):
    path, raw = job
    path.write_text(json.dumps({**raw, "keyframes": [11, 13]}))
    status, events = run_engine(path)
    assert status == 0, events[-1]
    denoised = [e for e in events if e.get("stage") == "denoise"]
    assert {e["frames"] for e in denoised} == {2}  # frames 11 and 13 (indices 0 and 2) only
    carried = [e for e in events if e.get("stage") == "carry"]
    assert carried and carried[-1]["frames_done"] == carried[-1]["frames"]
    assert _out_files(path.parent / "out") == [f"frame_{11 + i:04d}.png" for i in range(FRAMES)] + ["result.json"]
