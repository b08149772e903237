"""The DiffSynth panels: Properties › Output, the 3D Viewport's sidebar and the Sequencer's
sidebar (tab "DiffSynth")."""

import os

import bpy

from ..blender_state import PREVIEW_IMAGE, STEP_IMAGE, render_size
from ..job_spec import DiffusionSpec, StyleSpec


def draw_shot_settings(layout, context):
    """Everything a Stylize needs, then the buttons, the live progress and the last result."""
    scene = context.scene
    settings = scene.diffsynth
    draw_painter(layout, settings)
    draw_size(layout, scene)
    layout.prop(settings, "use_scene_range")
    if not settings.use_scene_range:
        row = layout.row(align=True)
        row.prop(settings, "frame_start")
        row.prop(settings, "frame_end")
    layout.prop(settings, "output_dir")
    row = layout.row(align=True)
    row.operator("diffsynth.render_passes", icon="RENDERLAYERS")
    row.operator("diffsynth.preview_frame", icon="IMAGE_DATA")
    row.operator("diffsynth.stylize", icon="SHADERFX")
    draw_run(layout, context)
    image = bpy.data.images.get(PREVIEW_IMAGE)
    if image is not None and settings.last_preview:
        layout.template_icon(icon_value=image.preview_ensure().icon_id, scale=8.0)
        layout.label(text=f"Preview: {bpy.path.basename(settings.last_preview)}", icon="IMAGE_DATA")
    layout.operator("diffsynth.check_engine", icon="SYSTEM")
    if context.window_manager.diffsynth_engine_status:
        layout.label(text=context.window_manager.diffsynth_engine_status)


def draw_strip_settings(layout, context):
    """Stylize Strip: the painter (the shot's settings), size and folder, the strip, the run."""
    scene = context.scene
    settings = scene.diffsynth
    draw_painter(layout, settings)
    draw_size(layout, scene)
    layout.prop(settings, "output_dir")
    editor = scene.sequence_editor
    strip = editor.active_strip if editor else None
    layout.label(text=f"Strip: {strip.name} ({strip.type.lower()})" if strip else "Select a movie or image strip",
                 icon="SEQUENCE")
    layout.operator("diffsynth.stylize_strip", icon="SHADERFX")
    draw_run(layout, context)


def draw_painter(layout, settings):
    """The painter and its settings, the smoothing and the keyframes."""
    layout.prop(settings, "painter")
    draw = {StyleSpec.kind: draw_style_settings, DiffusionSpec.kind: draw_diffusion_settings}[settings.painter]
    draw(layout, settings)
    row = layout.row(align=True)
    row.prop(settings, "window")
    row.prop(settings, "mode", text="")
    layout.prop(settings, "keyframes")


def draw_size(layout, scene):
    """The frames' size: the scene's output size, or one of its own."""
    settings = scene.diffsynth
    layout.prop(settings, "use_scene_size")
    if not settings.use_scene_size:
        row = layout.row(align=True)
        row.prop(settings, "width")
        row.prop(settings, "height")
    (width, height), note = render_size(scene, settings)
    layout.label(text=note or f"Size {width}x{height}")


def draw_run(layout, context):
    """The running Stylize's progress and Cancel, or how the last ended, and its result."""
    settings, wm = context.scene.diffsynth, context.window_manager
    if wm.diffsynth_running:
        layout.progress(factor=wm.diffsynth_progress, text=wm.diffsynth_stage)
        step = bpy.data.images.get(STEP_IMAGE)
        if step is not None and os.path.isfile(bpy.path.abspath(step.filepath)):
            layout.template_icon(icon_value=step.preview_ensure().icon_id, scale=8.0)
        layout.operator("diffsynth.cancel", icon="CANCEL")
    elif wm.diffsynth_stage:
        layout.label(text=wm.diffsynth_stage)
    if wm.diffsynth_error_kind == "missing-packages":
        layout.operator("diffsynth.install_dependencies", icon="IMPORT")
    if settings.last_output:
        row = layout.row()
        row.label(text=bpy.path.basename(settings.last_output.rstrip("/\\")), icon="SEQUENCE")
        row.operator("wm.path_open", text="Open Folder", icon="FILE_FOLDER").filepath = settings.last_output


def draw_style_settings(layout, settings):
    """The style painter: where the style comes from, the style, strength, colours, base image."""
    layout.row().prop(settings, "style_source", expand=True)
    if settings.style_source == "BUILTIN":
        layout.template_icon_view(settings, "style", show_labels=True, scale=5.0, scale_popup=4.0)
        layout.operator("diffsynth.style_gallery", icon="IMGDISPLAY")
    elif settings.style_source == "MIX":
        layout.prop(settings, "style_mix")
    else:
        layout.prop(settings, "style_image")
    row = layout.row(align=True)
    row.prop(settings, "style_strength")
    row.prop(settings, "keep_colors")
    layout.prop(settings, "base_image")


def draw_diffusion_settings(layout, settings):
    """Stable Diffusion: prompts, model, ControlNet weights, preset and sampling."""
    layout.prop(settings, "prompt")
    layout.prop(settings, "negative_prompt")
    layout.prop(settings, "model_kind")
    if settings.model_kind == "HUB":
        layout.prop(settings, "hub_id")
    elif settings.model_kind in ("FOLDER", "CHECKPOINT"):
        layout.prop(settings, "model_path")
        if settings.model_kind == "CHECKPOINT":
            layout.prop(settings, "tokenizer_path")
    if settings.model_kind != "TINY":
        layout.prop(settings, "controlnet_depth")
        layout.prop(settings, "controlnet_softedge")
    else:
        layout.label(text="Test model: its pictures mean nothing", icon="INFO")
    row = layout.row(align=True)
    row.prop(settings, "depth_weight")
    row.prop(settings, "softedge_weight")
    row = layout.row(align=True)
    row.prop(settings, "image_strength")
    row.prop(settings, "base_image", text="")
    layout.prop(settings, "preset")
    row = layout.row(align=True)
    row.prop(settings, "steps")
    row.prop(settings, "guidance_scale")
    row.prop(settings, "seed")


class _ShotPanel:
    bl_label = "DiffSynth Render"

    def draw(self, context):
        draw_shot_settings(self.layout, context)


class DIFFSYNTH_PT_render(_ShotPanel, bpy.types.Panel):
    bl_idname = "DIFFSYNTH_PT_render"
    bl_space_type = "PROPERTIES"
    bl_region_type = "WINDOW"
    bl_context = "output"


class DIFFSYNTH_PT_sidebar(_ShotPanel, bpy.types.Panel):
    bl_idname = "DIFFSYNTH_PT_sidebar"
    bl_space_type = "VIEW_3D"
    bl_region_type = "UI"
    bl_category = "DiffSynth"


class DIFFSYNTH_PT_sequencer(bpy.types.Panel):
    """The Sequencer's sidebar (tab "DiffSynth"): Stylize Strip."""

    bl_idname = "DIFFSYNTH_PT_sequencer"
    bl_label = "DiffSynth Render"
    bl_space_type = "SEQUENCE_EDITOR"
    bl_region_type = "UI"
    bl_category = "DiffSynth"

    def draw(self, context):
        draw_strip_settings(self.layout, context)
