"""Headless Stylize on the ``bpy`` module (render farms, previz scripts):

    python -m diffsynth_render.cli stylize SCENE.blend --out DIR [--frames 1-48] [--size 512x512]
        [--painter style|diffusion] [--window N] [--keyframes every:K|1,13,24]
        [--style 19 | --style 3:0.5,12:0.5 | --style-image PICTURE] [--strength 0.8] [--keep-colors]
        [--base normals|clay]
        [--prompt TEXT] [--negative TEXT] [--model tiny|FOLDER|FILE|HF_ID] [--preset stylize]
        [--steps N] [--seed N] [--allow-downloads] [--save-blend OUT.blend]
        [--engine-python PYTHON]

SCENE.blend itself is never written; ``--save-blend`` saves a copy with the new strip. The engine
runs in its own process, in ``--engine-python`` (default: the Python running this command), which
needs the engine's packages (``engine/requirements.txt``); from a Blender-only Python (a bpy 4.2
venv, say) name one that has them. Exit status 0 on success, 1 when the stylize failed or was
cancelled, 2 for bad arguments.
"""

import argparse
import os
import sys
from pathlib import Path

from .contract import BASE_IMAGES, KEYFRAMES_HELP, PAINTERS, PRESETS, Exit, parse_keyframes, style_weights


def build_parser():
    parser = argparse.ArgumentParser(prog="python -m diffsynth_render.cli", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    stylize = commands.add_parser("stylize", help="stylize a .blend's shot and add the result as a VSE strip")
    stylize.add_argument("blend", type=Path, help="the .blend file with the shot")
    stylize.add_argument("--out", type=Path, required=True, help="output folder (passes, jobs, frames)")
    stylize.add_argument("--frames", type=_frame_range, help="frame range FIRST-LAST (default: the scene's)")
    stylize.add_argument("--size", type=_size, help="WIDTHxHEIGHT (default: the scene's, rounded to 8)")
    stylize.add_argument("--painter", choices=PAINTERS, help="style (built-in, no download) or diffusion "
                         "(Stable Diffusion); default: the file's")
    stylize.add_argument("--window", type=int, help="frames blended on each side (0: the default)")
    stylize.add_argument("--keyframes", type=_checked_by(parse_keyframes), help=KEYFRAMES_HELP)
    style = stylize.add_mutually_exclusive_group()
    style.add_argument("--style", type=_checked_by(style_weights),
                       help="style painter: a built-in style 0-25 or a mix like 3:0.5,12:0.5")
    style.add_argument("--style-image", type=_picture, help="style painter: any picture as the style")
    stylize.add_argument("--strength", type=_fraction, help="style painter: 0 (the base image) to 1 (fully painted)")
    stylize.add_argument("--keep-colors", action="store_true", help="style painter: keep the base image's colours")
    stylize.add_argument("--base", choices=BASE_IMAGES, help="style painter: the picture each frame is painted from")
    stylize.add_argument("--prompt", help="the prompt (default: the one saved in the file)")
    stylize.add_argument("--negative", help="the negative prompt")
    stylize.add_argument("--model", help="tiny, a diffusers folder, an SD1.5 checkpoint file or a Hugging Face id")
    stylize.add_argument("--preset", choices=PRESETS)
    stylize.add_argument("--steps", type=int, help="denoising steps (default: the preset's)")
    stylize.add_argument("--seed", type=int)
    stylize.add_argument("--allow-downloads", action="store_true",
                         help="fetch Hugging Face models missing from the cache (otherwise only the cache is read)")
    stylize.add_argument("--save-blend", type=Path, metavar="OUT.blend", help="save a copy of the file with the strip")
    stylize.add_argument("--engine-python", type=_program, metavar="PYTHON",
                         help="the Python that runs the engine, with torch and OpenEXR (default: this Python)")
    return parser


def _checked_by(check):
    """An argparse type: the text as given, once ``check(text)`` raised no ValueError (its
    message is the error)."""
    def argument(text):
        try:
            check(text)
        except ValueError as error:
            raise argparse.ArgumentTypeError(str(error)) from None
        return text

    return argument


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


def _picture(text):
    if not Path(text).is_file():
        raise argparse.ArgumentTypeError(f"{text} does not exist")
    return Path(text).absolute()


def _program(text):
    path = Path(text)
    if not path.is_file() or not os.access(path, os.X_OK):
        raise argparse.ArgumentTypeError(f"{text} is not an executable file")
    return path.absolute()


def _fraction(text):
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number from 0 to 1")
    return value


def stylize(args):
    """Open the file, apply the arguments to its DiffSynth settings, run Stylize; exit status."""
    import bpy

    import addon_utils  # importable only once bpy is

    if not args.blend.is_file():
        print(f"cli: {args.blend} does not exist", file=sys.stderr)
        return Exit.BAD_INPUT
    bpy.ops.wm.open_mainfile(filepath=str(args.blend))
    # `python -m` imported the package before Blender did; stamped as Blender stamps what it imports,
    # it is enabled as it is instead of being reloaded with a "changed on disk" message.
    package = sys.modules[__package__]
    package.__time__ = os.path.getmtime(package.__file__)
    addon_utils.enable(__package__, default_set=True)
    preferences = bpy.context.preferences.addons[__package__].preferences
    if args.engine_python:
        preferences.engine_python = str(args.engine_python)
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
    set_painter(settings, args)
    if args.model:
        set_model(settings, args.model)
    if args.allow_downloads:
        bpy.context.preferences.system.use_online_access = True
        preferences.allow_downloads = True
    try:
        bpy.ops.diffsynth.stylize()
    except RuntimeError as error:  # the operator's ERROR report
        print(f"cli: {str(error).strip()}", file=sys.stderr)
        if bpy.context.window_manager.diffsynth_error_kind == "missing-packages":
            print("cli: or name a Python that has them with --engine-python", file=sys.stderr)
        return Exit.FAILED
    print(f"cli: frames in {settings.last_output}")
    if args.save_blend:
        bpy.ops.wm.save_as_mainfile(filepath=str(args.save_blend.absolute()), copy=True)
        print(f"cli: saved {args.save_blend}")
    return Exit.DONE


def set_painter(settings, args):
    """Apply the painter and style painter arguments (those given) to the shot settings."""
    if args.painter or args.model or args.prompt:  # a model or a prompt asks for Stable Diffusion
        settings.painter = args.painter or "diffusion"
    if args.window is not None:
        settings.window = args.window
    if args.keyframes is not None:
        settings.keyframes = args.keyframes
    if args.style is not None or args.style_image:
        set_style(settings, args.style or str(args.style_image))
    if args.strength is not None:
        settings.style_strength = args.strength
    if args.keep_colors:
        settings.keep_colors = True
    if args.base:
        settings.base_image = args.base


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


def main(argv=None):
    args = build_parser().parse_args(argv)
    return stylize(args)


def end_before_exit_crash(status):
    """End the process now with ``status`` where bpy would crash on the way out, else return.

    The bpy 4.2 and 4.3 wheels crash (SIGSEGV) in their C++ static destructors at exit once a
    property with Python callbacks has been registered, as every add-on's are: there, Python's exit
    functions (Blender's own among them) run, Blender's emptied session folder is removed, and the
    process ends before those destructors.
    """
    bpy = sys.modules.get("bpy")
    if bpy is None or bpy.app.version >= (4, 4):
        return
    import atexit
    import shutil

    session_folder = bpy.app.tempdir
    atexit._run_exitfuncs()
    shutil.rmtree(session_folder, ignore_errors=True)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(status)


if __name__ == "__main__":
    status = main()
    end_before_exit_crash(status)
    sys.exit(status)
