"""Stylize end to end in real Blender with the embedded tiny model: strip, files, save/reload,
cancel, and every bad input leaving the scene as it was."""

import json
from pathlib import Path

import conftest
import pytest
from conftest import FRAMES, SIZE, first_and_length, strips


def build_shot(bpy, output):
    """The conftest's shot, painted by the embedded tiny diffusion model in a few steps."""
    scene = conftest.build_shot(bpy, output)
    settings = scene.diffsynth
    settings.painter = "diffusion"
    settings.preset = "fast-preview"
    settings.steps = 3
    settings.window = 2
    settings.prompt = "a stone tower"
    return scene


@pytest.fixture
def shot(blender, tmp_path):
    return blender, build_shot(blender, tmp_path / "out"), tmp_path


def test_stylize_adds_a_strip_that_survives_save_and_reload(shot):
    bpy, scene, tmp_path = shot
    assert bpy.ops.diffsynth.stylize() == {"FINISHED"}
    (strip,) = strips(scene)
    assert len(strip.elements) == FRAMES and first_and_length(strip) == (5, FRAMES)
    assert strip.name.startswith("Scene: a stone tower v001")
    assert bpy.data.images.get("DiffSynth Step") is not None  # the first frame's estimate was shown on the way
    folder = Path(scene.diffsynth.last_output)
    assert sorted(p.name for p in folder.glob("frame_*.png")) == [f"frame_{f:04d}.png" for f in range(5, 9)]
    assert (folder / "result.json").is_file()
    for kind in ("depth", "softedge", "guide", "flow"):
        assert len(list((tmp_path / "out" / "Scene" / "passes" / kind).iterdir())) == FRAMES
    _check_demo_outputs(bpy, scene, folder, tmp_path)
    assert bpy.ops.diffsynth.stylize() == {"FINISHED"}  # a re-run adds a new version beside the old one
    names = sorted(s.name for s in strips(scene))
    assert len(names) == 2 and names[1].endswith("v002")
    assert {s.channel for s in strips(scene)} == {1, 2}
    blend = tmp_path / "shot.blend"
    bpy.ops.wm.save_as_mainfile(filepath=str(blend))
    bpy.ops.wm.read_factory_settings(use_empty=True)
    bpy.ops.wm.open_mainfile(filepath=str(blend))
    reloaded = strips(bpy.context.scene)
    assert sorted(s.name for s in reloaded) == names and all(len(s.elements) == FRAMES for s in reloaded)


def _stylize_run(bpy, scene):
    """The ``StylizeRun`` the Stylize operator would drive, with the real Blender steps."""
    from diffsynth_render.blender_state import shot_request
    from diffsynth_render.core.stylize_run import StylizeRun
    from diffsynth_render.operators.stylize import blender_steps

    request = shot_request(bpy.context)
    return StylizeRun(request, blender_steps(scene, request.size, print))


def test_cancel_in_the_engine_leaves_no_strip_and_no_partial_frames(shot):
    bpy, scene, _ = shot
    scene.diffsynth.steps = 30
    run = _stylize_run(bpy, scene)
    while run.running and " step " not in run.stage:  # in the loop, whichever stage was reported last
        run.advance(wait=True)
    run.cancel()
    assert run.run_to_end() == "cancelled", run.message
    assert strips(scene) == [] and scene.diffsynth.last_output == ""
    assert not run.output.exists() and not run.cancel_file.exists()  # nothing that looks like a result


def test_cancel_during_passes_keeps_rendered_frames_cached(shot):
    bpy, scene, tmp_path = shot
    run = _stylize_run(bpy, scene)
    run.advance()
    run.advance()
    run.cancel()
    assert run.run_to_end() == "cancelled" and run.rendered == 2
    assert len(list((tmp_path / "out" / "Scene" / "passes" / "exr").glob("*.exr"))) == 2
    assert strips(scene) == []


def _no_camera(bpy, scene):
    scene.camera = None


def _unwritable(bpy, scene):
    blocker = Path(scene.diffsynth.output_dir)
    blocker.parent.mkdir(parents=True, exist_ok=True)
    blocker.write_text("a file where the folder should be")


BAD_INPUTS = [
    (_no_camera, "no active camera"),
    (lambda bpy, scene: (setattr(scene.diffsynth, "use_scene_range", False), setattr(scene.diffsynth, "frame_start", 5),
                         setattr(scene.diffsynth, "frame_end", 2)), "frame range 5–2 is empty"),
    (lambda bpy, scene: setattr(scene.render, "resolution_percentage", 50), "resolution 32x32 is too small"),
    (_unwritable, "cannot be written"),
    (lambda bpy, scene: (setattr(scene.diffsynth, "model_kind", "CHECKPOINT"),
                         setattr(scene.diffsynth, "model_path", "/no/such/model.safetensors")), "does not exist"),
]


@pytest.mark.parametrize("damage, message", BAD_INPUTS, ids=[m for _, m in BAD_INPUTS])
def test_bad_input_gives_a_message_and_changes_nothing(shot, damage, message):
    bpy, scene, tmp_path = shot
    damage(bpy, scene)
    before = (len(bpy.data.objects), len(bpy.data.materials), scene.render.engine, scene.frame_current)
    with pytest.raises(RuntimeError, match=message):
        bpy.ops.diffsynth.stylize()
    assert (len(bpy.data.objects), len(bpy.data.materials), scene.render.engine, scene.frame_current) == before
    assert strips(scene) == [] and not bpy.context.window_manager.diffsynth_running


def test_engine_failure_is_reported_and_leaves_earlierstrips(shot):
    bpy, scene, tmp_path = shot
    assert bpy.ops.diffsynth.stylize() == {"FINISHED"}
    scene.diffsynth.model_kind = "FOLDER"
    scene.diffsynth.model_path = str(tmp_path)  # a folder, but no model in it
    with pytest.raises(RuntimeError, match="cannot load"):
        bpy.ops.diffsynth.stylize()
    assert len(strips(scene)) == 1 and bpy.context.window_manager.diffsynth_error_kind == "model"


def test_headless_cli_stylizes_a_blend_file(shot):
    import hashlib
    import subprocess
    import sys

    bpy, scene, tmp_path = shot
    source = tmp_path / "shot.blend"
    bpy.ops.wm.save_as_mainfile(filepath=str(source))
    digest = hashlib.sha256(source.read_bytes()).hexdigest()
    out, copy = tmp_path / "farm", tmp_path / "with_strip.blend"
    command = [sys.executable, "-m", "diffsynth_render.cli", "stylize", str(source), "--out", str(out),
               "--frames", "6-7", "--size", "64x64", "--prompt", "a lighthouse", "--model", "tiny",  # diffusion
               "--preset", "fast-preview", "--steps", "2", "--save-blend", str(copy)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    assert hashlib.sha256(source.read_bytes()).hexdigest() == digest  # the source file is never written
    assert sorted(p.name for p in (out / "Scene" / "stylized_v001").glob("frame_*.png")) == \
        ["frame_0006.png", "frame_0007.png"]
    bpy.ops.wm.open_mainfile(filepath=str(copy))
    (strip,) = strips(bpy.context.scene)
    assert first_and_length(strip) == (6, 2) and len(strip.elements) == 2 and "a lighthouse" in strip.name

    bpy.context.scene.camera = None
    bpy.ops.wm.save_as_mainfile(filepath=str(source))
    failed = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert failed.returncode == 2 and "no active camera" in failed.stderr


def _check_demo_outputs(bpy, scene, stylized, tmp_path):
    """The demo's preview, contact sheet and comparison from a real Stylize's output."""
    import cv2
    import numpy as np

    from diffsynth_render.tools import demo_outputs

    preview = demo_outputs.write_preview(bpy, scene, tmp_path / "preview.mp4")
    video = cv2.VideoCapture(str(preview))
    assert (video.get(cv2.CAP_PROP_FRAME_COUNT), video.get(cv2.CAP_PROP_FRAME_WIDTH)) == (FRAMES, SIZE)
    assert scene.render.image_settings.file_format != "FFMPEG"  # the scene's settings are back
    sheet = cv2.imread(str(demo_outputs.write_contact_sheet(stylized.parent, stylized, stylized,
                                                            tmp_path / "sheet.png", frames=(5, 8))))
    assert sheet.shape[0] > 2 * SIZE and sheet.shape[1] > 5 * SIZE and sheet.std() > 10
    flows = stylized.parent / "passes" / "flow"
    same = demo_outputs.write_deflicker_comparison(stylized, stylized, flows, tmp_path / "cmp.png", frames=(5, 6))
    assert len(same.per_frame) == FRAMES - 1 and np.array_equal(same.per_frame, same.deflickered)
    assert same.detail_kept == 1 and same.flicker_cut == 0 and same.per_frame.mean() > 0
    assert cv2.imread(str(tmp_path / "cmp.png")).shape[0] > 2 * SIZE


def test_import_strip_adds_an_output_folder_again(shot):
    bpy, scene, tmp_path = shot
    assert bpy.ops.diffsynth.stylize() == {"FINISHED"}
    folder = scene.diffsynth.last_output
    assert bpy.ops.diffsynth.import_strip(directory=folder) == {"FINISHED"}
    first, second = sorted(strips(scene), key=lambda s: s.channel)
    assert (second.channel, *first_and_length(second), len(second.elements)) == (2, 5, FRAMES, FRAMES)
    assert second.name == "stylized_v001"
    with pytest.raises(RuntimeError, match="holds no frame_"):
        bpy.ops.diffsynth.import_strip(directory=str(tmp_path))
    assert len(strips(scene)) == 2


def test_render_passes_operator_prepares_inputs_and_then_renders_nothing(shot, capsys):
    bpy, scene, tmp_path = shot
    assert bpy.ops.diffsynth.render_passes() == {"FINISHED"}
    assert f"({FRAMES} of {FRAMES} frames rendered)" in capsys.readouterr().out
    assert bpy.ops.diffsynth.render_passes() == {"FINISHED"}
    assert f"(0 of {FRAMES} frames rendered)" in capsys.readouterr().out
    assert len(list((tmp_path / "out" / "Scene" / "passes" / "exr").glob("*.exr"))) == FRAMES


def test_a_style_stylize_adds_its_strip(shot):
    bpy, scene, tmp_path = shot
    settings = scene.diffsynth
    settings.painter, settings.style_source, settings.style = "style", "BUILTIN", "7"
    settings.style_strength = 0.9
    assert bpy.ops.diffsynth.stylize() == {"FINISHED"}
    (strip,) = strips(scene)
    assert strip.name.startswith("Scene: style 7 v001") and len(strip.elements) == FRAMES
    job = json.loads((tmp_path / "out" / "Scene" / "jobs" / "job_v001.json").read_text())
    assert job["painter"] == "style" and job["style"] == {"builtin": 7, "strength": 0.9, "keep_colors": False,
                                                          "base": "normals"}
    assert "prompt" not in job and "model" not in job

    settings.style_source, settings.style_image = "IMAGE", str(tmp_path / "missing.png")
    with pytest.raises(RuntimeError, match="style image .*missing.png' does not exist"):
        bpy.ops.diffsynth.stylize()
    assert len(strips(scene)) == 1


def test_shots_show_the_preferences_painter_and_style_until_they_choose(blender):
    from diffsynth_render.blender_state import get_preferences

    prefs = get_preferences(blender.context)
    settings = blender.context.scene.diffsynth
    assert (settings.painter, settings.style, settings.base_image) == ("style", "19", "normals")
    prefs.default_painter, prefs.default_style, prefs.default_keep_colors = "diffusion", "4", True
    try:
        assert (settings.painter, settings.style, settings.keep_colors) == ("diffusion", "4", True)
        settings.style = "11"  # chosen on the shot: the preference no longer shows through
        prefs.default_style = "2"
        assert (settings.style, settings.painter) == ("11", "diffusion")
    finally:
        prefs.default_painter, prefs.default_style, prefs.default_keep_colors = "style", "19", False
