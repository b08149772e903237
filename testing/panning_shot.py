"""A shot whose motion is the same all through: the camera pans at a steady speed past a row of
objects. Its warp error is about the same at every frame, so a seam that is worse shows (the
farm tests and benchmark use it)."""

import math

import bpy


def build_panning_shot(first=1, frames=24, size=(64, 64), speed=0.25):
    """Replace the current file's scene content with the panning shot of frames ``first`` to
    ``first + frames − 1`` at ``size``; the camera moves ``speed`` units a frame; returns the scene."""
    bpy.ops.wm.read_factory_settings(use_empty=True)
    bpy.context.preferences.edit.keyframe_new_interpolation_type = "LINEAR"
    scene = bpy.context.scene
    scene.frame_start, scene.frame_end = first, first + frames - 1
    scene.render.resolution_x, scene.render.resolution_y = size
    scene.render.resolution_percentage = 100
    bpy.ops.mesh.primitive_plane_add(size=400)
    for index in range(-12, 40):
        x = index * 2.0
        if index % 3 == 0:
            bpy.ops.mesh.primitive_cube_add(size=1.2, location=(x, 1.5 * (index % 2), 0.6),
                                            rotation=(0, 0, math.radians(17 * index)))
        elif index % 3 == 1:
            bpy.ops.mesh.primitive_cylinder_add(radius=0.5, depth=1.6 + 0.3 * (index % 4), location=(x, 0.8, 0.8))
        else:
            bpy.ops.mesh.primitive_uv_sphere_add(radius=0.6, location=(x, -0.6, 0.6))
    bpy.ops.object.light_add(type="SUN", rotation=(math.radians(50), 0, math.radians(30)))
    bpy.ops.object.camera_add(location=(0, -9, 4), rotation=(math.radians(68), 0, 0))
    camera = bpy.context.object
    camera.keyframe_insert("location", frame=first)
    camera.location.x += speed * (frames - 1)
    camera.keyframe_insert("location", frame=first + frames - 1)
    scene.camera = camera
    return scene
