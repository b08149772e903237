"""The *Scene* base: each frame rendered with the scene's own materials, colours and lights beside
its passes, cached under a fingerprint of them, and painted from by both painters."""

import colorsys
import json
import math

import numpy as np
import pytest

from diffsynth_render.contract import frame_name, scene_look_file
from diffsynth_render.core.farm_template import farm_job
from diffsynth_render.engine.__main__ import main
from diffsynth_render.engine.image_sequences import read_image, write_png
from diffsynth_render.engine.job import JobError, read_job
from diffsynth_render.shot.base_images import base_image
from diffsynth_render.testing.synthetic_passes import box_passes, write_pass_exr

FIRST, FRAMES, SIZE = 5, 5, 64


def _scene_base_job(root, looks=True, **fields):
    """A style job on synthetic passes with the Scene base, each frame's look a different random
    picture (when ``looks``), painted at strength 0 (the base itself) and not blended."""
    rng = np.random.default_rng(7)
    (root / "passes" / "exr").mkdir(parents=True, exist_ok=True)
    exrs = []
    for frame in range(FIRST, FIRST + FRAMES):
        exr = write_pass_exr(root / "passes" / "exr" / frame_name(frame, ".exr"), box_passes(frame, SIZE))
        if looks:
            write_png(scene_look_file(exr), rng.random((SIZE, SIZE, 3)))
        exrs.append(str(exr.relative_to(root)))
    painter = {"painter": "style", "style": {"strength": 0.0, "base": "scene"}} if "painter" not in fields else {}
    job = {"schema": 1, "output": "out", "first_frame": FIRST, "size": [SIZE, SIZE], **painter,
           "passes": {"frames": exrs, "derived": "passes"}, "smoothing": {"final": False}, **fields}
    path = root / "job.json"
    path.write_text(json.dumps(job))
    return path


def _run(path):
    assert main(["run", str(path), "--progress", "jsonl"]) == 0


def _look(root, frame):
    return read_image(root / "passes" / "exr" / frame_name(frame, ".look.png"))[0]


def test_the_scene_base_paints_each_frame_from_its_own_look(tmp_path):
    _run(_scene_base_job(tmp_path))
    for frame in range(FIRST, FIRST + FRAMES):
        painted = read_image(tmp_path / "out" / frame_name(frame))[0]
        assert np.abs(painted - _look(tmp_path, frame)).max() <= 2 / 255


def test_keyframes_are_painted_from_their_own_looks(tmp_path):
    _run(_scene_base_job(tmp_path, keyframes=[FIRST + 1, FIRST + 4]))
    for frame in (FIRST + 1, FIRST + 4):
        painted = read_image(tmp_path / "out" / frame_name(frame))[0]
        assert np.abs(painted - _look(tmp_path, frame)).max() <= 2 / 255


def test_a_scene_base_job_without_the_looks_is_refused_naming_the_first_missing(tmp_path):
    with pytest.raises(JobError, match=r"passes.frames: the Scene base needs the scene's look of each frame beside "
                                       r"its pass EXR: 5 missing, first .*frame_0005.look.png"):
        read_job(_scene_base_job(tmp_path, looks=False))


def test_a_diffusion_job_needs_the_looks_only_when_it_starts_from_them(tmp_path):
    diffusion = {"painter": "diffusion", "prompt": "a harbour", "preset": "fast-preview", "steps": 2,
                 "controls": {"depth": {"model": "tiny"}}, "base_image": "scene"}
    assert read_job(_scene_base_job(tmp_path, looks=False, **diffusion)).looks is None  # from noise
    with pytest.raises(JobError, match="the Scene base needs the scene's look"):
        read_job(_scene_base_job(tmp_path, looks=False, **diffusion, image_strength=0.5))


def test_an_image_to_image_start_from_the_scene_look_runs(tmp_path):
    path = _scene_base_job(tmp_path, painter="diffusion", prompt="a harbour", preset="fast-preview", steps=4,
                           controls={"depth": {"model": "tiny"}}, image_strength=0.5, base_image="scene")
    _run(path)
    assert len(list((tmp_path / "out").glob("frame_*.png"))) == FRAMES


def test_a_chunk_of_the_job_keeps_its_frames_looks(tmp_path):
    job = read_job(_scene_base_job(tmp_path))
    assert job.part(1, 4, None).looks == job.looks[1:4]
    assert [look.name for look in job.looks] == [frame_name(f, ".look.png") for f in range(FIRST, FIRST + FRAMES)]


def test_the_scene_base_is_the_look_and_needs_one():
    guide = np.random.default_rng(1).random((8, 8, 10)).astype(np.float32)
    look = np.random.default_rng(2).random((8, 8, 3)).astype(np.float32)
    assert np.array_equal(base_image(guide, "scene", look), look)
    with pytest.raises(ValueError, match="the Scene base needs the frame's look"):
        base_image(guide, "scene")
    assert np.array_equal(base_image(guide[..., :3], "scene"), guide[..., :3])  # a picture guide is its own base


def test_a_farm_renders_the_looks_with_the_passes_only_for_the_scene_base():
    def passes_args(scene_look):
        template = farm_job(name="shot", frame_ranges=["1-8"], size=(64, 64), chunk_count=1, module="m",
                            scene_look=scene_look)
        return template["steps"][0]["script"]["actions"]["onRun"]["args"]

    assert "--scene-look" in passes_args(True) and "--scene-look" not in passes_args(False)


# ---- In Blender ----------------------------------------------------------------------------

RED, BLUE, WHITE = (0.8, 0.04, 0.04), (0.04, 0.12, 0.8), (0.9, 0.9, 0.9)
HEIGHT = 10.0  # the camera's height over the floor, looking straight down


def _coloured_shot(bpy, output):
    """A red cube (1 m) and a blue ball (1 m across) on a white floor, seen from straight above by
    an orthographic camera, lit by a sun: at 96×96, frame 1."""
    scene = bpy.context.scene
    scene.render.resolution_x = scene.render.resolution_y = 96
    scene.render.resolution_percentage = 100
    scene.frame_start = scene.frame_end = 1
    from diffsynth_render.tools.sample_shot import give_colour

    for add, colour in ((lambda: bpy.ops.mesh.primitive_plane_add(size=20), WHITE),
                        (lambda: bpy.ops.mesh.primitive_cube_add(size=1, location=(-0.9, 0, 0.5)), RED),
                        (lambda: bpy.ops.mesh.primitive_uv_sphere_add(radius=0.5, location=(0.9, 0, 0.5)), BLUE)):
        add()
        give_colour(bpy.context.object, f"colour {colour}", colour)
    bpy.ops.object.light_add(type="SUN", rotation=(math.radians(20), math.radians(10), 0))
    bpy.ops.object.camera_add(location=(0, 0, HEIGHT))
    camera = bpy.context.object
    camera.data.type, camera.data.ortho_scale = "ORTHO", 3.2
    scene.camera = camera
    scene.diffsynth.output_dir = str(output)
    scene.diffsynth.painter = "style"
    scene.diffsynth.keep_colors = True
    return scene


def _masks(exr):
    """(cube, ball) masks from the frame's depth pass: the cube's top face lies 1 m under the
    floor's depth, the ball between it and the floor."""
    from diffsynth_render.engine.passes import read_exr_passes

    depth = read_exr_passes(exr, ("Depth",))["Depth"][..., 0]
    cube = np.abs(depth - (HEIGHT - 1)) < 1e-3
    ball = (depth > HEIGHT - 0.98) & (depth < HEIGHT - 0.55)
    return cube, ball


def _mean_hue_and_saturation(picture, mask):
    """The saturation-weighted circular mean hue (degrees) and the mean saturation inside ``mask``."""
    hsv = np.array([colorsys.rgb_to_hsv(*pixel) for pixel in picture[mask]])
    angle = hsv[:, 0] * 2 * math.pi
    hue = math.degrees(math.atan2((hsv[:, 1] * np.sin(angle)).sum(), (hsv[:, 1] * np.cos(angle)).sum())) % 360
    return hue, hsv[:, 1].mean()


def _coloured_as(hue_and_saturation, colour):
    """Whether a mean hue and saturation are ``colour``'s: its hue within 20°, clearly saturated."""
    hue, saturation = hue_and_saturation
    expected = colorsys.rgb_to_hsv(*colour)[0] * 360
    return abs((hue - expected + 180) % 360 - 180) < 20 and saturation > 0.3


def test_the_scene_base_with_keep_colours_paints_each_object_in_its_own_colour(blender, tmp_path):
    from diffsynth_render.blender_state import shot_request
    from diffsynth_render.core.stylize_run import StylizeRun
    from diffsynth_render.operators.stylize import blender_steps

    scene = _coloured_shot(blender, tmp_path / "out")
    found = {}
    for base in ("scene", "normals", "clay"):
        scene.diffsynth.base_image = base
        request = shot_request(blender.context, frame=1)
        run = StylizeRun(request, blender_steps(scene, request.size, print, look=request.spec.scene_look),
                         preview=True)
        assert run.run_to_end() == "done", run.message
        painted = read_image(request.folder / "preview" / frame_name(1))[0]
        cube, ball = _masks(request.exr_folder / frame_name(1, ".exr"))
        assert cube.sum() > 300 and ball.sum() > 300  # each object covers a good part of the frame
        found[base] = [_mean_hue_and_saturation(painted, mask) for mask in (cube, ball)]
    assert all(map(_coloured_as, found["scene"], (RED, BLUE))), found
    for base in ("normals", "clay"):  # their colours come from the normals, or there are none
        assert not all(map(_coloured_as, found[base], (RED, BLUE))), found


def test_the_look_is_rendered_again_when_what_it_shows_changes_and_only_then(blender, tmp_path):
    from diffsynth_render.operators.scene_passes import render_passes

    scene = _coloured_shot(blender, tmp_path / "out")
    scene.world = blender.data.worlds.new("Sky")
    folder = tmp_path / "exr"
    (exr,), rendered = render_passes(scene, [1], folder)
    assert rendered == 1 and not scene_look_file(exr).exists()  # the look only when asked for

    def changed(change):
        """(whether the passes, whether the look were rendered again) after ``change()``."""
        passes, look = exr.stat().st_mtime_ns, scene_look_file(exr).stat().st_mtime_ns
        change()
        render_passes(scene, [1], folder, look=True)
        return exr.stat().st_mtime_ns != passes, scene_look_file(exr).stat().st_mtime_ns != look

    material = blender.data.objects["Cube"].active_material
    shader = next(node for node in material.node_tree.nodes if node.type == "BSDF_PRINCIPLED")
    ramp = material.node_tree.nodes.new("ShaderNodeValToRGB")
    sun, world = blender.data.objects["Sun"], scene.world
    sky = world.node_tree.nodes["Background"].inputs["Color"] if world.node_tree else None  # Blender 4.x: no nodes
    assert render_passes(scene, [1], folder, look=True)[1] == 1  # the passes cached, the look made
    look_only, both, neither = (False, True), (True, True), (False, False)
    for change, expected in [
            (lambda: None, neither),
            (lambda: setattr(shader, "location", (300, 40)), neither),  # where a node sits in the editor
            (lambda: setattr(shader.inputs["Base Color"], "default_value", (0.1, 0.8, 0.1, 1)), look_only),
            (lambda: setattr(blender.data.objects["Sphere"], "color", (1, 0, 0, 1)), look_only),
            (lambda: setattr(scene.view_settings, "exposure", 0.5), look_only),
            (lambda: material.node_tree.links.new(ramp.outputs["Color"], shader.inputs["Base Color"]), look_only),
            (lambda: setattr(ramp.color_ramp.elements[0], "color", (0.5, 0.2, 0.1, 1)), look_only),
            (lambda: setattr(sun.data, "energy", 7.0), both),  # the passes' clay shading changes too
            (lambda: setattr(sun, "rotation_euler", (0.5, 0.2, 0.1)), both),
            (lambda: setattr(sky, "default_value", (0.3, 0.5, 0.9, 1)) if sky else
             setattr(world, "color", (0.3, 0.5, 0.9)), both)]:
        assert changed(change) == expected, expected


def test_the_cli_paints_from_the_scene_base_and_a_farm_renders_its_looks(project):
    from conftest import cli_run

    out = project.parent / "frame.png"
    done = cli_run("preview", project / "shot.blend", "--frame", 6, "--out", out, "--painter", "style",
                   "--base", "scene", "--keep-colors")
    assert done.returncode == 0, done.stderr
    exrs = project / "unused" / "Scene" / "passes" / "exr"
    assert sorted(p.name for p in exrs.glob("frame_*.png")) == ["frame_0006.look.png"]

    farm = project.parent / "farm"
    done = cli_run("passes", project / "shot.blend", "--out", farm, "--frames", "5-6", "--scene-look")
    assert done.returncode == 0, done.stderr
    assert sorted(p.name for p in (farm / "passes" / "exr").iterdir() if not p.name.endswith(".json")) == \
        ["frame_0005.exr", "frame_0005.look.png", "frame_0006.exr", "frame_0006.look.png"]
