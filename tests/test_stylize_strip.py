"""Stylize Strip in real Blender: a movie or image strip of the Video Sequence Editor, its frames
as the sequencer shows them, stylized into a new strip above it; cancel; bad strips; the CLI."""

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from conftest import (
    SIZE,
    add_footage_strip,
    cli_run,
    files_state,
    first_and_length,
    refused,
    strips,
    trim_start,
    write_footage,
)

COUNT = 6


@pytest.fixture
def sequencer(blender, tmp_path):
    """An empty scene at SIZE² whose DiffSynth output goes to tmp_path/out, the style painter
    blending 2 frames on each side."""
    scene = blender.context.scene
    scene.render.resolution_x = scene.render.resolution_y = SIZE
    scene.render.resolution_percentage = 100
    scene.diffsynth.output_dir = str(tmp_path / "out")
    scene.diffsynth.window = 2
    return blender, scene, tmp_path


def _strip_folder(tmp_path, name):
    return tmp_path / "out" / "Scene" / "strips" / name


def test_a_movie_strip_becomes_a_strip_of_the_same_length_and_start_above_it(sequencer):
    bpy, scene, tmp_path = sequencer
    source = add_footage_strip(scene, write_footage(tmp_path / "media"), channel=2, frame_start=10)
    trim_start(source, 1)  # the strip shows the movie's frames 2–6, at scene frames 11–15
    blocker = add_footage_strip(scene, write_footage(tmp_path / "media", movie=False), channel=3, frame_start=8)
    view = scene.view_settings.view_transform
    assert bpy.ops.diffsynth.stylize_strip(strip="clip") == {"FINISHED"}
    added = next(strip for strip in strips(scene) if strip.name.startswith("clip: "))
    assert first_and_length(added) == first_and_length(source) == (11, COUNT - 1)
    assert added.channel == 4  # above the source, past the strip in its way
    assert not source.mute and not blocker.mute and scene.view_settings.view_transform == view
    folder = _strip_folder(tmp_path, "clip")
    assert sorted(p.name for p in (folder / "stylized_v001").glob("frame_*.png")) == \
        [f"frame_{frame:04d}.png" for frame in range(11, 16)]
    shown = cv2.imread(str(folder / "footage" / "frame_0011.png"))  # the movie's second frame, not the picture's
    movie = cv2.VideoCapture(str(tmp_path / "media" / "clip.avi"))
    frames = [movie.read()[1] for _ in range(2)]
    assert np.abs(shown.astype(int) - frames[1]).mean() < np.abs(shown.astype(int) - frames[0]).mean() / 2
    assert np.abs(shown.astype(int) - frames[1]).mean() < 8  # its own colours: the Standard view
    taken = {p.name: p.stat().st_mtime_ns for p in (folder / "footage").iterdir()}
    assert bpy.ops.diffsynth.stylize_strip(strip="clip") == {"FINISHED"}  # a second version; the footage as it was
    assert (folder / "stylized_v002").is_dir() and len(strips(scene)) == 4
    assert {p.name: p.stat().st_mtime_ns for p in (folder / "footage").iterdir()} == taken


def test_an_image_strip_with_the_diffusion_painter_starts_from_its_frames(sequencer):
    bpy, scene, tmp_path = sequencer
    source = add_footage_strip(scene, write_footage(tmp_path / "media", COUNT, movie=False), frame_start=3)
    scene.sequence_editor.active_strip = source
    settings = scene.diffsynth
    settings.painter, settings.prompt, settings.preset, settings.steps = "diffusion", "a harbour", "fast-preview", 2
    assert bpy.ops.diffsynth.stylize_strip() == {"FINISHED"}  # the active strip
    (added,) = [strip for strip in strips(scene) if strip != source]
    assert first_and_length(added) == (3, COUNT) and added.channel == source.channel + 1
    job = json.loads((_strip_folder(tmp_path, "pictures") / "jobs" / "job_v001.json").read_text())
    assert list(job["controls"]) == ["softedge"] and job["image_strength"] == 0.6
    assert any("noised 0.6" in note for note in job["notes"])
    assert job["footage"]["derived"].endswith("derived") and len(job["footage"]["frames"]) == COUNT


def test_cancel_while_taking_the_footage_keeps_its_frames_and_adds_no_strip(sequencer):
    from diffsynth_render.core.stylize_run import StylizeRun
    from diffsynth_render.operators.strip_footage import selected_strip, strip_request
    from diffsynth_render.operators.stylize import blender_steps

    bpy, scene, tmp_path = sequencer
    add_footage_strip(scene, write_footage(tmp_path / "media"))
    request = strip_request(bpy.context, "clip")
    run = StylizeRun(request, blender_steps(scene, request.size, print, strip=selected_strip(scene, "clip")))
    run.advance()
    run.advance()
    run.cancel()
    assert run.run_to_end() == "cancelled" and "rendering footage" in run.message
    assert len(list((_strip_folder(tmp_path, "clip") / "footage").glob("frame_*.png"))) == 2
    assert len(strips(scene)) == 1


def _sound(bpy, scene, tmp_path):
    from conftest import strips_of

    strip = strips_of(scene.sequence_editor).new_sound(name="clip", filepath=str(write_footage(tmp_path / "s")),
                                                       channel=1, frame_start=1)
    scene.sequence_editor.active_strip = strip


def _colour(bpy, scene, tmp_path):
    from conftest import strips_of

    strips_of(scene.sequence_editor).new_effect(name="clip", type="COLOR", channel=1, frame_start=1, length=5)


def _not_a_movie(bpy, scene, tmp_path):
    (tmp_path / "fake.avi").write_text("not a movie")
    add_footage_strip(scene, tmp_path / "fake.avi")


def _missing_picture(bpy, scene, tmp_path):
    add_footage_strip(scene, write_footage(tmp_path / "media", movie=False)).name = "clip"
    next((tmp_path / "media" / "pictures").iterdir()).unlink()


BAD_STRIPS = [
    (_sound, "'clip' is a sound strip: it has no pictures"),
    (_colour, "'clip' is a color strip, which has no footage of its own"),
    (_not_a_movie, "cannot be read"),
    (_missing_picture, "pictures of strip 'clip' do not exist"),
    (lambda bpy, scene, tmp_path: None, "has no strip 'clip'"),
]


@pytest.mark.parametrize("make, message", BAD_STRIPS, ids=[m for _, m in BAD_STRIPS])
def test_a_strip_without_footage_is_refused_and_nothing_changes(sequencer, make, message):
    bpy, scene, tmp_path = sequencer
    scene.sequence_editor_create()
    make(bpy, scene, tmp_path)
    before = [(strip.name, strip.channel, strip.mute) for strip in strips(scene)]
    with pytest.raises(RuntimeError, match=message):
        bpy.ops.diffsynth.stylize_strip(strip="clip")
    assert [(strip.name, strip.channel, strip.mute) for strip in strips(scene)] == before
    assert not (tmp_path / "out").exists() and not bpy.context.window_manager.diffsynth_running


def test_no_selected_strip_is_named(sequencer):
    bpy, scene, _ = sequencer
    with pytest.raises(RuntimeError, match="No strip is selected"):
        bpy.ops.diffsynth.stylize_strip()


def test_the_cli_stylizes_a_strip_into_a_copy_of_the_file(sequencer):
    bpy, scene, tmp_path = sequencer
    add_footage_strip(scene, write_footage(tmp_path / "media"))
    blend, copy = tmp_path / "edit.blend", tmp_path / "edit_stylized.blend"
    bpy.ops.wm.save_as_mainfile(filepath=str(blend))
    before = files_state(tmp_path)
    sound = cli_run("stylize-strip", blend, "--strip", "nothere", "--out", tmp_path / "cli")
    refused(sound, "has no strip 'nothere'")
    assert files_state(tmp_path) == before
    done = cli_run("stylize-strip", blend, "--strip", "clip", "--out", tmp_path / "cli", "--style", "3",
                   "--save-blend", copy)
    assert done.returncode == 0, done.stderr
    assert "cli: frames in" in done.stdout and copy.is_file()
    bpy.ops.wm.open_mainfile(filepath=str(copy))
    names = sorted(strip.name for strip in strips(bpy.context.scene))
    assert names == ["clip", "clip: style 3 v001"]
    assert len(list(Path(tmp_path / "cli" / "Scene" / "strips" / "clip" / "stylized_v001").glob("*.png"))) == COUNT


def test_a_strip_inside_a_meta_strip_is_refused(sequencer):
    from conftest import strips_of

    bpy, scene, tmp_path = sequencer
    meta = strips_of(scene.sequence_editor_create()).new_meta(name="meta", channel=1, frame_start=1)
    inner = strips_of(meta).new_movie(name="inner", filepath=str(write_footage(tmp_path / "media")), channel=1,
                                      frame_start=1)
    scene.sequence_editor.active_strip = inner
    with pytest.raises(RuntimeError, match="'inner' is inside a meta strip"):
        bpy.ops.diffsynth.stylize_strip()
    assert not (tmp_path / "out").exists()
