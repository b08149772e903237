"""The shot's DiffSynth settings (``scene.diffsynth``) and the run's live state (window manager)."""

import bpy

from ..blender_state import get_preferences
from ..contract import (
    BASE_IMAGES,
    BLEND_MODES,
    DEFAULT_BASE,
    DEFAULT_CONTROLNETS,
    MAX_SIZE,
    MIN_SIZE,
    PAINTERS,
    PRESETS,
    SIZE_MULTIPLE,
    STYLE_WINDOW,
    enum_items,
)
from ..job_spec import (
    ControlSpec,
    DiffusionSpec,
    JobSpec,
    Keyframes,
    Smoothing,
    StyleSpec,
    default,
    default_and_limits,
    limits,
)
from . import style_previews

MODEL_KINDS = [("TINY", "Embedded Tiny", "Built-in test model: runs anywhere, its pictures mean nothing"),
               ("HUB", "Hugging Face", "A model id, downloaded once when downloads are allowed"),
               ("FOLDER", "Local Folder", "A diffusers model folder"),
               ("CHECKPOINT", "Checkpoint File", "A single SD1.5 .safetensors / .ckpt file")]


STYLE_SOURCES = [("BUILTIN", "Built-in", "One of the 26 built-in styles"),
                 ("MIX", "Mix", "Several built-in styles mixed, e.g. 3:0.5,12:0.5"),
                 ("IMAGE", "Image", "Any picture as the style (the arbitrary-style network)")]


def following_preference(name, fallback):
    """``get``/``set`` for a shot setting that shows the add-on preference ``default_<name>`` until
    it is set on the shot (``fallback`` where the preferences are not there)."""
    key = f"{name}_chosen"

    def get(self):
        return self[key] if key in self else _preference(name, fallback)

    def set(self, value):
        self[key] = value

    return {"get": get, "set": set}


def _preference(name, fallback):
    try:
        prefs = get_preferences(bpy.context)
    except (KeyError, AttributeError):
        return fallback
    value, rna = getattr(prefs, f"default_{name}"), prefs.bl_rna.properties[f"default_{name}"]
    if rna.type != "ENUM":
        return value
    return rna.enum_items[value].value if value in rna.enum_items else int(value)  # styles: items made at run time


PAINTER, STYLE = default(JobSpec, "painter").kind, StyleSpec()  # what a shot starts with


def _index(choices, name):
    return list(choices).index(name)


class DiffSynthShotSettings(bpy.types.PropertyGroup):
    painter: bpy.props.EnumProperty(name="Painter", items=enum_items(PAINTERS),
                                    **following_preference("painter", _index(PAINTERS, PAINTER)))
    style_source: bpy.props.EnumProperty(name="Style From", items=STYLE_SOURCES, default="BUILTIN")
    style: bpy.props.EnumProperty(name="Style", items=style_previews.style_items,
                                  **following_preference("style", STYLE.builtin))
    style_mix: bpy.props.StringProperty(name="Mix", default="3:0.5,12:0.5",
                                        description="Built-in styles and their weights, e.g. 3:0.5,12:0.5")
    style_image: bpy.props.StringProperty(name="Style Image", subtype="FILE_PATH",
                                          description="Any picture: its look is painted onto the shot")
    style_strength: bpy.props.FloatProperty(name="Strength", subtype="FACTOR", **limits(StyleSpec, "strength"),
                                            description="0: the base image, 1: fully painted",
                                            **following_preference("style_strength", STYLE.strength))
    keep_colors: bpy.props.BoolProperty(name="Keep Colours",
                                        description="The base image's colours with the style's light and texture",
                                        **following_preference("keep_colors", STYLE.keep_colors))
    base_image: bpy.props.EnumProperty(name="Base", items=enum_items(BASE_IMAGES),
                                       description="The picture each frame is painted from, made from the passes",
                                       **following_preference("base_image", _index(BASE_IMAGES, STYLE.base)))
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
    depth_weight: bpy.props.FloatProperty(name="Depth Weight", **default_and_limits(ControlSpec, "weight"))
    softedge_weight: bpy.props.FloatProperty(name="Soft Edge Weight", default=0.8, **limits(ControlSpec, "weight"))
    image_strength: bpy.props.FloatProperty(
        name="Image Strength", subtype="FACTOR", **default_and_limits(DiffusionSpec, "image_strength"),
        description="1: start from pure noise; below 1: from the base image, noised this far (img2img)")
    preset: bpy.props.EnumProperty(name="Preset", items=enum_items(PRESETS), default=default(DiffusionSpec, "preset"))
    # Steps and window 0: the spec's None, the preset's (the painter's) own.
    steps: bpy.props.IntProperty(name="Steps", default=0, min=0, max=limits(DiffusionSpec, "steps")["max"],
                                 description="0: the preset's")
    guidance_scale: bpy.props.FloatProperty(name="CFG", **default_and_limits(DiffusionSpec, "guidance_scale"))
    seed: bpy.props.IntProperty(name="Seed", **default_and_limits(DiffusionSpec, "seed"))
    window: bpy.props.IntProperty(name="Window", default=0, min=0, max=limits(Smoothing, "window")["max"],
                                  description="Frames blended on each side; 0: the preset's (the style painter's: "
                                              f"{STYLE_WINDOW})")
    mode: bpy.props.EnumProperty(name="Mode", items=enum_items(BLEND_MODES), default=default(Smoothing, "mode"))
    keyframes: bpy.props.StringProperty(name="Keyframes", description=Keyframes.HELP.capitalize())
    use_scene_size: bpy.props.BoolProperty(name="Scene Size", default=True,
                                           description="Use the scene's output size, rounded to a multiple of 8")
    width: bpy.props.IntProperty(name="Width", default=default(JobSpec, "size")[0], min=MIN_SIZE, max=MAX_SIZE,
                                 step=SIZE_MULTIPLE)
    height: bpy.props.IntProperty(name="Height", default=default(JobSpec, "size")[1], min=MIN_SIZE, max=MAX_SIZE,
                                  step=SIZE_MULTIPLE)
    use_scene_range: bpy.props.BoolProperty(name="Scene Range", default=True)
    frame_start: bpy.props.IntProperty(name="Start", default=1)
    frame_end: bpy.props.IntProperty(name="End", default=24)
    output_dir: bpy.props.StringProperty(name="Output", subtype="DIR_PATH", default="//diffsynth",
                                         description="Folder for passes, jobs and stylized frames")
    last_output: bpy.props.StringProperty(name="Last Result", subtype="DIR_PATH")
    last_preview: bpy.props.StringProperty(name="Last Preview", subtype="FILE_PATH")
    gallery_dir: bpy.props.StringProperty(name="Style Gallery", subtype="DIR_PATH",
                                          description="The styles painted on this scene: the picker's thumbnails")


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
    style_previews.unregister()
    wm = bpy.types.WindowManager
    for name in ("diffsynth_progress", "diffsynth_stage", "diffsynth_running", "diffsynth_cancel",
                 "diffsynth_error_kind"):
        delattr(wm, name)
    del bpy.types.Scene.diffsynth
    bpy.utils.unregister_class(DiffSynthShotSettings)
