"""Add-on preferences: where the engine's Python lives."""

import sys

import bpy

# The extension's own package (e.g. ``bl_ext.user_default.diffsynth_render``), one level up.
ADDON_PACKAGE = __package__.rpartition(".")[0]


class DiffSynthPreferences(bpy.types.AddonPreferences):
    bl_idname = ADDON_PACKAGE

    engine_python: bpy.props.StringProperty(
        name="Engine Python",
        description=(
            "Python interpreter with torch and diffusers that runs the engine in its own process. "
            "Empty: Blender's own Python"
        ),
        subtype="FILE_PATH",
    )

    def draw(self, context):
        layout = self.layout
        layout.prop(self, "engine_python")
        row = layout.row()
        row.operator("diffsynth.check_engine", icon="SYSTEM")
        status = context.window_manager.diffsynth_engine_status
        if status:
            row.label(text=status)


def get_preferences(context):
    """This extension's preferences."""
    return context.preferences.addons[ADDON_PACKAGE].preferences


def engine_python(context):
    """The interpreter that runs the engine: the preference, or Blender's own Python."""
    return bpy.path.abspath(get_preferences(context).engine_python) or sys.executable
