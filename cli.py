"""Headless Stylize on the ``bpy`` module (render farms, previz scripts):

    python -m diffsynth_render.cli stylize SCENE.blend --out DIR [--frames 1-48] [--size 512x512]
        [--prompt TEXT] [--negative TEXT] [--model tiny|FOLDER|FILE|HF_ID] [--preset stylize]
        [--steps N] [--seed N] [--allow-downloads] [--save-blend OUT.blend]

SCENE.blend itself is never written; ``--save-blend`` saves a copy with the new strip. Exit
status 0 on success, 1 when the stylize failed or was cancelled, 2 for bad arguments.
"""

import argparse
import os
import sys
from pathlib import Path

from .contract import PRESETS, Exit


def build_parser():
    parser = argparse.ArgumentParser(prog="python -m diffsynth_render.cli", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    stylize = commands.add_parser("stylize", help="stylize a .blend's shot and add the result as a VSE strip")
    stylize.add_argument("blend", type=Path, help="the .blend file with the shot")
    stylize.add_argument("--out", type=Path, required=True, help="output folder (passes, jobs, frames)")
    stylize.add_argument("--frames", type=_frame_range, help="frame range FIRST-LAST (default: the scene's)")
    stylize.add_argument("--size", type=_size, help="WIDTHxHEIGHT (default: the scene's, rounded to 8)")
    stylize.add_argument("--prompt", help="the prompt (default: the one saved in the file)")
    stylize.add_argument("--negative", help="the negative prompt")
    stylize.add_argument("--model", help="tiny, a diffusers folder, an SD1.5 checkpoint file or a Hugging Face id")
    stylize.add_argument("--preset", choices=PRESETS)
    stylize.add_argument("--steps", type=int, help="denoising steps (default: the preset's)")
    stylize.add_argument("--seed", type=int)
    stylize.add_argument("--allow-downloads", action="store_true",
                         help="fetch Hugging Face models missing from the cache (otherwise only the cache is read)")
    stylize.add_argument("--save-blend", type=Path, metavar="OUT.blend", help="save a copy of the file with the strip")
    return parser


def _frame_range(text):
    try:
        first, last = (int(part) for part in text.split("-"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a range like 1-48") from None
    return first, last


def _size(text):
    try:
        width, height = (int(part) for part in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a size like 512x512") from None
    return width, height


def stylize(args):
    """Open the file, apply the arguments to its DiffSynth settings, run Stylize; exit status."""
    import bpy

    import addon_utils  # importable only once bpy is

    if not args.blend.is_file():
        print(f"cli: {args.blend} does not exist", file=sys.stderr)
        return Exit.BAD_INPUT
    bpy.ops.wm.open_mainfile(filepath=str(args.blend))
    addon_utils.enable(__package__, default_set=True)
    settings = bpy.context.scene.diffsynth
    settings.output_dir = str(args.out.absolute())
    if args.frames:
        settings.use_scene_range = False
        settings.frame_start, settings.frame_end = args.frames
    if args.size:
        settings.use_scene_size = False
        settings.width, settings.height = args.size
    for option, name in (("prompt", "prompt"), ("negative", "negative_prompt"), ("preset", "preset"),
                         ("steps", "steps"), ("seed", "seed")):
        if getattr(args, option) is not None:
            setattr(settings, name, getattr(args, option))
    if args.model:
        set_model(settings, args.model)
    if args.allow_downloads:
        bpy.context.preferences.system.use_online_access = True
        bpy.context.preferences.addons[__package__].preferences.allow_downloads = True
    try:
        bpy.ops.diffsynth.stylize()
    except RuntimeError as error:  # the operator's ERROR report
        print(f"cli: {str(error).strip()}", file=sys.stderr)
        return Exit.FAILED
    print(f"cli: frames in {settings.last_output}")
    if args.save_blend:
        bpy.ops.wm.save_as_mainfile(filepath=str(args.save_blend.absolute()), copy=True)
        print(f"cli: saved {args.save_blend}")
    return Exit.DONE


def set_model(settings, model):
    """Point the shot settings at ``model``: tiny, a folder, a checkpoint file or a Hugging Face id."""
    if model == "tiny":
        settings.model_kind = "TINY"
    elif os.path.isdir(model) or os.path.isfile(model):
        settings.model_kind = "FOLDER" if os.path.isdir(model) else "CHECKPOINT"
        settings.model_path = os.path.abspath(model)
    else:
        settings.model_kind, settings.hub_id = "HUB", model


def main(argv=None):
    args = build_parser().parse_args(argv)
    return stylize(args)


if __name__ == "__main__":
    sys.exit(main())
