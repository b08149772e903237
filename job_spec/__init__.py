"""The job spec: every setting a Stylize hands from the Blender side (the panel or the CLI) to the
engine, typed, each default and each limit written once, here.

``JobSpec.to_json()`` is the job file (README: "Job file"); ``JobSpec.from_json(raw)`` reads one
back and returns every problem at once, each with its field's path, a field it does not know
among them (likely a typo). What only the engine can check (files, sequence lengths, pictures)
the engine checks. The panel's properties take their defaults and limits from ``default`` and
``limits``. Standard library only, like ``contract``: both sides import it.
"""

import dataclasses
import json

from ..contract import DEVICES, JOB_SCHEMA, MAX_SIZE, MIN_SIZE, PAINTERS, SCENE_BASE, SIZE_MULTIPLE
from .fields import Reader, custom, default, default_and_limits, limits, set_fields, text, whole
from .painters import (
    PAINTER_SPECS,
    ControlSpec,
    CrossFrame,
    DiffusionSpec,
    Lora,
    ModelSpec,
    Schedule,
    StyleSpec,
)
from .shot_parts import ChunkPlan, Footage, Keyframes, Passes, Smoothing

__all__ = ["FOOTAGE_IMAGE_STRENGTH", "ChunkPlan", "ControlSpec", "CrossFrame", "DiffusionSpec", "Footage", "JobSpec",
           "Keyframes", "Lora", "ModelSpec", "Passes", "Schedule", "Smoothing", "StyleSpec", "default",
           "default_and_limits", "limits"]

# How far the diffusion painter noises each frame of footage before the loop, unless told: it
# keeps the footage's shapes and colours and paints them over.
FOOTAGE_IMAGE_STRENGTH = 0.6
LEGACY_PAINTER = "diffusion"  # a job file that names no painter was written before the style painter


@dataclasses.dataclass(frozen=True)
class JobSpec:
    """A whole job: where the frames go, their size and first number, the painter, the shot's
    inputs (``passes`` or ``footage``, or ready-made ``guides`` and ``flow``), the smoothing, keyframes, a farm's
    chunks and the notes the Blender side made about the shot. Paths are relative to the job
    file where they are not absolute."""

    output: str = text("", required=True)
    size: tuple = custom((512, 512))
    painter: StyleSpec | DiffusionSpec = custom(StyleSpec)
    first_frame: int = whole(1, 0)
    device: str = custom("auto")
    passes: Passes | None = custom()
    footage: Footage | None = custom()
    guides: tuple = custom(())
    flow: str | tuple | None = custom()
    smoothing: Smoothing = custom(Smoothing)
    keyframes: Keyframes | None = custom()
    chunks: ChunkPlan | None = custom()
    notes: tuple = custom(())

    def window(self):
        """The frames blended on each side: the smoothing's window or the painter's own, a number
        or ``WHOLE_SHOT``."""
        return self.smoothing.window or self.painter.default_window()

    @property
    def derived_from(self):
        """The ``Passes`` or ``Footage`` the engine derives the job's inputs from, or None."""
        return self.passes if self.passes is not None else self.footage

    @property
    def scene_look(self):
        """Whether the painter starts from the scene's own look (``SCENE_BASE``): the passes are
        rendered with it."""
        return self.painter.starts_from == SCENE_BASE

    def final_smoothing(self):
        """Whether the painted frames are blended at the end."""
        return self.painter.final_smoothing() if self.smoothing.final is None else self.smoothing.final

    def without_smoothing(self):
        """This job with no patch blending and every frame painted: each frame as its painter
        paints it on its own (a preview)."""
        steps = None if isinstance(self.painter, StyleSpec) else ()
        return dataclasses.replace(self, smoothing=dataclasses.replace(self.smoothing, final=False, steps=steps),
                                   keyframes=None)

    def to_json(self) -> dict:
        """The job file's JSON object."""
        job = {"schema": JOB_SCHEMA, "output": self.output, "first_frame": self.first_frame,
               "size": list(self.size), "painter": self.painter.kind, "device": self.device}
        if self.derived_from is not None:
            job[self.derived_from.key] = self.derived_from.to_json()
        else:
            job["guides"] = [g if isinstance(g, str) else list(g) for g in self.guides]
            if self.flow is not None:
                job["flow"] = self.flow if isinstance(self.flow, str) else list(self.flow)
        job["smoothing"] = self.smoothing.to_json()
        if self.keyframes is not None:
            job["keyframes"] = self.keyframes.to_json()
        if self.chunks is not None:
            job["chunks"] = set_fields(self.chunks)
        if self.notes:
            job["notes"] = list(self.notes)
        return {**job, **self.painter.to_json()}

    @classmethod
    def from_json(cls, raw: dict) -> tuple["JobSpec", list[str]]:
        """(the spec, every problem as 'field: what is wrong') of a job file's JSON object: with
        problems, the spec as far as it could be read (a bad field's default in its place)."""
        if not isinstance(raw, dict):
            return cls(), ["job: must be a JSON object"]
        reader = Reader(raw)
        schema = reader.get("schema", (int,), required=True)
        if schema is not None and schema != JOB_SCHEMA:
            reader.problem("schema", f"version {schema} is not supported (this engine reads {JOB_SCHEMA})")
        name = reader.get("painter", (str,), LEGACY_PAINTER)
        if name not in PAINTER_SPECS:
            reader.problem("painter", f"must be one of {', '.join(PAINTERS)}, not {json.dumps(name)}")
            name = LEGACY_PAINTER
        passes, footage = Passes.read(reader), Footage.read(reader)
        if passes is not None and footage is not None:
            reader.problem("footage", "a job is made from passes or from footage, not both")
        painter = PAINTER_SPECS[name].read(reader, passes or footage)
        spec = cls(output=reader.field(cls, "output", raw), size=_read_size(reader), painter=painter,
                   first_frame=reader.field(cls, "first_frame", raw), device=_read_device(reader), passes=passes,
                   footage=footage, smoothing=Smoothing.read(reader), keyframes=Keyframes.read(reader),
                   chunks=ChunkPlan.read(reader), notes=_read_notes(reader), **_read_inputs(reader, passes or footage))
        for field in reader.unknown_fields():
            reader.problem(field, "is not a job field (a typo?)")
        return spec, reader.problems


def _read_size(reader):
    size = reader.get("size", (list,), required=True)
    if size is None:
        return default(JobSpec, "size")
    if len(size) != 2 or not all(isinstance(v, int) and not isinstance(v, bool) for v in size):
        reader.problem("size", f"must be [width, height] in pixels, not {json.dumps(size)}")
    elif min(size) < MIN_SIZE or max(size) > MAX_SIZE or any(v % SIZE_MULTIPLE for v in size):
        reader.problem("size", f"{size[0]}x{size[1]}: each side must be from {MIN_SIZE} to {MAX_SIZE} and a "
                       f"multiple of {SIZE_MULTIPLE}")
    return tuple(size)


def _read_device(reader):
    device = reader.get("device", (str,), default(JobSpec, "device"))
    if device.split(":")[0] not in DEVICES:
        reader.problem("device", f"must be one of {', '.join(DEVICES)} (or cuda:N), not {json.dumps(device)}")
    return device


def _read_notes(reader):
    notes = reader.get("notes", (list,), [])
    if not all(isinstance(note, str) for note in notes):
        reader.problem("notes", "must be a list of texts")
    return tuple(notes)


def _read_inputs(reader, derived_from):
    """{guides, flow} of a job without passes or footage (in one with them, ``derived_from``, a
    problem each that is set)."""
    if derived_from is not None:
        for path in ("guides", "flow"):
            if path in reader.raw:
                reader.read.add(path)
                reader.problem(path, f"comes from {derived_from.key}: leave it out of a job that names "
                               f"{derived_from.key}")
        return {}
    guides = reader.get("guides", (list,), [], required=True)
    flow = reader.get("flow", (str, list))
    return {"guides": tuple(g if isinstance(g, str) else tuple(g) if isinstance(g, list) else g for g in guides),
            "flow": tuple(flow) if isinstance(flow, list) else flow}
