"""Headless Stylize on the ``bpy`` module (render farms, previz scripts):

    python -m diffsynth_render.cli stylize SCENE.blend --out DIR [--frames 1-48] [--size 512x512]
        [--painter style|diffusion] [--window N] [--keyframes every:K|1,13,24]
        [--style 19 | --style 3:0.5,12:0.5 | --style-image PICTURE] [--strength 0.8] [--keep-colors]
        [--base normals|clay]
        [--prompt TEXT] [--negative TEXT] [--model tiny|FOLDER|FILE|HF_ID] [--preset stylize]
        [--steps N] [--seed N] [--allow-downloads] [--save-blend OUT.blend]
        [--engine-python PYTHON]

One frame painted as Stylize would paint it without smoothing, in seconds (the same options):

    python -m diffsynth_render.cli preview SCENE.blend --out FRAME.png [--frame N] [--cache DIR] [any stylize option]

A movie or image strip of the Video Sequence Editor, its motion estimated (the painter's options,
--size, --save-blend and --engine-python as for stylize):

    python -m diffsynth_render.cli stylize-strip FILE.blend --strip NAME --out DIR [any painter option]

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
import signal
import sys
from pathlib import Path

from .cli_arguments import (
    add_frame_options,
    add_shot_options,
    add_size_option,
    add_stylize_options,
    blend_file,
    bounded,
    existing_folder,
    new_blend,
    new_png,
    out_folder,
    program,
)
from .contract import ERROR_KINDS, RESULT_FILE, Exit, OneLineParser, first_line, frame_name
from .core.farm_template import JOB_FILE, PARAMETERS_FILE, TEMPLATE_FILE
from .core.stylize_run import signals_call


def build_parser():
    parser = OneLineParser(prog="python -m diffsynth_render.cli", description=__doc__,
                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    stylize = _shot_command(commands, "stylize", run_stylize, "stylize a .blend's shot and add the result as a VSE "
                            "strip", "output folder (passes, jobs, frames)")
    add_shot_options(stylize)
    strip = _shot_command(commands, "stylize-strip", run_stylize_strip, "stylize a movie or image strip of a .blend's "
                          "Video Sequence Editor and add the result above it", "output folder (the strip's frames, "
                          "jobs and results go to OUT/SCENE/strips/STRIP)")
    strip.add_argument("--strip", required=True, metavar="NAME", help="the strip's name")
    add_size_option(strip)
    add_stylize_options(strip)
    preview = commands.add_parser("preview", help="paint one frame of a .blend's shot as Stylize would without "
                                  "smoothing (its passes only, cached in the file's DiffSynth output folder)")
    preview.add_argument("blend", type=blend_file, help="the .blend file with the shot (never written)")
    preview.add_argument("--out", type=new_png, required=True, metavar="FRAME.png", help="the PNG to write")
    preview.add_argument("--frame", type=int, help="the frame to paint (default: the file's current frame)")
    preview.add_argument("--cache", type=out_folder, metavar="DIR", help="the output folder whose passes it renders "
                         "or reuses, as a Stylize --out DIR does (default: the file's DiffSynth output folder)")
    add_shot_options(preview)
    preview.set_defaults(run=run_preview)
    passes = _shot_command(commands, "passes", run_passes, "render the pass EXRs of frames of a .blend's shot into a "
                           "shot folder (a farm's Passes task)", "the shot folder: EXRs go to OUT/passes/exr")
    add_frame_options(passes)
    passes.add_argument("--scene-look", action="store_true", help="render each frame with the scene's own materials "
                        "and lights as well (for the Scene base)")
    farm = _shot_command(commands, "farm-template", run_farm_template, "write an Open Job Description job (AWS "
                         "Deadline Cloud) that stylizes the shot in chunks on a render farm",
                         f"the shot folder: {TEMPLATE_FILE}, {PARAMETERS_FILE}, {JOB_FILE}; the farm writes passes, "
                         "chunks and final/ there")
    farm.add_argument("--chunk-frames", type=bounded(1), required=True, help="frames each Stylize task renders (plus "
                      "the overlap)")
    farm.add_argument("--overlap", type=bounded(0), help="frames neighbouring chunks share, at least the window "
                      "(default: the window)")
    farm.add_argument("--anchor", type=int, metavar="FRAME", help="the frame every chunk's cross-frame attention "
                      "also sees, for one look (default: the first)")
    farm.add_argument("--gpus", type=bounded(0), help="GPUs a Stylize host needs (default: 1 for diffusion, 0 for "
                      "the style painter)")
    farm.add_argument("--blender-python", type=program, metavar="PYTHON", help="the Python with bpy on the farm "
                      "hosts (default: this Python; a job parameter, change it there)")
    add_shot_options(farm)
    strip = commands.add_parser("add-strip", help="save a copy of a .blend with a folder of frames as a VSE strip "
                                "(a farm's Strip task)")
    strip.add_argument("blend", type=blend_file, help="the .blend file with the shot (never written)")
    strip.add_argument("--frames", type=existing_folder, required=True, help="folder of frame_####.png")
    strip.add_argument("--save-blend", type=new_blend, required=True, metavar="OUT.blend", help="the copy to write")
    strip.set_defaults(run=run_add_strip)
    return parser


def _shot_command(commands, name, run, description, out):
    """A sub-command on a .blend file with an output folder ``--out`` (described by ``out``)."""
    parser = commands.add_parser(name, help=description)
    parser.add_argument("blend", type=blend_file, help="the .blend file with the shot (never written)")
    parser.add_argument("--out", type=out_folder, required=True, help=out)
    parser.set_defaults(run=run)
    return parser


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


def checked_request(bpy, folder=None, frame=None):
    """The shot's ``ShotRequest`` (every setting the file and the arguments give, checked; with
    ``frame``, a preview's); raises ``UsageError`` naming the option to change."""
    from .blender_state import shot_request
    from .core.request import RequestError

    try:
        return shot_request(bpy.context, folder=folder, frame=frame)
    except RequestError as error:
        raise UsageError(error.text(cli=True)) from None


def set_up_shot(args):
    """Open the file and apply the shot options to its DiffSynth settings; returns bpy."""
    from .scene_settings import set_shot_options

    bpy = open_shot(args.blend)
    preferences = bpy.context.preferences.addons[__package__].preferences
    if args.engine_python:
        preferences.engine_python = str(args.engine_python)
    set_shot_options(bpy.context.scene.diffsynth, args, folder=args.cache if args.run is run_preview else args.out)
    if args.allow_downloads:
        bpy.context.preferences.system.use_online_access = True
        preferences.allow_downloads = True
    return bpy


def run_stylize(args):
    """Open the file, apply the arguments to its DiffSynth settings, run Stylize; exit status."""
    bpy = set_up_shot(args)
    checked_request(bpy)
    return _stylized(args, bpy, bpy.ops.diffsynth.stylize)


def run_stylize_strip(args):
    """Open the file, apply the arguments to its DiffSynth settings, run Stylize Strip on the
    strip ``--strip``; exit status."""
    from .core.request import RequestError
    from .operators.strip_footage import strip_request

    bpy = set_up_shot(args)
    try:
        strip_request(bpy.context, args.strip)
    except RequestError as error:
        raise UsageError(error.text(cli=True)) from None
    return _stylized(args, bpy, lambda: bpy.ops.diffsynth.stylize_strip(strip=args.strip))


def _stylized(args, bpy, operator):
    """Run a Stylize ``operator`` to its end, say where its frames went, save the copy asked for;
    exit status."""
    failed = _operate(bpy, operator)
    if failed is not None:
        return failed
    settings = bpy.context.scene.diffsynth
    print(f"cli: frames in {settings.last_output}")
    _print_notes(Path(settings.last_output))
    if args.save_blend:
        bpy.ops.wm.save_as_mainfile(filepath=str(args.save_blend), copy=True)
        print(f"cli: saved {args.save_blend}")
    return Exit.DONE


def run_preview(args):
    """Open the file, apply the arguments to its DiffSynth settings, paint one frame into
    ``--out``; exit status."""
    import shutil

    from .contract import atomic_path

    bpy = set_up_shot(args)
    frame = bpy.context.scene.frame_current if args.frame is None else args.frame
    checked_request(bpy, frame=frame)
    failed = _operate(bpy, lambda: bpy.ops.diffsynth.preview_frame(frame=frame))
    if failed is not None:
        return failed
    painted = Path(bpy.context.scene.diffsynth.last_preview)
    with atomic_path(args.out) as partial:
        shutil.copyfile(painted, partial)
    print(f"cli: frame {frame} painted: {args.out}")
    _print_notes(painted.parent)
    if args.save_blend:
        bpy.ops.wm.save_as_mainfile(filepath=str(args.save_blend), copy=True)
        print(f"cli: saved {args.save_blend}")
    return Exit.DONE


def _operate(bpy, operator):
    """Run a DiffSynth operator to its end; None when it finished, else the exit status (its
    message printed)."""
    wm = bpy.context.window_manager
    try:
        finished = operator() == {"FINISHED"}
        message = wm.diffsynth_stage
    except RuntimeError as error:  # the operator's ERROR report
        finished, message = False, _operator_error(error)
    if finished:
        return None
    other_python = "; or name a Python that has them (--engine-python)"
    print(f"cli: {message}{other_python if wm.diffsynth_error_kind == 'missing-packages' else ''}", file=sys.stderr)
    return ERROR_KINDS.get(wm.diffsynth_error_kind, Exit.FAILED)


def _print_notes(folder):
    """The notes of the result in ``folder``, on stderr."""
    for note in json.loads((folder / RESULT_FILE).read_text()).get("notes", []):
        print(f"cli: note: {note}", file=sys.stderr)


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
        _, rendered = render_passes(scene, range(first, last + 1), folder, size=size, progress=progress,
                                    look=args.scene_look)
    print(f"cli: passes of frames {first}-{last} in {folder} ({rendered} rendered)")
    return Exit.DONE


def run_farm_template(args):
    """Write the OpenJD template, its parameter values and the engine's job into OUT; exit status."""
    from .chunking import frame_ranges
    from .core.engine_process import PACKAGE_DIR
    from .core.farm_template import farm_job, write_farm_job
    from .core.job_file import shot_job, write_job
    from .job_spec import ChunkPlan, DiffusionSpec

    bpy = set_up_shot(args)
    scene, out = bpy.context.scene, args.out
    request = checked_request(bpy, folder=out)
    window = request.spec.window()
    anchor = request.frames[0] if args.anchor is None else args.anchor
    plan = ChunkPlan(args.chunk_frames, window if args.overlap is None else args.overlap, anchor)
    try:
        chunks = plan.plan(len(request.frames), window)
    except ValueError as error:
        raise UsageError(error) from None
    if anchor not in request.frames:
        raise UsageError(f"--anchor {anchor} is not one of the shot's frames {request.frames[0]}-{request.frames[-1]}")
    exrs = [request.exr_folder.relative_to(out) / frame_name(frame, ".exr") for frame in request.frames]
    write_job(shot_job(request.spec, ".", exrs, request.passes_folder.relative_to(out), chunks=plan), out / JOB_FILE)
    gpus = args.gpus if args.gpus is not None else int(isinstance(request.spec.painter, DiffusionSpec))
    template = farm_job(name=f"DiffSynth Render: {scene.name} {request.frames[0]}-{request.frames[-1]}",
                        frame_ranges=frame_ranges(request.frames[0], request.frames[-1], args.chunk_frames),
                        size=request.size, chunk_count=len(chunks), module=PACKAGE_DIR.name, gpus=gpus,
                        strip=args.save_blend is not None, scene_look=request.spec.scene_look)
    values = {"ShotFile": str(args.blend), "OutputDir": str(out), "PackageDir": str(PACKAGE_DIR.parent),
              "BlenderPython": str(args.blender_python or sys.executable),
              "EnginePython": str(args.engine_python or sys.executable)}
    if args.save_blend:
        values["SavedBlend"] = str(args.save_blend)
    template_file, values_file = write_farm_job(out, template, values)
    print(f"cli: {len(chunks)} chunks of frames " + ", ".join(
        f"{request.frames[c.start]}-{request.frames[c.stop - 1]}" for c in chunks) + f" (overlap {plan.overlap})")
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


if __name__ == "__main__":
    from .bpy_exit import end_before_exit_crash

    status = main()
    end_before_exit_crash(status)
    sys.exit(status)
