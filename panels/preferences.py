"""Add-on preferences: the engine's Python and packages, device, model cache, downloads
(``blender_state`` reads them)."""

import bpy

from ..blender_state import ADDON_PACKAGE
from ..contract import BASE_IMAGES, DEVICES, PAINTERS, enum_items
from ..job_spec import JobSpec, StyleSpec, default, default_and_limits
from . import style_previews


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
    device: bpy.props.EnumProperty(name="Device", items=enum_items(DEVICES), default=default(JobSpec, "device"))
    model_cache_dir: bpy.props.StringProperty(
        name="Model Cache", subtype="DIR_PATH", description="Hugging Face cache folder. Empty: the usual one")
    allow_downloads: bpy.props.BoolProperty(
        name="Allow Model Downloads", default=False,
        description="Fetch Hugging Face models that are not in the cache (also needs Blender's online access)")

    # What a shot shows until its own painter and style are chosen in the DiffSynth panel.
    default_painter: bpy.props.EnumProperty(name="Painter", items=enum_items(PAINTERS),
                                            default=default(JobSpec, "painter").kind)
    default_style: bpy.props.EnumProperty(name="Style", items=style_previews.style_items,
                                          default=default(StyleSpec, "builtin"))
    default_style_strength: bpy.props.FloatProperty(name="Strength", subtype="FACTOR",
                                                    **default_and_limits(StyleSpec, "strength"))
    default_keep_colors: bpy.props.BoolProperty(name="Keep Colours", default=default(StyleSpec, "keep_colors"))
    default_base_image: bpy.props.EnumProperty(name="Base", items=enum_items(BASE_IMAGES),
                                               default=default(StyleSpec, "base"))

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
        box = layout.box()
        box.label(text="Defaults for shots (until a shot chooses its own)")
        box.prop(self, "default_painter")
        box.template_icon_view(self, "default_style", show_labels=True, scale=4.0, scale_popup=4.0)
        row = box.row()
        row.prop(self, "default_style_strength")
        row.prop(self, "default_keep_colors")
        box.prop(self, "default_base_image")

