"""The shot's DiffSynth settings (``scene.diffsynth``) set from plain values: the headless CLI's
options, the demo's choices. What is set there is what a Stylize from the panel would use."""

import os

from .job_spec import DiffusionSpec


def set_shot_options(settings, args, folder):
    """Apply the shot options of the CLI's ``args`` (those given) to the shot settings, the
    output ``folder`` too unless None."""
    if folder is not None:
        settings.output_dir = str(folder)
    if getattr(args, "frames", None):
        settings.use_scene_range = False
        settings.frame_start, settings.frame_end = args.frames
    if args.size:
        settings.use_scene_size = False
        settings.width, settings.height = args.size
    for option, name in (("prompt", "prompt"), ("negative", "negative_prompt"), ("preset", "preset"),
                         ("steps", "steps"), ("seed", "seed")):
        if getattr(args, option) is not None:
            setattr(settings, name, getattr(args, option))
    set_painter(settings, args)
    if args.model:
        set_model(settings, args.model)


def set_painter(settings, args):
    """Apply the painter and style painter arguments (those given) to the shot settings."""
    if args.painter or args.model or args.prompt:  # a model or a prompt asks for Stable Diffusion
        settings.painter = args.painter or DiffusionSpec.kind
    if args.window is not None:
        settings.window = args.window
    if args.keyframes is not None:
        settings.keyframes = args.keyframes.text() if args.keyframes else ""
    if args.style is not None or args.style_image:
        set_style(settings, args.style or str(args.style_image))
    if args.strength is not None:
        settings.style_strength = args.strength
    if args.keep_colors:
        settings.keep_colors = True
    if getattr(args, "base", None):
        settings.base_image = args.base
    if args.image_strength is not None:
        settings.image_strength = args.image_strength


def set_style(settings, style):
    """Point the shot settings at ``style``: a built-in style number, a mix like 3:0.5,12:0.5, or a
    picture file."""
    if os.path.isfile(style):
        settings.style_source, settings.style_image = "IMAGE", os.path.abspath(style)
    elif style.strip().isdigit():
        settings.style_source, settings.style = "BUILTIN", str(int(style))
    else:
        settings.style_source, settings.style_mix = "MIX", style


def set_model(settings, model):
    """Point the shot settings at ``model``: tiny, a folder, a checkpoint file or a Hugging Face id."""
    if model == "tiny":
        settings.model_kind = "TINY"
    elif os.path.isdir(model) or os.path.isfile(model):
        settings.model_kind = "FOLDER" if os.path.isdir(model) else "CHECKPOINT"
        settings.model_path = os.path.abspath(model)
    else:
        settings.model_kind, settings.hub_id = "HUB", model
