"""UI panels, property groups and add-on preferences."""

import bpy

from . import preferences, properties, render_panel

_CLASSES = (preferences.DiffSynthPreferences, render_panel.DIFFSYNTH_PT_render, render_panel.DIFFSYNTH_PT_sidebar,
            render_panel.DIFFSYNTH_PT_sequencer)


def _strip_menu_item(menu, context):
    menu.layout.separator()
    menu.layout.operator("diffsynth.stylize_strip", icon="SHADERFX")


def register():
    properties.register()
    for cls in _CLASSES:
        bpy.utils.register_class(cls)
    bpy.types.SEQUENCER_MT_strip.append(_strip_menu_item)  # Sequencer › Strip › Stylize Strip
    bpy.types.WindowManager.diffsynth_engine_status = bpy.props.StringProperty(
        name="Engine Status",
        description="Result of the last engine check",
        options={"SKIP_SAVE"},
    )


def unregister():
    bpy.types.SEQUENCER_MT_strip.remove(_strip_menu_item)
    del bpy.types.WindowManager.diffsynth_engine_status
    for cls in reversed(_CLASSES):
        bpy.utils.unregister_class(cls)
    properties.unregister()
