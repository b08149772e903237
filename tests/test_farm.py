"""Long shots on a farm: the chunk plan, chunked engine runs and their stitch, and the Open Job
Description template run by the real ``openjd`` runner on a shot rendered by Blender."""

import json
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import engine_command, first_and_length, strips

from diffsynth_render.chunking import CHUNKS_FOLDER, plan_chunks
from diffsynth_render.contract import WHOLE_SHOT, frame_name
from diffsynth_render.engine.image_sequences import read_image, read_sequence, write_png
from diffsynth_render.engine.job import JobError, read_job
from diffsynth_render.shot.video_quality import seam_errors, warp_errors
from diffsynth_render.testing.synthetic_passes import box_passes, write_pass_exr

OPENJD = str(Path(sys.executable).parent / "openjd")
FIRST = 5  # the farm shot's first frame


@pytest.mark.parametrize("frames, size, overlap", [(28, 8, 4), (96, 24, 8), (100, 48, 8), (12, 8, 4), (9, 5, 3)])
def test_chunks_cover_the_shot_and_overlap_as_asked(frames, size, overlap):
    chunks = plan_chunks(frames, size, overlap, window=overlap)
    assert chunks[0].start == 0 and chunks[-1].stop == frames
    assert all(later.start == earlier.start + size and earlier.stop - later.start == overlap
               for earlier, later in zip(chunks, chunks[1:]))
    assert all(overlap < len(chunk.frames) <= size + overlap for chunk in chunks)
    assert [c.number for c in chunks] == list(range(1, len(chunks) + 1)) and {c.count for c in chunks} == {len(chunks)}


@pytest.mark.parametrize("frames, size, overlap, window, message", [
    (96, 48, 4, 7, "overlap of 4 frames is below the blending window of 7"),
    (40, 48, 8, 7, "longer than the shot's 40 frames"),
    (96, 0, 8, 7, "chunk frames must be a whole number ≥ 1"),
    (96, 48, 8, WHOLE_SHOT, "window over the whole shot cannot be split"),
])
def test_bad_chunk_plans_say_what_to_change(frames, size, overlap, window, message):
    with pytest.raises(ValueError, match=message):
        plan_chunks(frames, size, overlap, window)


def _shot_job(root, frames=28, painter="style", chunks=None, **fields):
    """A job over synthetic pass EXRs (a box sliding over the ground) at 64×64, split into chunks
    of 8 frames overlapping by 4 (window 3) unless ``chunks`` says otherwise; returns its path."""
    folder = root / "passes" / "exr"
    folder.mkdir(parents=True, exist_ok=True)
    exrs = [str(write_pass_exr(folder / frame_name(f, ".exr"), box_passes(f, speed=1)).relative_to(root))
            for f in range(FIRST, FIRST + frames)]
    job = {"schema": 1, "output": ".", "first_frame": FIRST, "size": [64, 64], "painter": painter,
           "passes": {"frames": exrs, "derived": "passes"}, "smoothing": {"window": 3},
           "chunks": chunks or {"frames": 8, "overlap": 4}, **fields}
    if painter == "diffusion":
        job.update({"prompt": "a harbour", "preset": "fast-preview", "steps": 2,
                    "controls": {"depth": {"model": "tiny"}, "softedge": {"model": "tiny"}}})
    path = root / "job.json"
    path.write_text(json.dumps(job))
    return path


def _engine(*args, check=True):
    done = subprocess.run([*engine_command("")[:3], *map(str, args)], capture_output=True, text=True, timeout=300)
    if check:
        assert done.returncode == 0, done.stderr[-2000:]
    return done


@pytest.mark.parametrize("chunks, message", [
    ({"frames": 8, "overlap": 2}, "chunks: an overlap of 2 frames is below the blending window of 3"),
    ({"frames": 30, "overlap": 4}, "longer than the shot's 28 frames"),
    ({"frames": 8, "overlap": 4, "anchor": 2}, "chunks.anchor: frame 2 is not in the shot's frames 5–32"),
    ({"overlap": 4}, "chunks.frames: is missing"),
])
def test_bad_chunks_in_a_job_are_named(tmp_path, chunks, message):
    with pytest.raises(JobError, match=message):
        read_job(_shot_job(tmp_path, chunks=chunks))


def test_chunks_stitch_into_the_shot_and_stitch_refuses_what_is_missing(tmp_path):
    job = _shot_job(tmp_path)
    wrong = _engine("run", job, "--chunk", "1/4", check=False)
    assert wrong.returncode == 2 and "splits the shot into 3 chunks, not 4" in wrong.stderr
    for number in (1, 3):
        _engine("run", job, "--chunk", f"{number}/3")
    missing = _engine("stitch", job, check=False)
    assert missing.returncode == 2 and "chunk 2/3" in missing.stderr and "--chunk 2/3" in missing.stderr
    assert not (tmp_path / "final").exists()
    _engine("run", job, "--chunk", "2/3")
    _engine("stitch", job)
    frames = sorted(p.name for p in (tmp_path / "final").glob("frame_*.png"))
    assert frames == [frame_name(f) for f in range(FIRST, FIRST + 28)]
    chunk_one = sorted(p.name for p in (tmp_path / CHUNKS_FOLDER / "chunk_001").glob("frame_*.png"))
    assert chunk_one == [frame_name(f) for f in range(FIRST, FIRST + 12)]
    # A chunk of an edited job is not trusted.
    raw = json.loads(job.read_text())
    raw["style"] = {"builtin": 3}
    job.write_text(json.dumps(raw))
    stale = _engine("stitch", job, check=False)
    assert stale.returncode == 2 and "another version of the job" in stale.stderr


def test_missing_passes_are_a_clear_error(tmp_path):
    job = _shot_job(tmp_path)
    (tmp_path / "passes" / "exr" / frame_name(FIRST + 3, ".exr")).unlink()
    failed = _engine("run", job, "--chunk", "1/3", check=False)
    assert failed.returncode == 2 and "passes.frames: 1 file(s) missing" in failed.stderr
    assert not (tmp_path / CHUNKS_FOLDER / "chunk_001").exists()


def test_every_diffusion_chunk_sees_the_anchor_frame(tmp_path):
    """Two chunk runs that differ only in the anchor frame paint their frames differently: the
    anchor reaches every frame through cross-frame attention; the anchor itself is not written."""
    outputs = []
    for run, anchor in enumerate((FIRST, FIRST + 20, FIRST)):
        root = tmp_path / str(run)
        job = _shot_job(root, painter="diffusion", chunks={"frames": 8, "overlap": 4, "anchor": anchor})
        _engine("run", job, "--chunk", "1/3")
        frames, names, _ = read_sequence(root / CHUNKS_FOLDER / "chunk_001")
        assert names == [frame_name(f) for f in range(FIRST, FIRST + 12)]
        outputs.append(frames)
    assert np.array_equal(outputs[0], outputs[2])  # the same anchor: the same frames
    assert not np.array_equal(outputs[0], outputs[1])  # another anchor: other frames (it is attended)


@pytest.fixture
def farm(blender, tmp_path):
    """A 28-frame panning shot at 64×64 saved as a .blend, and the farm folder its
    farm-template wrote (style painter, window 3, chunks of 8 overlapping by 4: three chunks)."""
    from diffsynth_render.testing.panning_shot import build_panning_shot

    build_panning_shot(FIRST, 28, (64, 64))
    shot = tmp_path / "shot.blend"
    blender.ops.wm.save_as_mainfile(filepath=str(shot))
    out = tmp_path / "farm"
    done = _cli("farm-template", shot, "--out", out, "--chunk-frames", 8, "--overlap", 4, "--painter", "style",
                "--window", 3, "--save-blend", tmp_path / "stylized.blend")
    assert done.returncode == 0, done.stderr[-2000:]
    assert "3 chunks of frames 5-16, 13-24, 21-32 (overlap 4)" in done.stdout
    return shot, out


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "diffsynth_render.cli", *map(str, args)], capture_output=True,
                          text=True, timeout=600)


def _openjd(out, *args):
    done = subprocess.run([OPENJD, "run", str(out / "template.json"), "--job-param",
                           f"file://{out / 'parameter_values.json'}", *args],
                          capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    return done


def test_openjd_runs_the_farm_template_into_a_seamless_shot(blender, farm, tmp_path):
    shot, out = farm
    parameters = json.loads((out / "parameter_values.json").read_text())
    assert parameters["ShotFile"] == str(shot) and parameters["OutputDir"] == str(out)
    checked = subprocess.run([OPENJD, "check", str(out / "template.json")], capture_output=True, text=True)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    _openjd(out, "--step", "Stitch", "--run-dependencies")
    frames, names, _ = read_sequence(out / "final")
    assert names == [frame_name(f) for f in range(FIRST, FIRST + 28)]
    seams, inside = _seam_errors(out, frames)
    assert len(seams) == 2 and max(seams) <= 1.5 * inside, (seams, inside)
    # Chunks that disagree (the second one 0.1 brighter) still meet with no visible jump, where
    # cutting from one chunk to the next would show one: the step costs the stitched seams a
    # small part of what it costs the cut. (Not against the mean away from the seams: the seams
    # lie where this shot moves fastest, and its pairs' errors there are ~3× the calmest's.)
    for path in (out / CHUNKS_FOLDER / "chunk_002").glob("frame_*.png"):
        image, _ = read_image(path)
        write_png(path, np.clip(image + 0.1, 0, 1))
    _engine("stitch", out / "job.json")
    stepped, inside = _seam_errors(out, read_sequence(out / "final")[0])
    cut = np.concatenate([read_sequence(out / CHUNKS_FOLDER / f"chunk_00{k}")[0][part]
                          for k, part in ((1, slice(0, 10)), (2, slice(2, 10)), (3, slice(2, None)))])
    cut_seams = _seam_errors(out, cut)[0]
    assert max(cut_seams) > 1.5 * inside
    assert all(step - plain <= 0.25 * (jump - plain) for step, plain, jump in zip(stepped, seams, cut_seams)), \
        (stepped, seams, cut_seams)
    _openjd(out, "--step", "Strip")
    blender.ops.wm.open_mainfile(filepath=str(tmp_path / "stylized.blend"))
    (strip,) = strips(blender.context.scene)
    assert first_and_length(strip) == (FIRST, 28) and len(strip.elements) == 28


def _seam_errors(out, frames):
    """The farm shot's ``seam_errors`` for ``frames``, measured with its exact motion."""
    flows = np.stack([np.load(p) for p in sorted((out / "passes" / "flow").glob("*.npy"))])
    chunks = read_job(out / "job.json").chunks
    return seam_errors(warp_errors(frames, flows), [(b.start, a.stop) for a, b in zip(chunks, chunks[1:])])


def test_a_killed_stylize_task_is_redone_to_the_same_frames(farm):
    _, out = farm
    _openjd(out, "--step", "Stylize", "--run-dependencies")
    chunk = out / CHUNKS_FOLDER / "chunk_002"
    first = {p.name: p.read_bytes() for p in chunk.iterdir()}
    job = out / "job.json"
    task = subprocess.Popen(engine_command(job) + ["--chunk", "2/3"], stdout=subprocess.PIPE, text=True)
    for line in task.stdout:
        if json.loads(line).get("stage") == "paint":
            task.send_signal(signal.SIGKILL)
            break
    task.wait()
    assert {p.name: p.read_bytes() for p in chunk.iterdir()} == first  # the complete chunk is left as it was
    _openjd(out, "--step", "Stylize", "--task-param", "Chunk=2")
    again = {p.name: p.read_bytes() for p in chunk.iterdir()}
    assert {n: again[n] for n in first if n.endswith(".png")} == {n: b for n, b in first.items() if n.endswith(".png")}
    assert sorted(again) == sorted(first)
    assert not list(chunk.parent.glob(".*partial*"))


@pytest.mark.parametrize("args, message", [
    (("--chunk-frames", 8, "--overlap", 2, "--window", 3), "overlap of 2 frames is below the blending window of 3"),
    (("--chunk-frames", 40), "longer than the shot's 28 frames"),
    (("--chunk-frames", 8, "--anchor", 99), "--anchor 99 is not one of the shot's frames 5-32"),
])
def test_farm_template_refuses_bad_parameters(farm, tmp_path, args, message):
    shot, _ = farm
    done = _cli("farm-template", shot, "--out", tmp_path / "other", "--painter", "style", *args)
    assert done.returncode == 2 and message in done.stderr, done.stderr[-2000:]
    assert not (tmp_path / "other" / "template.json").exists()


def test_a_chunk_paints_the_shots_keyframes_within_it_and_its_ends(tmp_path):
    job = read_job(_shot_job(tmp_path, keyframes={"every": 4}))
    part = job.part(8, 20, tmp_path / "part")
    assert part.keyframes == (0, 4, 8, 11) and part.first_frame == FIRST + 8 and part.span == (8, 20)
    assert [len(files) for files in (part.guides[0], part.flow, *part.controls.values())] == [12, 12]
