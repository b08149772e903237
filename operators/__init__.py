"""Blender operators."""

import bpy

from . import check_engine

_CLASSES = (check_engine.DIFFSYNTH_OT_check_engine,)


def register():
    for cls in _CLASSES:
        bpy.utils.register_class(cls)


def unregister():
    for cls in reversed(_CLASSES):
        bpy.utils.unregister_class(cls)
