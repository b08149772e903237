"""The DiffSynth Render panel in Properties › Render."""

import bpy


class DIFFSYNTH_PT_render(bpy.types.Panel):
    bl_label = "DiffSynth Render"
    bl_idname = "DIFFSYNTH_PT_render"
    bl_space_type = "PROPERTIES"
    bl_region_type = "WINDOW"
    bl_context = "render"

    def draw(self, context):
        layout = self.layout
        layout.operator("diffsynth.check_engine", icon="SYSTEM")
        status = context.window_manager.diffsynth_engine_status
        if status:
            layout.label(text=status)
