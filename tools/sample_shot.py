"""A small untextured, animated sample shot built with bpy (for the demo and tests)."""

import math

import bpy


def build_sample_shot(frame_end=24, resolution=(256, 144)):
    """Replace the current file's scene content with the sample shot; returns the scene.

    A ground plane, a cube that slides and turns, a sphere that bobs, a sun and a camera,
    all with plain grey materials: exactly the kind of shot the extension stylizes.
    """
    bpy.ops.wm.read_factory_settings(use_empty=True)
    scene = bpy.context.scene
    scene.frame_start, scene.frame_end = 1, frame_end
    scene.render.fps = 24
    scene.render.resolution_x, scene.render.resolution_y = resolution
    scene.render.resolution_percentage = 100

    bpy.ops.mesh.primitive_plane_add(size=12)
    bpy.ops.mesh.primitive_cube_add(size=1.2, location=(-1.5, 0, 0.6))
    cube = bpy.context.object
    bpy.ops.mesh.primitive_uv_sphere_add(radius=0.6, location=(1.2, 0.8, 0.6))
    sphere = bpy.context.object
    _keyframe(cube, frame_end, location=(1.0, -0.5, 0.6), rotation_euler=(0, 0, math.radians(90)))
    _keyframe(sphere, frame_end, location=(1.2, 0.8, 1.4), rotation_euler=(0, 0, 0))

    bpy.ops.object.light_add(type="SUN", rotation=(math.radians(50), 0, math.radians(140)))
    bpy.context.object.data.energy = 2.0
    bpy.ops.object.camera_add(location=(0, -8, 4.0), rotation=(math.radians(65), 0, 0))
    scene.camera = bpy.context.object
    return scene


def _keyframe(obj, frame_end, **end_values):
    for path in end_values:
        obj.keyframe_insert(path, frame=1)
    for path, value in end_values.items():
        setattr(obj, path, value)
        obj.keyframe_insert(path, frame=frame_end)
