"""Add-on preferences: the engine's Python and packages, device, model cache, downloads
(``blender_state`` reads them)."""

import bpy

from ..blender_state import ADDON_PACKAGE
from ..contract import DEVICES, enum_items


class DiffSynthPreferences(bpy.types.AddonPreferences):
    bl_idname = ADDON_PACKAGE

    engine_python: bpy.props.StringProperty(
        name="Engine Python",
        description=("Python interpreter with torch and diffusers that runs the engine in its own process. "
                     "Empty: Blender's own Python, with the packages installed by Install Dependencies"),
        subtype="FILE_PATH",
    )
    packages_dir: bpy.props.StringProperty(
        name="Packages Folder", subtype="DIR_PATH",
        description="Where Install Dependencies puts the engine's packages. Empty: the extension's user folder")
    device: bpy.props.EnumProperty(name="Device", items=enum_items(DEVICES), default="auto")
    model_cache_dir: bpy.props.StringProperty(
        name="Model Cache", subtype="DIR_PATH", description="Hugging Face cache folder. Empty: the usual one")
    allow_downloads: bpy.props.BoolProperty(
        name="Allow Model Downloads", default=False,
        description="Fetch Hugging Face models that are not in the cache (also needs Blender's online access)")

    def draw(self, context):
        layout = self.layout
        layout.prop(self, "engine_python")
        layout.prop(self, "packages_dir")
        row = layout.row()
        row.operator("diffsynth.install_dependencies", icon="IMPORT")
        row.operator("diffsynth.check_engine", icon="SYSTEM")
        status = context.window_manager.diffsynth_engine_status
        if status:
            layout.label(text=status)
        layout.prop(self, "device")
        layout.prop(self, "model_cache_dir")
        row = layout.row()
        row.enabled = bpy.app.online_access
        row.prop(self, "allow_downloads")
        if not bpy.app.online_access:
            layout.label(text="Blender's online access is off (Preferences › System): no downloads", icon="INFO")

