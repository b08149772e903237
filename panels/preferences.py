"""Add-on preferences: the engine's Python and packages, device, model cache, downloads."""

import sys

import bpy

# The extension's own package (e.g. ``bl_ext.user_default.diffsynth_render``), one level up.
ADDON_PACKAGE = __package__.rpartition(".")[0]
DEVICES = [("auto", "Auto", "CUDA, then Apple MPS, then the CPU"), ("cuda", "CUDA", "An NVIDIA GPU"),
           ("mps", "MPS", "An Apple GPU"), ("cpu", "CPU", "The processor (slow)")]


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
    device: bpy.props.EnumProperty(name="Device", items=DEVICES, default="auto")
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


def get_preferences(context):
    """This extension's preferences."""
    return context.preferences.addons[ADDON_PACKAGE].preferences


def engine_python(context):
    """The interpreter that runs the engine: the preference, or Blender's own Python."""
    return bpy.path.abspath(get_preferences(context).engine_python) or sys.executable


def packages_dir(context, create=False):
    """The folder Install Dependencies fills and the engine imports from, or None when there is
    none (an add-on loaded from a plain folder, as in development, has no extension user folder)."""
    chosen = get_preferences(context).packages_dir
    if chosen:
        return bpy.path.abspath(chosen)
    try:
        return bpy.utils.extension_path_user(ADDON_PACKAGE, path="site-packages", create=create)
    except ValueError:
        return None


def downloads_allowed(context):
    """Downloads are on in these preferences and Blender allows online access."""
    return get_preferences(context).allow_downloads and bpy.app.online_access
