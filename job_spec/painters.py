"""The painters' parts of a job: the style painter's (``StyleSpec``) and the diffusion painter's
(``DiffusionSpec``, with its ``ControlSpec``s, ``ModelSpec`` and ``CrossFrame``; ``Schedule``:
its steps and smoothing steps from a preset)."""

import dataclasses
from pathlib import PurePath
from typing import ClassVar

from ..contract import (
    BASE_IMAGES,
    DEFAULT_BASE_IMAGE,
    DEFAULT_PRESET,
    DEFAULT_STYLE,
    MAX_SEED,
    MAX_STEPS,
    PRESETS,
    STYLE_WINDOW,
    style_weights,
)
from .fields import choice, custom, default, flag, number, set_fields, text, whole


@dataclasses.dataclass(frozen=True)
class Schedule:
    """The diffusion painter's denoising steps and when it smooths: a preset's, or its
    smoothing steps spread over other ``steps`` in proportion."""

    steps: int
    smoothing_steps: tuple
    final_smoothing: bool
    window: int | str

    @classmethod
    def of(cls, preset, steps=None):
        """The schedule of ``preset`` with ``steps`` (None: the preset's own); a preset that
        smooths at every step but the last still does. Raises ValueError for an unknown preset."""
        if preset not in PRESETS:
            raise ValueError(f"preset {preset!r} is not one of {', '.join(PRESETS)}")
        chosen = PRESETS[preset]
        smoothing = chosen.smoothing_steps
        if steps is not None and steps != chosen.steps:
            smoothing = tuple(range(steps - 1)) if smoothing == tuple(range(chosen.steps - 1)) else \
                tuple(sorted({s * steps // chosen.steps for s in smoothing}))
        return cls(steps or chosen.steps, smoothing, chosen.final_smoothing, chosen.window)


@dataclasses.dataclass(frozen=True)
class StyleSpec:
    """The style painter: a built-in style or a mix (``builtin``: 19 or '3:0.5,12:0.5') or a style
    ``image`` (a path, relative to the job file), ``strength`` (0: the base image, 1: fully
    painted), ``keep_colors`` (the base's colours), ``base`` (``contract.BASE_IMAGES``)."""

    builtin: int | str | None = custom(DEFAULT_STYLE)
    image: str | None = custom()
    strength: float = number(1.0, 0, 1)
    keep_colors: bool = flag(False)
    base: str = choice(DEFAULT_BASE_IMAGE, BASE_IMAGES)

    kind: ClassVar[str] = "style"

    def __post_init__(self):
        if self.image is not None and self.builtin is not None:
            object.__setattr__(self, "builtin", None)  # a style image replaces the built-in style

    @property
    def label(self):
        """A few words for the strip's name: the style."""
        return PurePath(self.image).stem if self.image else f"style {self.builtin}"

    @property
    def starts_from(self):
        """The base image every frame is painted from (``contract.BASE_IMAGES``)."""
        return self.base

    def default_window(self):
        """The frames blended on each side when the job names no window."""
        return STYLE_WINDOW

    def final_smoothing(self):
        """Whether the painted frames are blended when the job does not say."""
        return True

    @classmethod
    def read(cls, reader, derived_from=None):
        """The style painter's part of a job (its ``style`` object; a diffusion field is a problem)."""
        reader.not_used(DIFFUSION_FIELDS, cls.kind)
        within = reader.object("style")
        builtin, image = reader.get("style.builtin", (int, str), within=within), \
            reader.get("style.image", (str,), within=within)
        if builtin is not None and image is not None:
            reader.problem("style", "names both a built-in style and a style image: keep one")
        elif builtin is not None:
            try:
                style_weights(builtin)
            except ValueError as error:
                reader.problem("style.builtin", str(error))
                builtin = None
        return cls(builtin=default(cls, "builtin") if builtin is None else builtin, image=image,
                   **reader.fields(cls, within, "style."))

    def to_json(self):
        return {"style": set_fields(self)}


@dataclasses.dataclass(frozen=True)
class ControlSpec:
    """One ControlNet: its ``model`` (a source), ``weight`` and the fractions of the steps it acts
    in, [``start``, ``end``]; ``frames``: its control images (a folder or files) in a job that
    names no passes or footage."""

    model: str = text("tiny")
    weight: float = number(1.0, 0, 2)
    start: float = number(0.0, 0, 1)
    end: float = number(1.0, 0, 1)
    frames: str | tuple | None = custom()

    @classmethod
    def read(cls, reader, within, path, derived_from):
        frames = None if derived_from else reader.get(path + ".frames", (str, list), required=True, within=within)
        if derived_from and "frames" in within:
            reader.read.add(path + ".frames")
            reader.problem(path + ".frames", f"comes from {derived_from.key}: leave it out of a job that names "
                           f"{derived_from.key}")
        spec = cls(frames=tuple(frames) if isinstance(frames, list) else frames,
                   **reader.fields(cls, within, path + "."))
        if not 0 <= spec.start < spec.end <= 1:
            reader.problem(path, f"ControlNet start {spec.start} and end {spec.end} must satisfy 0 ≤ start < end ≤ 1")
        return spec

    def to_json(self):
        fields = set_fields(self)
        if isinstance(self.frames, tuple):
            fields["frames"] = list(self.frames)
        return fields


@dataclasses.dataclass(frozen=True)
class Lora:
    path: str = text(required=True)
    scale: float = number(1.0, -5, 5)


@dataclasses.dataclass(frozen=True)
class ModelSpec:
    """The diffusion model's sources: ``base`` ('tiny', a Hugging Face id, a folder or a
    checkpoint file), a ``tokenizer`` folder for a checkpoint, textual-inversion ``embeddings``,
    ``loras``, whether it may be downloaded and where models are cached."""

    base: str = text("tiny")
    tokenizer: str | None = text()
    embeddings: tuple = custom(())
    loras: tuple = custom(())
    allow_network: bool = flag(False)
    cache_dir: str | None = text()

    @classmethod
    def read(cls, reader):
        within = reader.object("model")
        embeddings = reader.get("model.embeddings", (list,), [], within=within)
        loras = []
        for index, entry in enumerate(reader.get("model.loras", (list,), [], within=within)):
            path = f"model.loras[{index}]"
            if not isinstance(entry, dict) or not isinstance(entry.get("path"), str):
                reader.read.add(path)
                reader.problem(path, "must be an object with a path (and a scale)")
                continue
            loras.append(Lora(**reader.fields(Lora, entry, path + ".")))
        return cls(embeddings=tuple(e for e in embeddings if isinstance(e, str)), loras=tuple(loras),
                   **reader.fields(cls, within, "model."))

    def to_json(self):
        fields = set_fields(self)
        fields.update({"embeddings": list(self.embeddings)} if self.embeddings else {})
        fields.update({"loras": [set_fields(lora) for lora in self.loras]} if self.loras else {})
        return fields


@dataclasses.dataclass(frozen=True)
class CrossFrame:
    """Self-attention across frames: ``neighbours`` on each side besides the first frame."""

    enabled: bool = flag(True)
    neighbours: int = whole(1, 0)


@dataclasses.dataclass(frozen=True)
class DiffusionSpec:
    """The diffusion painter: the prompts, the ``preset`` (``steps`` None: the preset's), guidance,
    seed, ControlNets (name → ``ControlSpec``), the model, cross-frame attention,
    ``batch_frames`` per model call (0: as many as fit), and the image-to-image start:
    ``image_strength`` below 1 starts the loop from the ``base_image`` (``contract.BASE_IMAGES``)
    noised to that fraction of the steps (SDEdit) instead of from pure noise."""

    prompt: str = text("", required=True)
    negative_prompt: str = text("")
    preset: str = choice(DEFAULT_PRESET, PRESETS)
    steps: int | None = whole(None, 1, MAX_STEPS)
    guidance_scale: float = number(7.5, 1, 30)
    seed: int = whole(0, 0, MAX_SEED)
    controls: dict = custom(dict)
    model: ModelSpec = custom(ModelSpec)
    cross_frame: CrossFrame = custom(CrossFrame)
    batch_frames: int = whole(0, 0)
    image_strength: float = number(1.0, 0, 1)
    base_image: str = choice(DEFAULT_BASE_IMAGE, BASE_IMAGES)

    kind: ClassVar[str] = "diffusion"

    @property
    def label(self):
        """A few words for the strip's name: the prompt."""
        return self.prompt

    @property
    def starts_from(self):
        """The base image the loop starts from (``contract.BASE_IMAGES``), or None: from noise."""
        return self.base_image if self.image_strength < 1 else None

    @property
    def schedule(self):
        """The ``Schedule`` of the preset and steps."""
        return Schedule.of(self.preset, self.steps)

    def default_window(self):
        """The preset's window (a number of frames or ``WHOLE_SHOT``)."""
        return self.schedule.window

    def final_smoothing(self):
        """Whether the preset blends the frames at the end."""
        return self.schedule.final_smoothing

    @classmethod
    def read(cls, reader, derived_from):
        """The diffusion painter's part of a job (its top-level fields; ``style`` is a problem);
        ``derived_from``: the job's passes or footage, whose controls come from them."""
        if "style" in reader.raw:
            reader.read.add("style")
            reader.problem("style", f"only the style painter reads it (set painter to \"{StyleSpec.kind}\")")
        entries = reader.get("controls", (dict,), {}, required=True)
        if "controls" in reader.raw and not entries:
            reader.problem("controls", "needs at least one ControlNet (e.g. depth, softedge)")
        controls = {}
        for name, entry in entries.items():
            if isinstance(entry, dict):
                controls[name] = ControlSpec.read(reader, entry, f"controls.{name}", derived_from)
            else:
                reader.read.add(f"controls.{name}")
                reader.problem(f"controls.{name}", "must be an object with frames, model and weight")
        within = reader.object("cross_frame")
        return cls(controls=controls, model=ModelSpec.read(reader),
                   cross_frame=CrossFrame(**reader.fields(CrossFrame, within, "cross_frame.")),
                   **reader.fields(cls, reader.raw))

    def to_json(self):
        fields = {"prompt": self.prompt, **set_fields(self, skip=("controls", "model", "cross_frame"))}
        fields["controls"] = {name: control.to_json() for name, control in self.controls.items()}
        fields["model"] = self.model.to_json()
        if self.cross_frame != CrossFrame():
            fields["cross_frame"] = dataclasses.asdict(self.cross_frame)
        return fields


PAINTER_SPECS = {spec.kind: spec for spec in (StyleSpec, DiffusionSpec)}
# What only the diffusion painter reads: a style job that sets one is told so.
DIFFUSION_FIELDS = (*(field.name for field in dataclasses.fields(DiffusionSpec)), "smoothing.steps")
