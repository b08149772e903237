"""``python -m diffsynth_render.engine stylize-video INPUT --out DIR``: stylize footage made
elsewhere — a video file or a folder of frames — outside Blender.

The frames are taken into ``DIR/footage`` (PNG, each side a multiple of 8; a frame that did not
change keeps its file, so what the engine derived from it is kept too), a job on that footage is
written to ``DIR/jobs/job_v###.json`` and run as ``run`` runs it: the motion between frames
estimated, each frame painted (the style painter from the frame itself; the diffusion painter
from the frame, image-to-image, with its soft edges as the control), the frames blended along
the motion, into ``DIR/stylized_v###``.

Bad input (a file that is not a video OpenCV can read, a folder with no frames, a picture that
cannot be read, frames of different sizes, a bad option) is reported with exit status 2 before
anything is written.
"""

import argparse
import json
import shutil
import tempfile
from pathlib import Path

from ..cli_arguments import add_painter_options, frame_size
from ..contract import (
    DEFAULT_CONTROLNETS,
    FOOTAGE_DERIVED,
    FOOTAGE_FOLDER,
    FRAME_GLOB,
    MAX_SIZE,
    MIN_SIZE,
    Exit,
    atomic_path,
    frame_name,
    reserve_version,
    rounded_size,
    write_text_atomically,
)
from ..job_spec import (
    FOOTAGE_IMAGE_STRENGTH,
    ControlSpec,
    DiffusionSpec,
    Footage,
    JobSpec,
    ModelSpec,
    Smoothing,
    StyleSpec,
    default,
)


def add_command(commands):
    """Add the ``stylize-video`` sub-command to an argparse sub-parser set."""
    parser = commands.add_parser("stylize-video", help="stylize a video file or a folder of frames",
                                 description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("input", type=Path, help="a video file (what OpenCV reads: MP4, MOV, AVI, …) or a folder "
                        "of pictures (PNG, JPEG, TIFF, …), taken in name order")
    parser.add_argument("--out", type=Path, required=True, metavar="DIR",
                        help="the folder for the footage's frames, the jobs and the stylized_v### results")
    parser.add_argument("--size", type=frame_size, help="WIDTHxHEIGHT (default: the input's, rounded to 8)")
    add_painter_options(parser, f"style, or diffusion with --prompt; the diffusion painter's --image-strength is "
                                f"{FOOTAGE_IMAGE_STRENGTH} on footage")
    parser.add_argument("--device", default=default(JobSpec, "device"), help="auto, cuda, mps or cpu")
    parser.add_argument("--progress", choices=("jsonl", "bar"), default="bar",
                        help="JSON lines on stdout (for programs) or a progress bar on stderr")
    parser.set_defaults(run=run)


def run(args):
    """Run the command; returns the exit status."""
    import sys

    from . import worker
    from .progress import ProgressBar

    out = args.out.absolute()
    made = [folder for folder in (out, *out.parents) if not folder.exists()]
    try:
        painter = painter_from_options(args)
        frames = take_frames(args.input, out / FOOTAGE_FOLDER, args.size,
                             ProgressBar("stylize-video: frames") if args.progress == "bar" else None)
    except ValueError as error:
        for folder in reversed(made):  # nothing is left of a refused run
            shutil.rmtree(folder, ignore_errors=True)
        print(f"stylize-video: {error}", file=sys.stderr)
        return Exit.BAD_INPUT
    version, job = reserve_version(out)
    spec = JobSpec(output=str(out / f"stylized_v{version:03d}"), size=frames[1], painter=painter, device=args.device,
                   footage=Footage(frames=str(out / FOOTAGE_FOLDER), derived=str(out / FOOTAGE_DERIVED)),
                   smoothing=Smoothing(window=args.window or None), keyframes=args.keyframes,
                   notes=(f"footage: {frames[0]} frames of {args.input}",))
    write_text_atomically(job, json.dumps(spec.to_json(), indent=1))
    return worker.run(argparse.Namespace(job=job, progress=args.progress, chunk=None, gallery=False,
                                         stop_with_stdin=False))


def painter_from_options(args):
    """The painter's spec the options ask for: the diffusion painter (chosen, or given a prompt)
    with the soft-edge control only (footage has no depth); else the style painter. Raises
    ValueError for a diffusion painter without a prompt."""
    if args.painter == "diffusion" or (args.painter is None and args.prompt):
        if not args.prompt:
            raise ValueError("the diffusion painter needs a --prompt")
        tiny = args.model in (None, "tiny")
        control = ControlSpec(model="tiny" if tiny else DEFAULT_CONTROLNETS["softedge"])
        model = ModelSpec() if tiny else ModelSpec(base=args.model, allow_network=args.allow_downloads)
        chosen = {"preset": args.preset, "steps": args.steps, "seed": args.seed, "negative_prompt": args.negative}
        return DiffusionSpec(prompt=args.prompt, controls={"softedge": control}, model=model,
                             image_strength=FOOTAGE_IMAGE_STRENGTH if args.image_strength is None
                             else args.image_strength, **{k: v for k, v in chosen.items() if v is not None})
    style = {"strength": args.strength} if args.strength is not None else {}
    if args.style_image:
        return StyleSpec(image=str(args.style_image), keep_colors=args.keep_colors, **style)
    return StyleSpec(builtin=_builtin(args.style), keep_colors=args.keep_colors, **style)


def _builtin(text):
    if text is None:
        return default(StyleSpec, "builtin")
    return int(text) if text.strip().isdigit() else text.strip()


def take_frames(source, folder, size=None, progress=None):
    """Take the frames of ``source`` (a video file or a folder of pictures) into ``folder`` as
    ``frame_####.png`` at ``size`` (default: the source's, each side rounded to a multiple of 8),
    each file rewritten only where its picture changed, frames beyond the new count removed;
    returns (frames, (width, height)). ``progress(done, total)`` after each frame read (total as
    the source says, 0 when it cannot tell). Raises ValueError, with nothing written, for a
    source that cannot be read, has no frames, or frames of different sizes."""
    import cv2

    folder = Path(folder)
    folder.parent.mkdir(parents=True, exist_ok=True)
    staged = Path(tempfile.mkdtemp(prefix=".footage-", dir=folder.parent))
    try:
        count, shape = 0, None
        pictures, total = _pictures(source)
        for count, (name, picture) in enumerate(pictures, 1):
            if shape is None:
                shape = picture.shape[:2]
                size = size or rounded_size(shape[1], shape[0])[0]
                if min(size) < MIN_SIZE or max(size) > MAX_SIZE:
                    raise ValueError(f"{source} is {shape[1]}x{shape[0]}: each side must be from {MIN_SIZE} to "
                                     f"{MAX_SIZE} pixels (--size scales it)")
            elif picture.shape[:2] != shape:
                raise ValueError(f"{name} is {picture.shape[1]}x{picture.shape[0]} but the first frame is "
                                 f"{shape[1]}x{shape[0]}: every frame must have one size")
            if picture.shape[1::-1] != tuple(size):
                picture = cv2.resize(picture, size, interpolation=cv2.INTER_AREA)
            cv2.imwrite(str(staged / frame_name(count)), picture)
            if progress:
                progress(count, max(total, count))
        if not count:
            raise ValueError(f"{source} holds no frames")
        folder.mkdir(exist_ok=True)
        for path in sorted(staged.iterdir()):
            with atomic_path(folder / path.name, keep_same=True) as partial:
                shutil.move(path, partial)
        for extra in sorted(folder.glob(FRAME_GLOB))[count:]:
            extra.unlink()
        return count, tuple(size)
    finally:
        shutil.rmtree(staged, ignore_errors=True)


def _pictures(source):
    """(the frames of a video file or a folder of pictures as (name, BGR uint8 picture), read as
    they are asked for; how many there are, as far as the source tells). Raises ValueError for a
    source that does not exist or is not a video."""
    import cv2

    source = Path(source)
    if source.is_dir():
        files = sorted(path for path in source.iterdir() if path.is_file() and not path.name.startswith("."))
        return _files(files), len(files)
    if not source.is_file():
        raise ValueError(f"{source} does not exist")
    video = cv2.VideoCapture(str(source))
    if not video.isOpened():
        video.release()
        raise ValueError(f"{source} is not a video OpenCV can read")
    return _video(source, video), max(int(video.get(cv2.CAP_PROP_FRAME_COUNT)), 0)


def _files(files):
    import cv2

    for path in files:
        picture = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if picture is None:
            raise ValueError(f"{path} cannot be read as a picture")
        yield path.name, picture


def _video(source, video):
    try:
        readable, picture = video.read()
        if not readable:
            raise ValueError(f"{source} is not a video OpenCV can read")
        index = 0
        while readable:
            index += 1
            yield f"{source.name} frame {index}", picture
            readable, picture = video.read()
    finally:
        video.release()
