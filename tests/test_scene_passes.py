"""Exact passes from a scene built here, in real Blender: depth, soft edges, motion, guides."""

import math

import numpy as np
import pytest

SIZE = 64
CAMERA_HEIGHT, CUBE_TOP = 10.0, 2.0
STEP = 1.0  # camera travel along +x per frame


def build_scene(bpy, frames=3, size=SIZE):
    """A ground plane, a 2-unit cube off-centre, and a camera looking straight down from 10 units,
    sliding along +x at a constant speed."""
    scene = bpy.context.scene
    scene.render.resolution_x = scene.render.resolution_y = size
    scene.render.resolution_percentage = 100
    scene.frame_start, scene.frame_end = 1, frames
    bpy.ops.mesh.primitive_plane_add(size=60)
    bpy.ops.mesh.primitive_cube_add(size=2, location=(2.5, 0, 1))
    bpy.ops.object.light_add(type="SUN", rotation=(math.radians(30), math.radians(20), 0))
    bpy.ops.object.camera_add(location=(0, 0, CAMERA_HEIGHT), rotation=(0, 0, 0))
    camera = bpy.context.object
    scene.camera = camera
    for frame in (1, frames):
        camera.location.x = STEP * (frame - 1)
        camera.keyframe_insert("location", frame=frame)
    for curve in _fcurves(camera):
        for point in curve.keyframe_points:
            point.interpolation = "LINEAR"
    return scene


def _fcurves(obj):
    action = obj.animation_data.action
    if hasattr(action, "fcurves"):
        return action.fcurves
    return [curve for layer in action.layers for strip in layer.strips for bag in strip.channelbags
            for curve in bag.fcurves]  # Blender 5: layered actions


@pytest.fixture
def rendered(blender, tmp_path):
    from diffsynth_render.operators import scene_passes

    scene = build_scene(blender)
    frames = list(range(1, 4))
    exrs, count = scene_passes.render_passes(scene, frames, tmp_path)
    return blender, scene, frames, exrs, count, tmp_path


def test_depth_control_matches_the_geometry(rendered):
    from diffsynth_render.engine.passes import read_exr_passes
    from diffsynth_render.shot import controls

    _, _, _, exrs, count, _ = rendered
    assert count == 3
    depth = read_exr_passes(exrs[0])["Depth"][..., 0]
    centre, corner = depth[SIZE // 2, SIZE // 2], depth[0, 0]
    assert centre == pytest.approx(CAMERA_HEIGHT, abs=1e-3)  # the ground under the camera
    assert corner == pytest.approx(CAMERA_HEIGHT, abs=1e-3)  # Z is depth along the view axis
    cube = depth[SIZE // 2, int(SIZE * 0.85)]  # right of centre: the cube's top, 8 units away
    assert cube == pytest.approx(CAMERA_HEIGHT - CUBE_TOP, abs=1e-3)
    control = controls.depth_control(depth, *controls.depth_range([depth]))
    assert control[SIZE // 2, int(SIZE * 0.85)] == pytest.approx(1.0)
    assert control[SIZE // 2, SIZE // 2] == pytest.approx(0.0, abs=1e-6)


def test_soft_edges_on_silhouettes_and_creases_only(rendered):
    from diffsynth_render.engine.passes import read_exr_passes
    from diffsynth_render.shot import controls

    _, _, _, exrs, _, _ = rendered
    passes = read_exr_passes(exrs[0])
    depth = passes["Depth"][..., 0]
    edges = controls.soft_edges(depth, passes["Normal"])
    cube = depth < CAMERA_HEIGHT - 0.5
    rows, cols = np.nonzero(cube)
    top, left = rows.min(), cols.min()
    assert edges[top - 1: top + 1, (cols.min() + cols.max()) // 2].max() > 0.7  # top face against the ground
    assert edges[SIZE // 2, left - 1: left + 1].max() > 0.7  # where the side face meets the ground
    top_face = np.nonzero(np.abs(depth[SIZE // 2] - (CAMERA_HEIGHT - CUBE_TOP)) < 1e-3)[0]
    crease = top_face.min()  # the side face (visible, facing the camera) meets the top face here
    assert crease > left and abs(depth[SIZE // 2, crease] - depth[SIZE // 2, crease - 1]) < 0.5  # no jump
    assert edges[SIZE // 2, crease - 1: crease + 1].max() > 0.7
    assert edges[4:12, 4:12].max() < 0.05  # flat ground
    assert edges[SIZE // 2, (cols.min() + cols.max()) // 2 + 2] < 0.05  # middle of the cube top


def test_motion_field_matches_the_camera(rendered):
    from diffsynth_render.engine.passes import read_exr_passes
    from diffsynth_render.shot import guides

    bpy, scene, _, exrs, _, _ = rendered
    camera = scene.camera.data
    pixels_per_unit = SIZE * camera.lens / (camera.sensor_width * CAMERA_HEIGHT)
    flow = guides.flow_from_vector(read_exr_passes(exrs[1])["Vector"])
    ground = flow[4:12, 4:12]  # on the ground, 10 units away
    np.testing.assert_allclose(ground[..., 0:2].reshape(-1, 2).mean(0), [0, -STEP * pixels_per_unit], atol=0.05)
    np.testing.assert_allclose(ground[..., 2:4].reshape(-1, 2).mean(0), [0, STEP * pixels_per_unit], atol=0.05)


def test_second_run_renders_nothing_and_settings_are_restored(rendered):
    from diffsynth_render.operators import scene_passes

    bpy, scene, frames, exrs, _, folder = rendered
    assert scene.render.engine != "CYCLES" or scene.cycles.samples != scene_passes.pass_samples(scene)
    assert scene.view_layers[0].material_override is None and len(scene.view_layers[0].aovs) == 0
    assert scene_passes.OVERRIDE_MATERIAL not in bpy.data.materials and scene.frame_current == 1
    again, count = scene_passes.render_passes(scene, frames, folder)
    assert again == exrs and count == 0
    bpy.data.objects["Cube"].location.z += 0.5
    assert scene_passes.render_passes(scene, frames, folder)[1] == 3


def test_guides_make_patchmatch_follow_the_surfaces(blender, tmp_path):
    """NNFs between consecutive frames against the true motion (vector pass): the full guides
    (with surface coordinates) match far more exactly than the shaded image alone."""
    from diffsynth_render.engine.passes import derive_inputs
    from diffsynth_render.kernels import estimate_nnf
    from diffsynth_render.operators import scene_passes
    from diffsynth_render.shot import guides

    size = 96
    scene = build_scene(blender, frames=3, size=size)
    exrs, _ = scene_passes.render_passes(scene, [1, 2, 3], tmp_path / "exr")
    derived = derive_inputs(exrs, tmp_path, (size, size))
    frames = [np.load(derived["guide"][index]).astype(np.float32) for index in (0, 1)]  # stored as float16
    flow = np.load(derived["flow"][0])
    rows, cols = np.mgrid[:size, :size]
    truth = np.stack([rows + flow[..., 0], cols + flow[..., 1]], axis=-1)  # where each pixel goes next
    inside = (truth[..., 0] >= 3) & (truth[..., 0] < size - 3) & (truth[..., 1] >= 3) & (truth[..., 1] < size - 3)
    inside[:3] = inside[-3:] = False
    inside[:, :3] = inside[:, -3:] = False
    errors = {}
    for name, channels in (("shaded", slice(0, 3)), ("guides", slice(None))):
        nnf = estimate_nnf(frames[1][..., channels].copy(), frames[0][..., channels].copy(), backend="torch")
        errors[name] = float(np.linalg.norm(nnf - truth, axis=-1)[inside].mean())
    assert errors["guides"] < 1.0, errors  # the true motion, 13.3 px, is not a whole number of pixels
    assert errors["guides"] * 10 < errors["shaded"], errors  # measured: 0.83 px against 22.9 px
    assert len(guides.GUIDE_CHANNELS) == frames[0].shape[-1]


def test_flow_nnfs_land_where_the_target_pixels_surface_point_is(blender, tmp_path):
    """With the vector pass's flows, the deflicker's NNFs (the chained motion, no search) are checked
    against the surface-coordinate pass, an independent record of the point each pixel sees: on
    pixels that stay in the picture and whose motion is undone by the motion back (not occluded),
    the source pixel showing the target pixel's point is within 1 px of the match on ≥ 95% of
    them; and pixels seen on another surface in the source get no weight."""
    import torch

    from diffsynth_render.engine.deflicker import BlendSettings, PatchBlender
    from diffsynth_render.engine.deflicker.motion import SAME_SURFACE, chained_flow
    from diffsynth_render.engine.passes import derive_inputs
    from diffsynth_render.operators import scene_passes
    from diffsynth_render.shot.guides import SURFACE_CHANNELS, surfaces

    size, count = 96, 4
    scene = build_scene(blender, frames=count, size=size)
    exrs, _ = scene_passes.render_passes(scene, list(range(1, count + 1)), tmp_path / "exr")
    derived = derive_inputs(exrs, tmp_path, (size, size))
    guides, flows = (np.stack([np.load(path).astype(np.float32) for path in derived[kind]])
                     for kind in ("guide", "flow"))
    deflicker = PatchBlender(guides, BlendSettings(window=3, mode="balanced"), flows, surfaces(guides))
    deflicker.prepare()
    coordinates, margin = guides[..., SURFACE_CHANNELS], deflicker.fields.margin
    for target, source in ((0, 1), (0, 3)):
        nnf, weight = (array[margin:-margin, margin:-margin].numpy() for array in deflicker.fields.get(target, source))
        matched = np.rint(nnf - margin).astype(np.int64)  # where each pixel lands, to the nearest pixel
        forward = chained_flow(torch.from_numpy(flows), target, source).numpy()
        back = chained_flow(torch.from_numpy(flows), source, target).numpy()
        landing = np.stack(np.mgrid[:size, :size], axis=-1) + forward
        inside = ((landing >= 0) & (landing <= size - 1)).all(-1)
        consistent = inside & (np.linalg.norm(forward + back[matched[..., 0], matched[..., 1]], axis=-1) < 1.0)
        near = _distance_to_same_point(coordinates[source], coordinates[target], matched) <= 1
        assert consistent.mean() > 0.5 and near[consistent].mean() >= 0.95, (consistent.mean(), near[consistent].mean())
        difference = np.abs(coordinates[source][matched[..., 0], matched[..., 1]] - coordinates[target]).max(-1)
        assert weight[consistent].mean() >= 0.95 and not weight[difference > SAME_SURFACE].any()


def _distance_to_same_point(source, target, matched, reach=3):
    """Per target pixel: how many pixels (Chebyshev) from its match lies the source pixel whose
    surface coordinate is nearest the target pixel's, searched within ``reach``."""
    size = source.shape[0]
    best, distance = np.full(matched.shape[:2], np.inf), np.zeros(matched.shape[:2], int)
    for dy in range(-reach, reach + 1):
        for dx in range(-reach, reach + 1):
            rows, cols = np.clip(matched[..., 0] + dy, 0, size - 1), np.clip(matched[..., 1] + dx, 0, size - 1)
            difference = np.abs(source[rows, cols] - target).max(-1)
            better = difference < best
            best, distance = np.where(better, difference, best), np.where(better, max(abs(dy), abs(dx)), distance)
    return distance


def _light(bpy, scene, lighting):
    """Give ``build_scene``'s shot (a default sun) the ``lighting`` named."""
    if lighting == "sun":
        return
    world = bpy.data.worlds.new("Sky")
    scene.world = world
    background = world.node_tree.nodes["Background"]
    background.inputs["Color"].default_value = (0.05, 0.05, 0.05, 1) if lighting == "dim world" else (0.25, 0.3, 0.4, 1)
    if lighting == "area and world":
        bpy.ops.object.light_add(type="AREA", location=(1, -2, 6))
        bpy.context.object.data.size, bpy.context.object.data.energy = 4.0, 600


@pytest.mark.parametrize("lighting, softness", [("sun", "hard"), ("dim world", "dim"), ("area and world", "soft")])
def test_passes_at_the_samples_the_light_needs_match_many_samples(blender, tmp_path, monkeypatch, lighting, softness):
    """The passes at the sample count the scene's light asks for, against 64 samples: depth,
    normals, coordinates and motion the same but at a few silhouette pixels; the clay shading
    off by 0.01 on average and by over 0.1 at under 1% of the pixels (penumbrae and world light
    are where it is noisy), which one sample does not reach under a soft light."""
    from diffsynth_render.engine.passes import read_exr_passes
    from diffsynth_render.operators import scene_passes
    from diffsynth_render.shot.frame_inputs import frame_extremes, frame_inputs, shot_ranges

    scene = build_scene(blender, frames=2, size=96)
    _light(blender, scene, lighting)
    assert scene_passes.light_softness(scene) == softness
    chosen, _ = scene_passes.render_passes(scene, [2], tmp_path / "chosen")
    monkeypatch.setitem(scene_passes.SAMPLES_BY_LIGHT, softness, 64)
    many, _ = scene_passes.render_passes(scene, [2], tmp_path / "many")
    passes = [read_exr_passes(exr[0]) for exr in (chosen, many)]
    ranges = shot_ranges([frame_extremes(passes[1])])
    (guide, flow), (reference, reference_flow) = ((i["guide"], i["flow"]) for i in (frame_inputs(p, ranges)
                                                                                    for p in passes))
    difference = np.abs(guide - reference)
    shading_ok = difference[..., :3].mean() < 0.01 and (difference[..., :3].max(-1) > 0.1).mean() < 0.01
    assert shading_ok, (difference[..., :3].mean(), (difference[..., :3].max(-1) > 0.1).mean())
    assert np.percentile(difference[..., 3:], 99) < 0.01 and (difference[..., 3:].max(-1) > 0.05).mean() < 0.02
    assert np.percentile(np.abs(flow - reference_flow), 99) < 0.05
    if softness != "hard":  # and one sample would not have done
        monkeypatch.setitem(scene_passes.SAMPLES_BY_LIGHT, softness, 1)
        one, _ = scene_passes.render_passes(scene, [2], tmp_path / "one")
        noisy = frame_inputs(read_exr_passes(one[0]), ranges)["guide"]
        noise = np.abs(noisy - reference)[..., :3]
        assert (noise.max(-1) > 0.1).mean() > 0.01
