"""Preview Frame in real Blender: one frame painted as a Stylize without smoothing paints it, shown
as an image; the CLI's ``preview``; cancel, bad settings and a Stylize running beside it."""

import subprocess
from pathlib import Path

import conftest
import numpy as np
import pytest
from conftest import CLI, cli_run, files_state, refused, strips
from PIL import Image


def _painted_by_the_engine(shot_folder, frame):
    """The style painter's painting of ``frame`` on its own, from the guide the preview derived
    (built-in style 19 on the clay + normals base): what a Stylize with smoothing off writes."""
    from diffsynth_render.contract import frame_name, style_weights
    from diffsynth_render.engine.style_painter import StylePainter, StyleSettings
    from diffsynth_render.shot.base_images import base_image

    guide = np.load(shot_folder / "passes" / "guide" / frame_name(frame, ".npy")).astype(np.float32)
    painted = StylePainter(StyleSettings(weights=style_weights(19)), "cpu")(base_image(guide, "normals"))
    return np.clip(painted, 0, 1)


def _pixels(png):
    return np.asarray(Image.open(png).convert("RGB"), np.float32) / 255


def test_the_cli_preview_is_the_engines_painting_of_that_frame(project):
    out = project.parent / "frame.png"
    done = cli_run("preview", project / "shot.blend", "--frame", 6, "--out", out, "--painter", "style", "--style", 19)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == f"cli: frame 6 painted: {out}"
    shot_folder = project / "unused" / "Scene"
    assert sorted(p.name for p in (shot_folder / "passes" / "exr").glob("*.exr")) == ["frame_0006.exr"]
    assert np.abs(_pixels(out) - _painted_by_the_engine(shot_folder, 6)).max() <= 1 / 255 + 1e-6
    assert not list(shot_folder.glob("stylized_v*"))  # a preview is no Stylize


@pytest.mark.parametrize("args, message", [
    (["--out", "{root}/frame.jpg"], "frame.jpg: name the .png file to write"),
    (["--out", "{root}/frame.png", "--size", "32x32"], "32x32: each side must be from 64 to 4096 pixels"),
    (["--out", "{root}/frame.png", "--keyframes", "99"], "The keyframe 99 is not in the shot's frames 5–8"),
])
def test_the_cli_preview_refuses_bad_settings_as_stylize_does(project, args, message):
    root = project.parent
    before = files_state(root)
    refused(cli_run("preview", project / "shot.blend", "--painter", "style",
                    *[arg.format(root=root) for arg in args]), message)
    assert files_state(root) == before


def _preview_run(bpy, frame):
    from diffsynth_render.blender_state import shot_request
    from diffsynth_render.core.stylize_run import StylizeRun
    from diffsynth_render.operators.stylize import blender_steps

    request = shot_request(bpy.context, frame=frame)
    return StylizeRun(request, blender_steps(bpy.context.scene, request.size, print), preview=True)


def test_a_preview_shows_an_image_leaves_earlier_results_and_can_be_cancelled(blender, tmp_path):
    scene = conftest.build_shot(blender, tmp_path / "out")
    scene.diffsynth.painter = "style"
    assert blender.ops.diffsynth.stylize() == {"FINISHED"}
    earlier = files_state(tmp_path / "out" / "Scene" / "stylized_v001")
    (strip,) = strips(scene)
    scene.frame_current = 7
    assert blender.ops.diffsynth.preview_frame() == {"FINISHED"}
    image = blender.data.images["DiffSynth Preview"]
    assert Path(image.filepath) == tmp_path / "out" / "Scene" / "preview" / "frame_0007.png"
    assert tuple(image.size) == (64, 64) and Path(scene.diffsynth.last_preview) == Path(image.filepath)
    assert strips(scene) == [strip] and files_state(tmp_path / "out" / "Scene" / "stylized_v001") == earlier

    run = _preview_run(blender, 5)
    run.cancel()
    assert run.run_to_end() == "cancelled"
    assert Path(image.filepath).name == "frame_0007.png" and strips(scene) == [strip]


def test_a_preview_beside_a_running_stylize_leaves_both_intact(project):
    out = project.parent / "frame.png"
    stylize = subprocess.Popen([*CLI, "stylize", str(project / "shot.blend"), "--out", str(project / "unused"),
                                "--painter", "style"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    preview = cli_run("preview", project / "shot.blend", "--frame", 8, "--out", out, "--painter", "style")
    _, errors = stylize.communicate(timeout=300)
    assert stylize.returncode == 0, errors
    assert preview.returncode == 0, preview.stderr
    shot_folder = project / "unused" / "Scene"
    assert sorted(p.name for p in (shot_folder / "stylized_v001").glob("frame_*.png")) == \
        [f"frame_{frame:04d}.png" for frame in range(5, 9)]
    assert np.abs(_pixels(out) - _painted_by_the_engine(shot_folder, 8)).max() <= 1 / 255 + 1e-6


def test_the_style_gallery_paints_this_frame_in_every_style_for_the_picker(blender, tmp_path):
    from diffsynth_render.panels import style_previews

    scene = conftest.build_shot(blender, tmp_path / "out")
    scene.diffsynth.painter = "diffusion"  # the gallery paints the style painter's styles whatever is chosen
    scene.diffsynth.style_source, scene.diffsynth.style_image = "IMAGE", str(style_previews.thumbnail_path(7))
    scene.frame_current = 6
    sample = style_previews.style_items(scene.diffsynth, blender.context)
    assert blender.ops.diffsynth.style_gallery() == {"FINISHED"}
    gallery = tmp_path / "out" / "Scene" / "gallery"
    assert Path(scene.diffsynth.gallery_dir) == gallery
    assert sorted(p.name for p in gallery.glob("*.png")) == [f"style_{i:02d}.png" for i in range(26)] + \
        ["style_image.png"]
    shot_folder = tmp_path / "out" / "Scene"
    assert np.abs(_pixels(gallery / "style_19.png") - _painted_by_the_engine(shot_folder, 6)).max() <= 1 / 255 + 1e-6
    items = style_previews.style_items(scene.diffsynth, blender.context)
    assert len(items) == 26 and items is not sample  # this scene's thumbnails, not the sample shot's
    assert [item[0] for item in items] == [item[0] for item in sample]
    assert not list(shot_folder.glob("stylized_v*")) and strips(scene) == []
