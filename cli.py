"""Headless Stylize on the ``bpy`` module (render farms, previz scripts):

    python -m diffsynth_render.cli stylize SCENE.blend --out DIR [--frames 1-48] [--size 512x512]
        [--painter style|diffusion] [--window N] [--keyframes every:K|1,13,24]
        [--style 19 | --style 3:0.5,12:0.5 | --style-image PICTURE] [--strength 0.8] [--keep-colors]
        [--base normals|clay]
        [--prompt TEXT] [--negative TEXT] [--model tiny|FOLDER|FILE|HF_ID] [--preset stylize]
        [--steps N] [--seed N] [--allow-downloads] [--save-blend OUT.blend]
        [--engine-python PYTHON]

Long shots on a render farm (an Open Job Description job, as AWS Deadline Cloud runs it):

    python -m diffsynth_render.cli farm-template SCENE.blend --out DIR --chunk-frames 48 [--overlap 8]
        [--anchor FRAME] [--gpus N] [--blender-python PYTHON] [any stylize option]
    python -m diffsynth_render.cli passes SCENE.blend --out DIR --frames 1-48 [--size 512x512]
    python -m diffsynth_render.cli add-strip SCENE.blend --frames DIR/final --save-blend OUT.blend

``farm-template`` writes DIR/template.json, DIR/parameter_values.json and the engine's DIR/job.json;
its steps call ``passes``, the engine's ``run --chunk K/N`` and ``stitch``, then ``add-strip``.
SCENE.blend itself is never written; ``--save-blend`` saves a copy with the new strip. The engine
runs in its own process, in ``--engine-python`` (default: the Python running this command), which
needs the engine's packages (``engine/requirements.txt``); from a Blender-only Python (a bpy 4.2
venv, say) name one that has them.

Every argument is checked before Blender opens the file. Exit status: 0 done, 2 a bad argument or
setting (one line naming it), 130 cancelled (Ctrl-C, SIGINT or SIGTERM: the engine stops too and
the output folder keeps no part of the run), else the engine's: 1 failed, 3 model, 4 out of
memory, 5 missing packages.
"""

import argparse
import json
import os
import re
import signal
import sys
from pathlib import Path

from .contract import (
    BASE_IMAGES,
    ERROR_KINDS,
    KEYFRAMES_HELP,
    MAX_SEED,
    MAX_SIZE,
    MAX_STEPS,
    MAX_WINDOW,
    MIN_SIZE,
    PAINTERS,
    PRESETS,
    RESULT_FILE,
    Exit,
    OneLineParser,
    first_line,
    frame_name,
    parse_keyframes,
    style_weights,
)
from .core.farm_template import JOB_FILE, PARAMETERS_FILE, TEMPLATE_FILE
from .core.stylize_run import signals_call

# The first bytes of a .blend file: plain, gzip (before Blender 3.0) or zstd compressed.
BLEND_MAGIC = (b"BLENDER", b"\x1f\x8b", b"\x28\xb5\x2f\xfd")
# A Hugging Face model id: owner/name.
HUB_ID = re.compile(r"[\w.-]+/[\w.-]+")
MODEL_FILE_SUFFIXES = (".safetensors", ".ckpt", ".bin", ".pt", ".pth")


def build_parser():
    parser = OneLineParser(prog="python -m diffsynth_render.cli", description=__doc__,
                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    stylize = _shot_command(commands, "stylize", run_stylize, "stylize a .blend's shot and add the result as a VSE "
                            "strip", "output folder (passes, jobs, frames)")
    add_shot_options(stylize)
    passes = _shot_command(commands, "passes", run_passes, "render the pass EXRs of frames of a .blend's shot into a "
                           "shot folder (a farm's Passes task)", "the shot folder: EXRs go to OUT/passes/exr")
    add_frame_options(passes)
    farm = _shot_command(commands, "farm-template", run_farm_template, "write an Open Job Description job (AWS "
                         "Deadline Cloud) that stylizes the shot in chunks on a render farm",
                         f"the shot folder: {TEMPLATE_FILE}, {PARAMETERS_FILE}, {JOB_FILE}; the farm writes passes, "
                         "chunks and final/ there")
    farm.add_argument("--chunk-frames", type=_bounded(1), required=True, help="frames each Stylize task renders (plus "
                      "the overlap)")
    farm.add_argument("--overlap", type=_bounded(0), help="frames neighbouring chunks share, at least the window "
                      "(default: the window)")
    farm.add_argument("--anchor", type=int, metavar="FRAME", help="the frame every chunk's cross-frame attention "
                      "also sees, for one look (default: the first)")
    farm.add_argument("--gpus", type=_bounded(0), help="GPUs a Stylize host needs (default: 1 for diffusion, 0 for "
                      "the style painter)")
    farm.add_argument("--blender-python", type=_program, metavar="PYTHON", help="the Python with bpy on the farm "
                      "hosts (default: this Python; a job parameter, change it there)")
    add_shot_options(farm)
    strip = commands.add_parser("add-strip", help="save a copy of a .blend with a folder of frames as a VSE strip "
                                "(a farm's Strip task)")
    strip.add_argument("blend", type=_blend_file, help="the .blend file with the shot (never written)")
    strip.add_argument("--frames", type=_folder, required=True, help="folder of frame_####.png")
    strip.add_argument("--save-blend", type=_new_blend, required=True, metavar="OUT.blend", help="the copy to write")
    strip.set_defaults(run=run_add_strip)
    return parser


def _shot_command(commands, name, run, description, out):
    """A sub-command on a .blend file with an output folder ``--out`` (described by ``out``)."""
    parser = commands.add_parser(name, help=description)
    parser.add_argument("blend", type=_blend_file, help="the .blend file with the shot (never written)")
    parser.add_argument("--out", type=_out_folder, required=True, help=out)
    parser.set_defaults(run=run)
    return parser


def add_frame_options(parser):
    """--frames and --size."""
    parser.add_argument("--frames", type=_frame_range, help="frame range FIRST-LAST (default: the scene's)")
    parser.add_argument("--size", type=_size, help="WIDTHxHEIGHT (default: the scene's, rounded to 8)")


def add_shot_options(parser):
    """The options that set up a shot's Stylize (``stylize`` and ``farm-template`` both take them)."""
    add_frame_options(parser)
    parser.add_argument("--painter", choices=PAINTERS, help="style (built-in, no download) or diffusion "
                        "(Stable Diffusion); default: the file's")
    parser.add_argument("--window", type=_bounded(0, MAX_WINDOW), help="frames blended on each side (0: the "
                        "default)")
    parser.add_argument("--keyframes", type=_checked_by(parse_keyframes), help=KEYFRAMES_HELP)
    style = parser.add_mutually_exclusive_group()
    style.add_argument("--style", type=_checked_by(style_weights),
                       help="style painter: a built-in style 0-25 or a mix like 3:0.5,12:0.5")
    style.add_argument("--style-image", type=_picture, help="style painter: any picture as the style")
    parser.add_argument("--strength", type=_fraction, help="style painter: 0 (the base image) to 1 (fully painted)")
    parser.add_argument("--keep-colors", action="store_true", help="style painter: keep the base image's colours")
    parser.add_argument("--base", choices=BASE_IMAGES, help="style painter: the picture each frame is painted from")
    parser.add_argument("--prompt", help="the prompt (default: the one saved in the file)")
    parser.add_argument("--negative", help="the negative prompt")
    parser.add_argument("--model", type=_model, help="tiny, a diffusers folder, an SD1.5 checkpoint file or a Hugging "
                        "Face id (owner/name)")
    parser.add_argument("--preset", choices=PRESETS)
    parser.add_argument("--steps", type=_bounded(1, MAX_STEPS), help="denoising steps (default: the preset's)")
    parser.add_argument("--seed", type=_bounded(0, MAX_SEED))
    parser.add_argument("--allow-downloads", action="store_true",
                        help="fetch Hugging Face models missing from the cache (otherwise only the cache is read)")
    parser.add_argument("--save-blend", type=_new_blend, metavar="OUT.blend", help="save a copy of the file with the "
                        "strip (never the file itself)")
    parser.add_argument("--engine-python", type=_program, metavar="PYTHON",
                        help="the Python that runs the engine, with torch and OpenEXR (default: this Python)")


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


def _bounded(low, high=None):
    """An argparse type: a whole number from ``low`` to ``high`` (None: no upper limit)."""
    def number(text):
        try:
            value = int(text)
        except ValueError:
            value = None
        if value is None or value < low or (high is not None and value > high):
            limits = f"from {low} to {high}" if high is not None else f"≥ {low}"
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number {limits}")
        return value

    return number


def _frame_range(text):
    match = re.fullmatch(r"\s*(-?\d+)\s*-\s*(-?\d+)\s*", text)
    if not match:
        raise argparse.ArgumentTypeError(f"{text!r} is not a range like 1-48")
    first, last = int(match[1]), int(match[2])
    if last < first:
        raise argparse.ArgumentTypeError(f"{text} is empty: the last frame comes before the first")
    return first, last


def _size(text):
    try:
        width, height = (int(part) for part in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a size like 512x512") from None
    if min(width, height) < MIN_SIZE or max(width, height) > MAX_SIZE:
        raise argparse.ArgumentTypeError(f"{text}: each side must be from {MIN_SIZE} to {MAX_SIZE} pixels")
    return width, height


def _blend_file(text):
    path = Path(text)
    if not path.is_file():
        raise argparse.ArgumentTypeError(f"{text} does not exist" if not path.exists() else f"{text} is not a file")
    with path.open("rb") as file:
        head = file.read(8)
    if not head.startswith(BLEND_MAGIC):
        raise argparse.ArgumentTypeError(f"{text} is not a .blend file")
    return path.absolute()


def _new_blend(text):
    """A .blend file to write: its folder must exist; never a folder itself."""
    path = Path(text).absolute()
    if path.is_dir():
        raise argparse.ArgumentTypeError(f"{text} is a folder: name the .blend file to write")
    if not path.parent.is_dir():
        raise argparse.ArgumentTypeError(f"the folder {path.parent} does not exist")
    return path


def _out_folder(text):
    """A folder to write into (made if needed): not a file, and under a folder that can be written."""
    path = Path(text).absolute()
    existing = next(folder for folder in (path, *path.parents) if folder.exists())
    if not existing.is_dir():
        raise argparse.ArgumentTypeError(f"{existing} is a file, not a folder")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise argparse.ArgumentTypeError(f"{existing} cannot be written")
    return path


def _folder(text):
    if not Path(text).is_dir():
        raise argparse.ArgumentTypeError(f"{text} is not a folder")
    return Path(text).absolute()


def _model(text):
    """tiny, a folder or file that exists, or a Hugging Face id (never a model file's name or a
    path from /, . or ~)."""
    if text == "tiny" or os.path.exists(os.path.expanduser(text)):
        return text if text == "tiny" else os.path.expanduser(text)
    if HUB_ID.fullmatch(text) and not text.lower().endswith(MODEL_FILE_SUFFIXES) and not text.startswith("."):
        return text
    raise argparse.ArgumentTypeError(f"{text} does not exist (and is not a Hugging Face id like owner/name)")


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


class UsageError(Exception):
    """A bad argument found once the file is open: one line for the user, exit status 2."""


def check_paths(args):
    """Raise ``UsageError`` where ``--save-blend`` names the file being read, by any path."""
    saved = getattr(args, "save_blend", None)
    if saved is not None and (saved.resolve() == args.blend.resolve() or
                              (saved.exists() and os.path.samefile(saved, args.blend))):
        raise UsageError(f"--save-blend {saved} is the file being read: name another file (the source .blend "
                         "is never written)")


def open_shot(blend):
    """Open ``blend`` with this extension enabled; returns bpy. Raises ``UsageError``."""
    import bpy

    import addon_utils  # importable only once bpy is

    try:
        bpy.ops.wm.open_mainfile(filepath=str(blend))
    except RuntimeError as error:
        reason = _operator_error(error).rpartition(": ")[2]  # after Blender's "Loading ... failed: ..."
        raise UsageError(f"{blend} cannot be opened by Blender {bpy.app.version_string}: {reason}") from None
    # `python -m` imported the package before Blender did; stamped as Blender stamps what it imports,
    # it is enabled as it is instead of being reloaded with a "changed on disk" message.
    package = sys.modules[__package__]
    package.__time__ = os.path.getmtime(package.__file__)
    addon_utils.enable(__package__, default_set=True)
    return bpy


def checked_request(bpy, folder=None):
    """The shot's ``ShotRequest`` (every setting the file and the arguments give, checked);
    raises ``UsageError`` naming the option to change."""
    from .blender_state import shot_request
    from .core.request import RequestError

    try:
        return shot_request(bpy.context, folder=folder)
    except RequestError as error:
        raise UsageError(error.text(cli=True)) from None


def set_up_shot(args):
    """Open the file and apply the shot options to its DiffSynth settings; returns bpy."""
    bpy = open_shot(args.blend)
    preferences = bpy.context.preferences.addons[__package__].preferences
    if args.engine_python:
        preferences.engine_python = str(args.engine_python)
    settings = bpy.context.scene.diffsynth
    settings.output_dir = str(args.out)
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
    return bpy


def run_stylize(args):
    """Open the file, apply the arguments to its DiffSynth settings, run Stylize; exit status."""
    bpy = set_up_shot(args)
    settings, wm = bpy.context.scene.diffsynth, bpy.context.window_manager
    checked_request(bpy)
    try:
        finished = bpy.ops.diffsynth.stylize() == {"FINISHED"}
        message = wm.diffsynth_stage
    except RuntimeError as error:  # the operator's ERROR report
        finished, message = False, _operator_error(error)
    if not finished:
        other_python = "; or name a Python that has them (--engine-python)"
        print(f"cli: {message}{other_python if wm.diffsynth_error_kind == 'missing-packages' else ''}", file=sys.stderr)
        return ERROR_KINDS.get(wm.diffsynth_error_kind, Exit.FAILED)
    print(f"cli: frames in {settings.last_output}")
    for note in json.loads((Path(settings.last_output) / RESULT_FILE).read_text()).get("notes", []):
        print(f"cli: note: {note}", file=sys.stderr)
    if args.save_blend:
        bpy.ops.wm.save_as_mainfile(filepath=str(args.save_blend), copy=True)
        print(f"cli: saved {args.save_blend}")
    return Exit.DONE


def run_passes(args):
    """Render the pass EXRs of the frames into OUT/passes/exr (those already there and unchanged
    are kept); exit status."""
    from .blender_state import render_size
    from .core.request import exr_folder
    from .operators.scene_passes import render_passes

    bpy = open_shot(args.blend)
    scene = bpy.context.scene
    first, last = args.frames or (scene.frame_start, scene.frame_end)
    if last < first:
        raise UsageError(f"the scene's frames {first}-{last} are none: the last comes before the first (--frames)")
    size = args.size or render_size(scene, scene.diffsynth)[0]
    folder = exr_folder(args.out)
    signalled = []

    def progress(done, total):
        print(f"cli: passes {done}/{total}", flush=True)
        if signalled:  # between frames: a signal within Cycles' render would be lost there
            raise KeyboardInterrupt

    with signals_call(lambda: signalled.append(True)):
        _, rendered = render_passes(scene, range(first, last + 1), folder, size=size, progress=progress)
    print(f"cli: passes of frames {first}-{last} in {folder} ({rendered} rendered)")
    return Exit.DONE


def run_farm_template(args):
    """Write the OpenJD template, its parameter values and the engine's job into OUT; exit status."""
    from .blender_state import run_settings
    from .chunking import frame_ranges, plan_chunks
    from .contract import smoothing_window
    from .core.engine_process import PACKAGE_DIR
    from .core.farm_template import JOB_FILE, farm_job, write_farm_job
    from .core.job_file import build_job, write_job

    bpy = set_up_shot(args)
    scene, settings = bpy.context.scene, bpy.context.scene.diffsynth
    out = args.out
    request = checked_request(bpy, folder=out)
    window = smoothing_window(request.painter, settings.preset, settings.window)
    overlap = args.overlap if args.overlap is not None else window
    try:
        chunks = plan_chunks(len(request.frames), args.chunk_frames, overlap, window)
    except ValueError as error:
        raise UsageError(error) from None
    anchor = request.frames[0] if args.anchor is None else args.anchor
    if anchor not in request.frames:
        raise UsageError(f"--anchor {anchor} is not one of the shot's frames {request.frames[0]}-{request.frames[-1]}")
    exr_folder = request.exr_folder.relative_to(out)
    exrs = [exr_folder / frame_name(frame, ".exr") for frame in request.frames]
    job = build_job((exrs, request.passes_folder.relative_to(out)), ".", request.frames[0], request.size,
                    painter=request.painter, style=request.style, model=request.model, device=request.device,
                    keyframes=request.keyframes, **run_settings(settings))
    job["chunks"] = {"frames": args.chunk_frames, "overlap": overlap, "anchor": anchor}
    write_job(job, out / JOB_FILE)
    gpus = args.gpus if args.gpus is not None else int(request.painter == "diffusion")
    template = farm_job(name=f"DiffSynth Render: {scene.name} {request.frames[0]}-{request.frames[-1]}",
                        frame_ranges=frame_ranges(request.frames[0], request.frames[-1], args.chunk_frames),
                        size=request.size, chunk_count=len(chunks), module=PACKAGE_DIR.name, gpus=gpus,
                        strip=args.save_blend is not None)
    values = {"ShotFile": str(args.blend), "OutputDir": str(out), "PackageDir": str(PACKAGE_DIR.parent),
              "BlenderPython": str(args.blender_python or sys.executable),
              "EnginePython": str(args.engine_python or sys.executable)}
    if args.save_blend:
        values["SavedBlend"] = str(args.save_blend)
    template_file, values_file = write_farm_job(out, template, values)
    print(f"cli: {len(chunks)} chunks of frames " + ", ".join(
        f"{request.frames[c.start]}-{request.frames[c.stop - 1]}" for c in chunks) + f" (overlap {overlap})")
    print(f"cli: wrote {template_file} and {values_file}; run it here with\n"
          f"  openjd run {template_file} --job-param file://{values_file} --step Stitch --run-dependencies")
    return Exit.DONE


def run_add_strip(args):
    """Save a copy of the file with the frames as a VSE strip; exit status."""
    from .operators.vse_strip import import_strip

    bpy = open_shot(args.blend)
    scene = bpy.context.scene
    try:
        strip = import_strip(scene, args.frames, f"{scene.name}: {args.frames.parent.name}")
    except ValueError as error:
        raise UsageError(error) from None
    bpy.ops.wm.save_as_mainfile(filepath=str(args.save_blend), copy=True)
    print(f"cli: saved {args.save_blend} with strip {strip.name!r} ({len(strip.elements)} frames)")
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


def _operator_error(error):
    """The first line of an operator's error, without Blender's 'Error: '."""
    return first_line(error).removeprefix("Error: ")


def main(argv=None):
    """Run one command; returns the exit status."""
    args = build_parser().parse_args(argv)
    signal.signal(signal.SIGTERM, signal.default_int_handler)  # a scheduler's SIGTERM ends it as Ctrl-C does
    try:
        check_paths(args)
        return args.run(args)
    except UsageError as error:
        print(f"cli: {error}", file=sys.stderr)
        return Exit.BAD_INPUT
    except KeyboardInterrupt:
        print("cli: cancelled", file=sys.stderr)
        return Exit.CANCELLED


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
