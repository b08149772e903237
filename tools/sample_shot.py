"""The demo's sample shot, built with bpy: a small still life a user would show someone.

A table top before a back wall, a tall column, a cube that slides and turns, a cone, a torus
and a ball that rolls through the column's shadow and passes behind the cube, lit by a low
sun; the camera dollies and turns to keep the group framed. Plain grey materials: exactly the
kind of untextured shot the extension stylizes.
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
    bpy.ops.mesh.primitive_plane_add(size=24, location=(0, 5, 0), rotation=(math.radians(90), 0, 0))
    bpy.ops.mesh.primitive_cylinder_add(radius=0.35, depth=3.0, location=(-0.6, 1.6, 1.5))
    _smooth(bpy.context.object)
    bpy.ops.mesh.primitive_cone_add(radius1=0.6, depth=1.3, location=(2.3, 1.2, 0.65))
    _smooth(bpy.context.object)
    bpy.ops.mesh.primitive_torus_add(major_radius=0.55, minor_radius=0.2, location=(-2.6, 0.2, 0.2))
    _smooth(bpy.context.object)
    bpy.ops.mesh.primitive_cube_add(size=1.1, location=(-1.4, -0.6, 0.55))
    cube = bpy.context.object
    bpy.ops.mesh.primitive_uv_sphere_add(radius=0.5, location=(-2.2, 2.4, 0.5))
    ball = _smooth(bpy.context.object)
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
