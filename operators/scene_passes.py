"""Rendering a shot's exact passes with Cycles: Blender's one heavy step (the engine derives
controls, guides and flows from these EXRs in its own process).

Per frame: depth (Z), normal, vector and a flat grey image lit by direct light only (little
noise), plus an object-space surface coordinate AOV written by a view-layer material override
(the user's materials are untouched), into one multilayer EXR. Each frame's EXR is kept with a
fingerprint of what it depends on (camera, objects and their evaluated geometry, lights and
world, render size, pass settings), so a second run on an unchanged scene renders nothing. Asked
for, each frame's look is rendered beside it as well (``scene_look``), under a fingerprint of its
own. Every setting changed for a render is restored after.
"""

import hashlib
import json
import math
from pathlib import Path

import bpy

import numpy as np

from ..contract import (
    COORDINATE_AOV,
    LOW_SPACE,
    DiskFull,
    atomic_path,
    frame_name,
    free_space,
    pass_stamp,
    scene_look_file,
    write_text_atomically,
)
from ..exr_file import exr_is_whole
from .scene_look import SURFACES, instance_key, lighting, look_fingerprint, look_settings, png_is_whole, switched

OVERRIDE_MATERIAL = "DiffSynth Guide Override"
# Samples per pixel by how soft the scene's light is. Depth, normals, motion and surface
# coordinates come out the same at one sample (the 0.01 px filter sends every sample along one
# ray); only the clay shading is noisy, in penumbrae and under world light. Against 64 samples at
# these counts the shading is off by under 0.01 on average and by over 0.1 at under 1% of the
# pixels (tests/test_scene_passes.py; bench/RESULTS.md, "Pass samples").
SAMPLES_BY_LIGHT = {"hard": 1, "dim": 4, "soft": 16}
HARD_SUN_ANGLE = math.radians(1.0)  # Blender's default sun (0.53°) casts all but hard shadows
HARD_LAMP_RADIUS = 0.1  # metres: a point or spot light's default radius
SPACE_PER_EXR = 2  # an EXR and what the engine derives from it take about twice the EXR
DIM_WORLD = 0.1  # brightest world colour × strength that counts as dim (Blender's default is 0.05)


def render_passes(scene, frames, folder, size=None, progress=None, notes=None, look=False):
    """Render into ``folder`` the EXR of each frame of ``frames`` whose fingerprint changed, or
    whose cached EXR is not whole (a note for each goes into the list ``notes``), at ``size``
    (width, height; default the scene's), and with ``look`` the frame's look beside it
    (``contract.scene_look_file``) as well; returns (EXR paths, frames rendered).
    ``progress(done, total)`` after each frame; raising there stops (frames rendered so far stay
    cached). Raises ``DiskFull`` when an EXR could not be written whole for want of space."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    paths, rendered = [], 0
    with PassSetup(scene, size) as setup:
        for done, frame in enumerate(frames, 1):
            scene.frame_set(frame)
            path, left = folder / frame_name(frame, ".exr"), len(frames) - done + 1
            depsgraph = bpy.context.evaluated_depsgraph_get()
            state = fingerprint(scene, depsgraph)
            fresh = _cached_or_rendered(path, state, exr_is_whole, lambda: setup.render(path, left), notes,
                                        f"the cached passes of frame {frame} ({path.name}) were damaged")
            if look:
                look_path = scene_look_file(path)
                fresh |= _cached_or_rendered(look_path, look_fingerprint(scene, depsgraph, state), png_is_whole,
                                             lambda: setup.render_look(look_path, left), notes,
                                             f"the cached look of frame {frame} ({look_path.name}) was damaged")
            rendered += fresh
            paths.append(path)
            if progress:
                progress(done, len(frames))
    return paths, rendered


def _cached_or_rendered(path, state, is_whole, render, notes, damaged):
    """Whether ``render()`` had to make ``path`` again: its stamp is not ``state``, or the file is
    not whole (then the sentence ``damaged`` goes into ``notes``, a list or None)."""
    stamp = pass_stamp(path)
    cached = path.is_file() and stamp.is_file() and stamp.read_text() == state
    if cached and not is_whole(path):
        cached = False
        if notes is not None:
            notes.append(f"{damaged}: rendered again")
    if not cached:
        render()
        write_text_atomically(stamp, state)
    return not cached


def light_softness(scene):
    """'hard' (sharp lights only, no world light), 'dim' (a faint world light, like Blender's
    default grey, beside them) or 'soft' (an area light, a wide sun or lamp, a bright or textured
    world): what decides the samples a frame needs."""
    soft = False
    for obj in scene.objects:
        light = obj.data if obj.type == "LIGHT" else None
        if light is None or obj.hide_render or light.energy <= 0 or not light.use_shadow:
            continue
        if light.type == "AREA" or (light.type == "SUN" and light.angle > HARD_SUN_ANGLE) or \
                (light.type in ("POINT", "SPOT") and light.shadow_soft_size > HARD_LAMP_RADIUS):
            soft = True
    world = _world_light(scene.world)
    if soft or world > DIM_WORLD:
        return "soft"
    return "dim" if world > 0 else "hard"


def _world_light(world):
    """The world's brightest emitted colour × strength (infinity when a texture or other node
    feeds it: anything may come out of it)."""
    if world is None:
        return 0.0
    if world.node_tree is None:
        return max(world.color)
    output = next((node for node in world.node_tree.nodes if node.type == "OUTPUT_WORLD" and node.is_active_output),
                  None)
    surface = output and output.inputs["Surface"]
    if surface is None or not surface.is_linked:
        return 0.0
    background = surface.links[0].from_node
    if background.type != "BACKGROUND" or any(socket.is_linked for socket in background.inputs):
        return math.inf
    colour, strength = background.inputs["Color"].default_value, background.inputs["Strength"].default_value
    return max(colour[:3]) * strength


def pass_samples(scene):
    """Samples per pixel for the scene's passes (``SAMPLES_BY_LIGHT``)."""
    return SAMPLES_BY_LIGHT[light_softness(scene)]


def fingerprint(scene, depsgraph):
    """A stable text of everything the frame's passes depend on (the lights and the world for
    their clay shading)."""
    render = scene.render
    camera = scene.camera
    state = {"size": [render.resolution_x, render.resolution_y, render.resolution_percentage],
             "pixel_aspect": [render.pixel_aspect_x, render.pixel_aspect_y], "samples": pass_samples(scene),
             "camera": [_matrix(camera.matrix_world), _camera_data(camera.data)], "objects": {},
             "lighting": lighting(scene, depsgraph)}
    for instance in depsgraph.object_instances:
        if instance.object.type in SURFACES and instance.show_self:
            state["objects"][instance_key(instance)] = [_matrix(instance.matrix_world), _geometry_hash(instance.object)]
    return json.dumps(state, sort_keys=True)


def _matrix(matrix):
    return [round(value, 6) for row in matrix for value in row]


def _camera_data(data):
    return [data.type, round(data.lens, 6), round(data.sensor_width, 6), round(data.sensor_height, 6),
            data.sensor_fit, round(data.shift_x, 6), round(data.shift_y, 6), round(data.clip_start, 6),
            round(data.clip_end, 6), round(data.ortho_scale, 6)]


def _geometry_hash(obj):
    mesh = obj.to_mesh()
    try:
        positions = np.empty(len(mesh.vertices) * 3, np.float32)
        mesh.vertices.foreach_get("co", positions)
        polygons = np.empty(len(mesh.polygons), np.int32)
        mesh.polygons.foreach_get("loop_total", polygons)
        return hashlib.sha256(positions.tobytes() + polygons.tobytes()).hexdigest()[:16]
    finally:
        obj.to_mesh_clear()


class PassSetup:
    """Cycles and view-layer settings for exact passes, restored on exit (a context manager)."""

    def __init__(self, scene, size=None):
        self.scene, self.view_layer, self.size = scene, scene.view_layers[0], size
        self._saved, self._material, self._aov, self._look = [], None, None, []

    def set(self, owner, attribute, value):
        if hasattr(owner, attribute):
            self._saved.append((owner, attribute, getattr(owner, attribute)))
            setattr(owner, attribute, value)

    def __enter__(self):
        scene, render, layer = self.scene, self.scene.render, self.view_layer
        self._look = look_settings(scene)  # the user's, before the passes' replace them
        self._saved.append((scene, "frame_current", scene.frame_current))
        self.set(render, "engine", "CYCLES")
        if self.size:
            for attribute, value in zip(("resolution_x", "resolution_y", "resolution_percentage"), (*self.size, 100)):
                self.set(render, attribute, value)
        cycles = scene.cycles
        for attribute, value in (("samples", pass_samples(scene)), ("use_denoising", False),
                                 ("use_adaptive_sampling", False), ("max_bounces", 0), ("pixel_filter_type", "BOX"),
                                 ("filter_width", 0.01), ("device", _cycles_device())):
            self.set(cycles, attribute, value)
        for attribute, value in (("use_motion_blur", False), ("film_transparent", True),
                                 ("use_compositing", False), ("use_sequencer", False),
                                 ("filepath", render.filepath)):  # filepath: only to restore it
            self.set(render, attribute, value)
        settings = render.image_settings
        self.set(settings, "media_type", "MULTI_LAYER_IMAGE")  # Blender 5; 4.x has only file_format
        # Half floats: Blender writes the colour passes (shading, surface coordinates) in half
        # precision, depth, normals and motion in full: 40% smaller EXRs, guides within 3e-4.
        for attribute, value in (("file_format", "OPEN_EXR_MULTILAYER"), ("color_depth", "16"), ("exr_codec", "ZIP")):
            self.set(settings, attribute, value)
        for attribute in ("use_pass_z", "use_pass_normal", "use_pass_vector"):
            self.set(layer, attribute, True)
        if COORDINATE_AOV not in layer.aovs:
            self._aov = layer.aovs.add()
            self._aov.name, self._aov.type = COORDINATE_AOV, "COLOR"
        self._material = _override_material()
        self.set(layer, "material_override", self._material)
        return self

    def render(self, path, frames_left=1):
        """Render the current frame into the EXR ``path``, whole or not at all: the file takes its
        name only once it reads back whole, so a render stopped half-way or a write cut short
        leaves no file a later run (or a run beside this one) would take for done. Raises
        ``DiskFull`` (with ``frames_left`` frames' worth of space needed) when the disk is full."""
        self._render_whole(path, exr_is_whole, frames_left)

    def render_look(self, path, frames_left=1):
        """Render the current frame's look (``scene_look``) into the PNG ``path``, as ``render``
        does its passes."""
        with switched(self._look):
            self._render_whole(path, png_is_whole, frames_left)

    def _render_whole(self, path, is_whole, frames_left):
        with atomic_path(path) as partial:
            self.scene.render.filepath = str(partial)
            bpy.ops.render.render(write_still=True, scene=self.scene.name)
            if not is_whole(partial):
                needed = frames_left * _frame_bytes(path.parent) * SPACE_PER_EXR
                if free_space(path.parent) < LOW_SPACE + needed:
                    raise DiskFull(path.parent, needed)
                raise RuntimeError(f"Blender did not write {path.name} whole (see its console)")

    def __exit__(self, *exc):
        for owner, attribute, value in reversed(self._saved):
            setattr(owner, attribute, value)
        self.scene.frame_set(self.scene.frame_current)
        if self._aov is not None:
            self.view_layer.aovs.remove(self._aov)
        if self._material is not None:
            bpy.data.materials.remove(self._material)
        return False


def _frame_bytes(folder):
    """About how many bytes one frame's EXR takes: the largest whole one in ``folder``, else a guess."""
    sizes = [path.stat().st_size for path in Path(folder).glob("frame_*.exr")]
    return max(sizes, default=2 ** 20)


def _override_material():
    """A plain grey diffuse material that also writes its object-space coordinate to the AOV."""
    material = bpy.data.materials.new(OVERRIDE_MATERIAL)
    if material.node_tree is None:  # Blender 4.x; in 5.x every material has nodes
        material.use_nodes = True
    nodes, links = material.node_tree.nodes, material.node_tree.links
    coordinate = nodes.new("ShaderNodeTexCoord")
    aov = nodes.new("ShaderNodeOutputAOV")
    aov.aov_name = COORDINATE_AOV
    links.new(coordinate.outputs["Object"], aov.inputs["Color"])
    principled = next(node for node in nodes if node.type == "BSDF_PRINCIPLED")
    principled.inputs["Base Color"].default_value = (0.6, 0.6, 0.6, 1.0)
    principled.inputs["Roughness"].default_value = 1.0
    return material


def _cycles_device():
    """'GPU' when Cycles has a GPU compute device enabled in the preferences, else 'CPU'."""
    addon = bpy.context.preferences.addons.get("cycles")
    if addon is None:
        return "CPU"
    prefs = addon.preferences
    return "GPU" if getattr(prefs, "compute_device_type", "NONE") not in ("NONE", "") and prefs.has_active_device() \
        else "CPU"
