"""The shot's DiffSynth settings (``scene.diffsynth``) and the run's live state (window manager)."""

import bpy

from ..contract import (
    BLEND_MODES,
    DEFAULT_BASE,
    DEFAULT_CONTROLNETS,
    DEFAULT_PRESET,
    MIN_SIZE,
    PRESETS,
    SIZE_MULTIPLE,
    enum_items,
)

MODEL_KINDS = [("TINY", "Embedded Tiny", "Built-in test model: runs anywhere, its pictures mean nothing"),
               ("HUB", "Hugging Face", "A model id, downloaded once when downloads are allowed"),
               ("FOLDER", "Local Folder", "A diffusers model folder"),
               ("CHECKPOINT", "Checkpoint File", "A single SD1.5 .safetensors / .ckpt file")]


class DiffSynthShotSettings(bpy.types.PropertyGroup):
    prompt: bpy.props.StringProperty(name="Prompt", default="a watercolour painting, soft evening light")
    negative_prompt: bpy.props.StringProperty(name="Negative", default="blurry, low quality, text")
    model_kind: bpy.props.EnumProperty(name="Model", items=MODEL_KINDS, default="TINY")
    model_path: bpy.props.StringProperty(name="Model Path", subtype="FILE_PATH",
                                         description="Diffusers folder or SD1.5 checkpoint file")
    hub_id: bpy.props.StringProperty(name="Model Id", default=DEFAULT_BASE)
    tokenizer_path: bpy.props.StringProperty(
        name="Tokenizer", subtype="DIR_PATH",
        description="For a checkpoint file: a folder with vocab.json and merges.txt")
    controlnet_depth: bpy.props.StringProperty(name="Depth ControlNet", default=DEFAULT_CONTROLNETS["depth"])
    controlnet_softedge: bpy.props.StringProperty(name="Soft Edge ControlNet", default=DEFAULT_CONTROLNETS["softedge"])
    depth_weight: bpy.props.FloatProperty(name="Depth Weight", default=1.0, min=0.0, max=2.0)
    softedge_weight: bpy.props.FloatProperty(name="Soft Edge Weight", default=0.8, min=0.0, max=2.0)
    preset: bpy.props.EnumProperty(name="Preset", items=enum_items(PRESETS), default=DEFAULT_PRESET)
    steps: bpy.props.IntProperty(name="Steps", default=0, min=0, max=150, description="0: the preset's")
    guidance_scale: bpy.props.FloatProperty(name="CFG", default=7.5, min=1.0, max=30.0)
    seed: bpy.props.IntProperty(name="Seed", default=0, min=0)
    window: bpy.props.IntProperty(name="Window", default=0, min=0, max=500,
                                  description="Frames blended on each side; 0: the preset's")
    mode: bpy.props.EnumProperty(name="Mode", items=enum_items(BLEND_MODES), default="fast")
    use_scene_size: bpy.props.BoolProperty(name="Scene Size", default=True,
                                           description="Use the scene's output size, rounded to a multiple of 8")
    width: bpy.props.IntProperty(name="Width", default=512, min=MIN_SIZE, max=4096, step=SIZE_MULTIPLE)
    height: bpy.props.IntProperty(name="Height", default=512, min=MIN_SIZE, max=4096, step=SIZE_MULTIPLE)
    use_scene_range: bpy.props.BoolProperty(name="Scene Range", default=True)
    frame_start: bpy.props.IntProperty(name="Start", default=1)
    frame_end: bpy.props.IntProperty(name="End", default=24)
    output_dir: bpy.props.StringProperty(name="Output", subtype="DIR_PATH", default="//diffsynth",
                                         description="Folder for passes, jobs and stylized frames")
    last_output: bpy.props.StringProperty(name="Last Result", subtype="DIR_PATH")


def register():
    bpy.utils.register_class(DiffSynthShotSettings)
    bpy.types.Scene.diffsynth = bpy.props.PointerProperty(type=DiffSynthShotSettings)
    wm = bpy.types.WindowManager
    wm.diffsynth_progress = bpy.props.FloatProperty(name="Progress", subtype="FACTOR", min=0, max=1,
                                                    options={"SKIP_SAVE"})
    wm.diffsynth_stage = bpy.props.StringProperty(name="Stage", options={"SKIP_SAVE"})
    wm.diffsynth_running = bpy.props.BoolProperty(name="Running", options={"SKIP_SAVE"})
    wm.diffsynth_cancel = bpy.props.BoolProperty(name="Cancel Requested", options={"SKIP_SAVE"})
    wm.diffsynth_error_kind = bpy.props.StringProperty(name="Last Error Kind", options={"SKIP_SAVE"})


def unregister():
    wm = bpy.types.WindowManager
    for name in ("diffsynth_progress", "diffsynth_stage", "diffsynth_running", "diffsynth_cancel",
                 "diffsynth_error_kind"):
        delattr(wm, name)
    del bpy.types.Scene.diffsynth
    bpy.utils.unregister_class(DiffSynthShotSettings)
