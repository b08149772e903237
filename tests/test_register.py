"""Registration of the extension in real Blender (the bpy wheel)."""

from conftest import ADDON_MODULE

import diffsynth_render

EXTENSION_TYPES = ["DIFFSYNTH_OT_cancel", "DIFFSYNTH_OT_check_engine", "DIFFSYNTH_OT_import_strip",
                   "DIFFSYNTH_OT_install_dependencies", "DIFFSYNTH_OT_preview_frame", "DIFFSYNTH_OT_render_passes",
                   "DIFFSYNTH_OT_style_gallery", "DIFFSYNTH_OT_stylize", "DIFFSYNTH_OT_stylize_strip",
                   "DIFFSYNTH_PT_render", "DIFFSYNTH_PT_sequencer", "DIFFSYNTH_PT_sidebar"]
WINDOW_MANAGER_PROPERTIES = ("diffsynth_engine_status", "diffsynth_progress", "diffsynth_stage", "diffsynth_running",
                             "diffsynth_cancel", "diffsynth_error_kind")


def extension_types(bpy):
    return sorted(name for name in dir(bpy.types) if name.startswith("DIFFSYNTH_"))


def test_enabled_extension_has_operator_panel_and_preferences(blender):
    assert extension_types(blender) == EXTENSION_TYPES
    assert blender.ops.diffsynth.check_engine.get_rna_type().identifier == "DIFFSYNTH_OT_check_engine"
    prefs = blender.context.preferences.addons[ADDON_MODULE].preferences
    assert type(prefs).bl_idname == ADDON_MODULE == diffsynth_render.__package__
    assert all(hasattr(blender.types.WindowManager, name) for name in WINDOW_MANAGER_PROPERTIES)
    assert blender.context.scene.diffsynth.preset == "stylize"


def test_register_unregister_twice_leaks_nothing(blender):
    diffsynth_render.unregister()  # the fixture registered it once already
    assert extension_types(blender) == []
    for _ in range(2):
        diffsynth_render.register()
        assert extension_types(blender) == EXTENSION_TYPES
        diffsynth_render.unregister()
        assert extension_types(blender) == []
        assert not any(hasattr(blender.types.WindowManager, name) for name in WINDOW_MANAGER_PROPERTIES)
        assert not hasattr(blender.types.Scene, "diffsynth")
    diffsynth_render.register()  # leave it as the fixture expects to find it


def test_engine_and_kernels_import_without_bpy():
    from conftest import run_python

    result = run_python(
        "import sys, diffsynth_render.engine, diffsynth_render.kernels, diffsynth_render.engine.environment;"
        "assert 'bpy' not in sys.modules, 'bpy was imported'; print('ok')"
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"
