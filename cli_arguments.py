"""The headless CLI's options and their checks: every argument is checked as it is read, before
Blender opens the file, and a bad one is one line naming it (``contract.OneLineParser``). The
limits are the job spec's."""

import argparse
import os
import re
from pathlib import Path

from .contract import BASE_IMAGES, MAX_SIZE, MIN_SIZE, PAINTERS, PRESETS, picture_problem, style_weights
from .job_spec import DiffusionSpec, Keyframes, Smoothing, StyleSpec, limits

# The first bytes of a .blend file: plain, gzip (before Blender 3.0) or zstd compressed.
BLEND_MAGIC = (b"BLENDER", b"\x1f\x8b", b"\x28\xb5\x2f\xfd")
# A Hugging Face model id: owner/name.
HUB_ID = re.compile(r"[\w.-]+/[\w.-]+")
MODEL_FILE_SUFFIXES = (".safetensors", ".ckpt", ".bin", ".pt", ".pth")


def add_frame_options(parser):
    """--frames and --size."""
    parser.add_argument("--frames", type=frame_range, help="frame range FIRST-LAST (default: the scene's)")
    add_size_option(parser)


def add_size_option(parser):
    parser.add_argument("--size", type=frame_size, help="WIDTHxHEIGHT (default: the scene's, rounded to 8)")


def add_shot_options(parser):
    """The options that set up a shot's Stylize (``stylize`` and ``farm-template`` both take them)."""
    add_frame_options(parser)
    add_stylize_options(parser)
    parser.add_argument("--base", choices=BASE_IMAGES, help="the picture each frame is painted from (style painter) or "
                        "starts from (diffusion painter, with --image-strength below 1)")


def add_stylize_options(parser):
    """The painter's options, --save-blend and --engine-python: a shot's Stylize and a strip's."""
    add_painter_options(parser, "the file's")
    parser.add_argument("--save-blend", type=new_blend, metavar="OUT.blend", help="save a copy of the file with the "
                        "strip (never the file itself)")
    parser.add_argument("--engine-python", type=program, metavar="PYTHON",
                        help="the Python that runs the engine, with torch and OpenEXR (default: this Python)")


def add_painter_options(parser, defaults):
    """The painter's options and the smoothing's (what ``defaults`` says is taken where one is not
    given: "the file's"): a shot's and footage's Stylize take the same."""
    parser.add_argument("--painter", choices=PAINTERS, help="style (built-in, no download) or diffusion "
                        f"(Stable Diffusion); default: {defaults}")
    parser.add_argument("--window", type=bounded(0, limits(Smoothing, "window")["max"]),
                        help="frames blended on each side (0: the painter's own)")
    parser.add_argument("--keyframes", type=parsed_by(Keyframes.parse), help=Keyframes.HELP)
    style = parser.add_mutually_exclusive_group()
    style.add_argument("--style", type=checked_by(style_weights),
                       help="style painter: a built-in style 0-25 or a mix like 3:0.5,12:0.5")
    style.add_argument("--style-image", type=picture, help="style painter: any picture as the style")
    parser.add_argument("--strength", type=number_within(**limits(StyleSpec, "strength")),
                        help="style painter: 0 (the base image) to 1 (fully painted)")
    parser.add_argument("--keep-colors", action="store_true", help="style painter: keep the base image's colours")
    parser.add_argument("--prompt", help=f"the prompt (default: {defaults})")
    parser.add_argument("--negative", help="the negative prompt")
    parser.add_argument("--model", type=model_source, help="tiny, a diffusers folder, an SD1.5 checkpoint file or a "
                        "Hugging Face id (owner/name)")
    parser.add_argument("--image-strength", type=number_within(**limits(DiffusionSpec, "image_strength")),
                        help="diffusion painter: 1 starts from pure noise; below 1, from the base image noised this "
                             "far (img2img)")
    parser.add_argument("--preset", choices=PRESETS)
    parser.add_argument("--steps", type=bounded(*limits(DiffusionSpec, "steps").values()),
                        help="denoising steps (default: the preset's)")
    parser.add_argument("--seed", type=bounded(*limits(DiffusionSpec, "seed").values()))
    parser.add_argument("--allow-downloads", action="store_true",
                        help="fetch Hugging Face models missing from the cache (otherwise only the cache is read)")


def parsed_by(parse):
    """An argparse type: ``parse(text)``, its ValueError's message the error."""
    def argument(text):
        try:
            return parse(text)
        except ValueError as error:
            raise argparse.ArgumentTypeError(str(error)) from None

    return argument


def checked_by(check):
    """An argparse type: the text as given, once ``check(text)`` raised no ValueError (its
    message is the error)."""
    parse = parsed_by(check)

    def argument(text):
        parse(text)
        return text

    return argument


def bounded(low, high=None):
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


def frame_range(text):
    match = re.fullmatch(r"\s*(-?\d+)\s*-\s*(-?\d+)\s*", text)
    if not match:
        raise argparse.ArgumentTypeError(f"{text!r} is not a range like 1-48")
    first, last = int(match[1]), int(match[2])
    if last < first:
        raise argparse.ArgumentTypeError(f"{text} is empty: the last frame comes before the first")
    return first, last


def frame_size(text):
    try:
        width, height = (int(part) for part in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a size like 512x512") from None
    if min(width, height) < MIN_SIZE or max(width, height) > MAX_SIZE:
        raise argparse.ArgumentTypeError(f"{text}: each side must be from {MIN_SIZE} to {MAX_SIZE} pixels")
    return width, height


def blend_file(text):
    path = Path(text)
    if not path.is_file():
        raise argparse.ArgumentTypeError(f"{text} does not exist" if not path.exists() else f"{text} is not a file")
    with path.open("rb") as file:
        head = file.read(8)
    if not head.startswith(BLEND_MAGIC):
        raise argparse.ArgumentTypeError(f"{text} is not a .blend file")
    return path.absolute()


def new_blend(text):
    """A .blend file to write: its folder must exist; never a folder itself."""
    return _new_file(text, ".blend")


def new_png(text):
    """A PNG file to write: its folder must exist."""
    if Path(text).suffix.lower() != ".png":
        raise argparse.ArgumentTypeError(f"{text}: name the .png file to write")
    return _new_file(text, ".png")


def _new_file(text, kind):
    path = Path(text).absolute()
    if path.is_dir():
        raise argparse.ArgumentTypeError(f"{text} is a folder: name the {kind} file to write")
    if not path.parent.is_dir():
        raise argparse.ArgumentTypeError(f"the folder {path.parent} does not exist")
    return path


def out_folder(text):
    """A folder to write into (made if needed): not a file, and under a folder that can be written."""
    path = Path(text).absolute()
    existing = next(folder for folder in (path, *path.parents) if folder.exists())
    if not existing.is_dir():
        raise argparse.ArgumentTypeError(f"{existing} is a file, not a folder")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise argparse.ArgumentTypeError(f"{existing} cannot be written")
    return path


def existing_folder(text):
    if not Path(text).is_dir():
        raise argparse.ArgumentTypeError(f"{text} is not a folder")
    return Path(text).absolute()


def model_source(text):
    """tiny, a folder or file that exists, or a Hugging Face id (never a model file's name or a
    path from /, . or ~)."""
    if text == "tiny" or os.path.exists(os.path.expanduser(text)):
        return text if text == "tiny" else os.path.expanduser(text)
    if HUB_ID.fullmatch(text) and not text.lower().endswith(MODEL_FILE_SUFFIXES) and not text.startswith("."):
        return text
    raise argparse.ArgumentTypeError(f"{text} does not exist (and is not a Hugging Face id like owner/name)")


def picture(text):
    """A picture file (as far as its first bytes tell)."""
    problem = picture_problem(text)
    if problem:
        raise argparse.ArgumentTypeError(f"{text} {problem}")
    return Path(text).absolute()


def program(text):
    path = Path(text)
    if not path.is_file() or not os.access(path, os.X_OK):
        raise argparse.ArgumentTypeError(f"{text} is not an executable file")
    return path.absolute()


def number_within(min, max):
    """An argparse type: a number from ``min`` to ``max``."""
    def argument(text):
        try:
            value = float(text)
        except ValueError:
            value = None
        if value is None or not min <= value <= max:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number from {min:g} to {max:g}")
        return value

    return argument
