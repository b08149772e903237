"""Blender operators."""

import bpy

from . import check_engine, install_dependencies, stylize, vse_strip

_CLASSES = (check_engine.DIFFSYNTH_OT_check_engine, install_dependencies.DIFFSYNTH_OT_install_dependencies,
            stylize.DIFFSYNTH_OT_render_passes, stylize.DIFFSYNTH_OT_stylize, stylize.DIFFSYNTH_OT_preview_frame,
            stylize.DIFFSYNTH_OT_style_gallery, stylize.DIFFSYNTH_OT_stylize_strip, stylize.DIFFSYNTH_OT_cancel,
            vse_strip.DIFFSYNTH_OT_import_strip)


def register():
    for cls in _CLASSES:
        bpy.utils.register_class(cls)


def unregister():
    for cls in reversed(_CLASSES):
        bpy.utils.unregister_class(cls)
