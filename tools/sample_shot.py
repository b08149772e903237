"""The demo's sample shot, built with bpy: a small still life a user would show someone.

A table top before a back wall, a tall column, a cube that slides and turns, a cone, a torus
and a ball that rolls through the column's shadow and passes behind the cube, lit by a low
sun; the camera dollies and turns to keep the group framed. Flat colours and no textures, as a
previz has them: exactly the kind of untextured shot the extension stylizes (only the *Scene*
base shows the colours; the passes never see them).
"""

import math

import bpy


def build_sample_shot(frame_end=24, resolution=(512, 288)):
    """Replace the current file's scene content with the sample shot; returns the scene."""
    bpy.ops.wm.read_factory_settings(use_empty=True)
    scene = bpy.context.scene
    scene.frame_start, scene.frame_end = 1, frame_end
    scene.render.fps = 24
    scene.render.resolution_x, scene.render.resolution_y = resolution
    scene.render.resolution_percentage = 100

    bpy.ops.mesh.primitive_plane_add(size=16)
    give_colour(bpy.context.object, "Table", (0.45, 0.28, 0.16))
    bpy.ops.mesh.primitive_plane_add(size=24, location=(0, 5, 0), rotation=(math.radians(90), 0, 0))
    give_colour(bpy.context.object, "Wall", (0.55, 0.62, 0.7))
    bpy.ops.mesh.primitive_cylinder_add(radius=0.35, depth=3.0, location=(-0.6, 1.6, 1.5))
    give_colour(_smooth(bpy.context.object), "Column", (0.85, 0.8, 0.68))
    bpy.ops.mesh.primitive_cone_add(radius1=0.6, depth=1.3, location=(2.3, 1.2, 0.65))
    give_colour(_smooth(bpy.context.object), "Cone", (0.9, 0.7, 0.1))
    bpy.ops.mesh.primitive_torus_add(major_radius=0.55, minor_radius=0.2, location=(-2.6, 0.2, 0.2))
    give_colour(_smooth(bpy.context.object), "Torus", (0.2, 0.6, 0.3))
    bpy.ops.mesh.primitive_cube_add(size=1.1, location=(-1.4, -0.6, 0.55))
    cube = give_colour(bpy.context.object, "Cube", (0.75, 0.1, 0.08))
    bpy.ops.mesh.primitive_uv_sphere_add(radius=0.5, location=(-2.2, 2.4, 0.5))
    ball = give_colour(_smooth(bpy.context.object), "Ball", (0.1, 0.25, 0.8))
    _keyframes(cube, frame_end, location=(0.4, -0.9, 0.55), rotation_euler=(0, 0, math.radians(60)))
    _keyframes(ball, frame_end, location=(1.4, 0.9, 0.5), rotation_euler=(math.radians(-120), 0, 0))

    bpy.ops.object.light_add(type="SUN", rotation=(math.radians(62), 0, math.radians(-30)))
    bpy.context.object.data.energy = 3.0
    bpy.ops.object.empty_add(location=(0, 0.6, 0.7))
    target = bpy.context.object
    bpy.ops.object.camera_add(location=(-2.5, -8.5, 3.4))
    camera = bpy.context.object
    camera.data.lens = 40
    track = camera.constraints.new("TRACK_TO")
    track.target, track.track_axis, track.up_axis = target, "TRACK_NEGATIVE_Z", "UP_Y"
    _keyframes(camera, frame_end, location=(1.5, -7.6, 2.9))
    scene.camera = camera
    return scene


def give_colour(obj, name, colour):
    """Give ``obj`` a plain material of the base colour ``colour`` (RGB)."""
    material = bpy.data.materials.new(name)
    if material.node_tree is None:  # Blender 4.x; in 5.x every material has nodes
        material.use_nodes = True
    shader = next(node for node in material.node_tree.nodes if node.type == "BSDF_PRINCIPLED")
    shader.inputs["Base Color"].default_value = (*colour, 1.0)
    shader.inputs["Roughness"].default_value = 0.7
    obj.data.materials.append(material)
    return obj


def _smooth(obj):
    obj.data.shade_smooth()
    return obj


def _keyframes(obj, frame_end, **end_values):
    """Key ``obj``'s current values at frame 1 and ``end_values`` at ``frame_end``."""
    for path in end_values:
        obj.keyframe_insert(path, frame=1)
    for path, value in end_values.items():
        setattr(obj, path, value)
        obj.keyframe_insert(path, frame=frame_end)
