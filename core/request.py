"""What a Stylize run needs, checked: ``ShotRequest`` from the plain values the Blender side read.

Every problem a user can fix is a ``RequestError`` whose message says what to change.
"""

import dataclasses
import os
import tempfile
from pathlib import Path

from ..contract import (
    DEFAULT_CONTROLNETS,
    EXR_FOLDER,
    FOOTAGE_DERIVED,
    FOOTAGE_FOLDER,
    MAX_SIZE,
    MIN_SIZE,
    picture_problem,
    rounded_size,
    style_weights,
)
from ..job_spec import (
    FOOTAGE_IMAGE_STRENGTH,
    ControlSpec,
    DiffusionSpec,
    JobSpec,
    Keyframes,
    ModelSpec,
    Smoothing,
    StyleSpec,
)

# Where the user changes a setting: (its name in the DiffSynth panel, the headless CLI's option).
SETTING_PLACES = {"frames": ("Start/End", "--frames"), "size": ("Width/Height", "--size"),
                  "keyframes": ("Keyframes", "--keyframes"), "output": ("Output", "--out"),
                  "style_image": ("Style Image", "--style-image"), "style_mix": ("Mix", "--style"),
                  "model": ("Model Path", "--model"), "model_id": ("Model Id", "--model")}


class RequestError(ValueError):
    """A setting that stops the run: ``problem``, then ``fix`` and where to make it, the
    ``setting``'s place (a key of ``SETTING_PLACES``). ``str()`` names the panel; ``text(cli=True)``
    the command-line option."""

    def __init__(self, problem, fix="", setting=""):
        self.problem, self.fix, self.setting = problem, fix, setting
        super().__init__(self.text())

    def text(self, cli=False):
        """The message for a user of the panel or (``cli``) of the headless CLI."""
        message = f"{self.problem}: {self.fix}" if self.fix else self.problem
        if not self.setting:
            return message
        panel, option = SETTING_PLACES[self.setting]
        return f"{message} ({option})" if cli else f"{message} (DiffSynth panel: {panel})"


@dataclasses.dataclass(frozen=True)
class ModelChoice:
    """The model settings as the user gave them, paths already absolute (empty: not set).
    ``controlnets``: name → (source as typed, the same as an absolute path)."""

    kind: str  # TINY, HUB, FOLDER or CHECKPOINT
    path: str = ""
    hub_id: str = ""
    controlnets: dict = dataclasses.field(default_factory=dict)
    tokenizer: str = ""
    allow_network: bool = False
    cache_dir: str = ""


@dataclasses.dataclass(frozen=True)
class ShotRequest:
    """A checked Stylize: the shot's name, frames and folder, the engine to run, and ``spec``,
    the job as the user set it (its output and passes are the run's to fill in)."""

    name: str
    frames: list
    size_note: str
    folder: Path
    python: str
    packages: str | None
    spec: JobSpec
    footage: bool = False  # the frames are a strip's footage, not the scene's passes

    @property
    def size(self):
        return self.spec.size

    @property
    def label(self):
        """A few words for the strip's name: the style, or the prompt."""
        return self.spec.painter.label

    @property
    def passes_folder(self):
        """Where the pass EXRs (``exr/``) and what the engine derives from them go."""
        return passes_folder(self.folder)

    @property
    def exr_folder(self):
        return exr_folder(self.folder)

    @property
    def input_folder(self):
        """Where Blender renders each frame's input: its pass EXR, or with footage its picture."""
        return self.folder / FOOTAGE_FOLDER if self.footage else self.exr_folder

    @property
    def derived_folder(self):
        """Where the engine derives its inputs from what Blender rendered."""
        return self.folder / FOOTAGE_DERIVED if self.footage else self.passes_folder

    def on_footage(self) -> "ShotRequest":
        """This request as a strip's: its frames are footage, painted by ``footage_painter``."""
        painter, notes = footage_painter(self.spec.painter)
        spec = dataclasses.replace(self.spec, painter=painter, notes=(*self.spec.notes, *notes))
        return dataclasses.replace(self, footage=True, spec=spec)


def footage_painter(painter: StyleSpec | DiffusionSpec) -> tuple[StyleSpec | DiffusionSpec, list]:
    """(``painter`` as it paints footage, notes for the user): the diffusion painter keeps only
    its soft-edge control (footage has no depth) and starts from the frames, at
    ``FOOTAGE_IMAGE_STRENGTH`` where it was set to 1 (pure noise would keep nothing of them)."""
    if not isinstance(painter, DiffusionSpec):
        return painter, []
    controls = {"softedge": painter.controls.get("softedge", ControlSpec())}
    if painter.image_strength < 1:
        return dataclasses.replace(painter, controls=controls), []
    note = (f"footage is painted from its frames noised {FOOTAGE_IMAGE_STRENGTH:g} (Image Strength 1 would start "
            "from pure noise; set it below 1 to choose)")
    return dataclasses.replace(painter, controls=controls, image_strength=FOOTAGE_IMAGE_STRENGTH), [note]


def passes_folder(shot_folder: Path) -> Path:
    """The folder of a shot's pass EXRs and of what the engine derives from them."""
    return Path(shot_folder) / "passes"


def exr_folder(shot_folder: Path) -> Path:
    """The folder of a shot's pass EXRs."""
    return passes_folder(shot_folder) / EXR_FOLDER


def check_request(*, name: str, has_camera: bool, frame_range: tuple[int, int], size: tuple[int, int],
                  folder: str | Path, python: str, packages: str | None, painter: StyleSpec | DiffusionSpec,
                  model: ModelChoice | None = None, smoothing: Smoothing | None = None, keyframes: str = "",
                  device: str = "auto", pixel_aspect: tuple = (1.0, 1.0), frame_step: int = 1,
                  missing_libraries: tuple = ()) -> ShotRequest:
    """The ``ShotRequest`` for these values; raises ``RequestError`` naming the first problem.
    ``size``: the wanted (width, height) before rounding; ``painter``: the painter's spec as set
    (a style image's path absolute); ``model``: a ``ModelChoice``, whose sources go into a
    diffusion painter's spec; ``keyframes``: as typed ('every:4', '1,13,24' or '': every frame
    painted); ``pixel_aspect``, ``frame_step``: the scene's; ``missing_libraries``: the paths of
    linked .blend files that could not be found (what they hold is missing from the frames)."""
    if not has_camera:
        raise RequestError("The scene has no active camera", "add a camera and make it the scene camera")
    if pixel_aspect[0] != pixel_aspect[1]:
        raise RequestError(f"The scene's pixel aspect is {pixel_aspect[0]:g}:{pixel_aspect[1]:g}",
                           "the passes need square pixels: set Output Properties › Format › Aspect X and Y alike")
    first, last = frame_range
    if last < first:
        raise RequestError(f"The frame range {first}–{last} is empty", "the end frame must not come before the start",
                           "frames")
    (width, height), note = rounded_size(*size)
    if min(width, height) < MIN_SIZE:
        raise RequestError(f"The resolution {width}x{height} is too small", f"each side needs at least {MIN_SIZE} px",
                           "size")
    if max(width, height) > MAX_SIZE:
        raise RequestError(f"The resolution {width}x{height} is too large", f"each side can be at most {MAX_SIZE} px",
                           "size")
    try:
        keyframes = Keyframes.parse(keyframes)
        if keyframes is not None:
            keyframes.indices(first, last - first + 1)
    except ValueError as error:
        raise RequestError(f"The {error}", setting="keyframes") from None
    folder = Path(folder)
    _check_writable(folder)
    notes = [f"{len(missing_libraries)} linked librar{'y is' if len(missing_libraries) == 1 else 'ies are'} "
             f"missing ({', '.join(missing_libraries[:2])}{', …' if len(missing_libraries) > 2 else ''}): "
             "what they hold is left out of every frame"] if missing_libraries else []
    if frame_step != 1:
        notes.append(f"the frame step {frame_step} is not used: every frame of {first}–{last} is stylized "
                     "(the deflicker follows the motion from each frame to the next)")
    if isinstance(painter, DiffusionSpec):
        painter = with_model(painter, model or ModelChoice("TINY"))
    else:
        painter = checked_style(painter)
    spec = JobSpec(size=(width, height), painter=painter, first_frame=first, device=device,
                   smoothing=smoothing or Smoothing(), keyframes=keyframes, notes=tuple(notes))
    return ShotRequest(name=name, frames=list(range(first, last + 1)), size_note=note, folder=folder, python=python,
                       packages=packages, spec=spec)


def checked_style(style: StyleSpec) -> StyleSpec:
    """``style``, once its style image exists and its mix is well formed; raises ``RequestError``."""
    if style.image is not None:
        problem = picture_problem(style.image) if style.image else "does not exist"
        if problem:
            raise RequestError(f"The style image {style.image or '(none)'!r} {problem}", "choose a picture file",
                               "style_image")
        return style
    try:
        style_weights(style.builtin)
    except ValueError as error:
        raise RequestError(f"The style mix: {error}", setting="style_mix") from None
    return style


def _check_writable(folder):
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder):
            pass
    except OSError as error:
        raise RequestError(f"The output folder {folder} cannot be written ({error.strerror or error})",
                           "choose another", "output") from None


def with_model(painter: DiffusionSpec, choice: ModelChoice) -> DiffusionSpec:
    """``painter`` with the model and ControlNet sources of a ``ModelChoice``; raises
    ``RequestError`` for a missing file or folder or a malformed id."""
    if choice.kind == "TINY":
        return dataclasses.replace(painter, model=ModelSpec(), controls={
            name: dataclasses.replace(control, model="tiny") for name, control in painter.controls.items()})
    if choice.kind == "HUB":
        base = choice.hub_id.strip()
        if base.count("/") != 1:
            raise RequestError(f"The model id {base!r} should look like 'owner/name'", setting="model_id")
    else:
        base = choice.path
        exists = os.path.isdir(base) if choice.kind == "FOLDER" else os.path.isfile(base)
        if not base or not exists:
            what = "model folder" if choice.kind == "FOLDER" else "checkpoint file"
            raise RequestError(f"The {what} {base or '(none)'!r} does not exist", "choose one", "model")
    controls = {}
    for name, control in painter.controls.items():
        typed, local = choice.controlnets.get(name, (DEFAULT_CONTROLNETS.get(name, ""),) * 2)
        if typed.startswith(("/", "//", ".")) and not os.path.exists(local):
            raise RequestError(f"The {name} ControlNet {local!r} does not exist")
        controls[name] = dataclasses.replace(control, model=local if os.path.exists(local) else typed)
    tokenizer = choice.tokenizer if choice.kind == "CHECKPOINT" and choice.tokenizer else None
    model = ModelSpec(base=base, tokenizer=tokenizer, allow_network=choice.allow_network,
                      cache_dir=choice.cache_dir or None)
    return dataclasses.replace(painter, model=model, controls=controls)
