"""The job file: one JSON object describing a shot to render (schema in the README).

``read_job`` checks every field before anything heavy is loaded and raises ``JobError`` with
one message per problem, each naming its field; a field it does not know is a problem too.
Relative paths are relative to the job file.
"""

import dataclasses
import hashlib
import json
import re
from pathlib import Path

from ..chunking import plan_chunks
from ..contract import (
    BASE_IMAGES,
    BLEND_MODES,
    DEFAULT_BASE_IMAGE,
    DEFAULT_STYLE,
    DERIVED_CONTROLS,
    DEVICES,
    JOB_PAINTER,
    JOB_SCHEMA,
    MAX_SEED,
    MAX_SIZE,
    MAX_STEPS,
    MAX_WINDOW,
    MIN_SIZE,
    PAINTERS,
    PRESETS,
    SIZE_MULTIPLE,
    STYLE_WINDOW,
    WEIGHTINGS,
    WHOLE_SHOT,
    frame_name,
    keyframe_indices,
    style_weights,
)
from .deflicker.settings import BlendSettings
from .diffusion_settings import ControlSettings, CrossFrameSettings, DiffusionSettings, preset_values
from .image_sequences import NPY, PNG, frame_files
from .passes import derived_files
from .style_painter import StyleSettings

EXR = ".exr"
# What only the diffusion painter reads; a style job that sets one is told so.
DIFFUSION_FIELDS = ("prompt", "negative_prompt", "controls", "model", "preset", "steps", "guidance_scale", "seed",
                    "cross_frame", "batch_frames", "smoothing.steps")
STYLE_VALUES = dict(smoothing_steps=(), final_smoothing=True, window=STYLE_WINDOW)  # in place of a preset's


class JobError(ValueError):
    """A job that cannot run; ``problems`` lists each as 'field: what is wrong'."""

    def __init__(self, problems):
        self.problems = list(problems)
        super().__init__("; ".join(self.problems))


@dataclasses.dataclass(frozen=True)
class Job:
    """A checked job: inputs, model sources and ``settings`` ready for the pipeline."""

    path: Path
    output: Path
    first_frame: int
    controls: dict  # ControlNet name → frame files (none for the style painter)
    guides: list  # passes, each a list of frame files
    flow: list | None
    # The diffusion painter's base, controlnets (name → source), tokenizer, embeddings, loras, allow_network, cache_dir.
    model: dict | None
    size: tuple  # (width, height)
    device: str
    settings: DiffusionSettings | StyleSettings  # as the painter needs
    preset: str | None  # diffusion only
    raw: dict
    passes: tuple | None = None  # (pass EXR files, folder for what is derived from them)
    painter: str = JOB_PAINTER  # contract.PAINTERS
    keyframes: tuple | None = None  # indices of the frames painted (the rest carried from them); None: all
    chunks: tuple | None = None  # ``chunking.Chunk``s of a shot split for a farm; None: rendered whole
    anchor: int = 0  # index of the frame every chunk's cross-frame attention also sees
    span: tuple | None = None  # (start, stop) shot indices of a chunk's job; None: the whole shot
    notes: tuple = ()  # what the Blender side noticed about the shot, kept in result.json

    def frame_name(self, index):
        """File name of the ``index``-th output frame."""
        return frame_name(self.first_frame + index)

    @property
    def digest(self):
        """A fingerprint of the job's content: what its chunks are stitched under."""
        return hashlib.sha256(json.dumps(self.raw, sort_keys=True).encode()).hexdigest()[:16]

    def part(self, start, stop, output):
        """The job of the shot's frames ``start`` to ``stop`` (excluded), written to ``output``: the
        shot's keyframes among them and their first and last frame painted (so that every part
        paints what the parts beside it paint of their shared frames)."""
        def pick(files):
            return files[start:stop]

        keyframes = None if self.keyframes is None else \
            tuple(sorted({k - start for k in self.keyframes if start <= k < stop} | {0, stop - start - 1}))
        return dataclasses.replace(self, output=output, first_frame=self.first_frame + start,
                                   controls={name: pick(files) for name, files in self.controls.items()},
                                   guides=[pick(files) for files in self.guides],
                                   flow=None if self.flow is None else pick(self.flow), keyframes=keyframes,
                                   chunks=None, span=(start, stop))


def read_job(path):
    """The ``Job`` in the JSON file ``path``; raises ``JobError``."""
    path = Path(path).absolute()
    try:
        raw = json.loads(path.read_text())
    except OSError as error:
        raise JobError([f"job: cannot read {path}: {error.strerror or error}"]) from None
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise JobError([f"job: {path} is not valid JSON ({error})"]) from None
    if not isinstance(raw, dict):
        raise JobError([f"job: {path} must hold a JSON object"])
    return _Checker(raw, path.parent).job(path)


class _Checker:
    """Reads fields, noting each problem instead of stopping at the first."""

    def __init__(self, raw, base):
        self.raw, self.base, self.problems, self.read = raw, base, [], set()

    def problem(self, field, message):
        self.problems.append(f"{field}: {message}")

    def get(self, field, kinds, default=None, required=False, within=None):
        """``field`` (dotted for nested objects) if present and of one of ``kinds``."""
        self.read.add(field)
        value = self.raw if within is None else within
        for key in field.split(".") if within is None else [field.split(".")[-1]]:
            value = value.get(key) if isinstance(value, dict) else None
        if value is None:
            if required:
                self.problem(field, "is missing")
            return default
        if (isinstance(value, bool) and bool not in kinds) or not isinstance(value, kinds):
            names = " or ".join(k.__name__.replace("str", "text").replace("dict", "object") for k in kinds)
            self.problem(field, f"must be {names}, not {json.dumps(value)}")
            return default
        return value

    def number(self, field, default, low, high=None, integer=False, within=None):
        value = self.get(field, (int,) if integer else (int, float), default, within=within)
        if value is not None and (value < low or (high is not None and value > high)):
            self.problem(field, f"must be between {low} and {high}" if high is not None else f"must be ≥ {low}")
            return default
        return value

    def choice(self, field, default, choices, within=None):
        value = self.get(field, (str,), default, within=within)
        if value not in choices:
            self.problem(field, f"must be one of {', '.join(map(str, choices))}, not {json.dumps(value)}")
            return default
        return value

    def frames(self, field, value, suffixes=(PNG,)):
        """Frame files from a folder or a list of files."""
        if isinstance(value, str):
            try:
                return frame_files(self.base / value, suffixes)
            except ValueError as error:
                self.problem(field, str(error))
                return []
        if isinstance(value, list) and value and all(isinstance(item, str) for item in value):
            files = [self.base / item for item in value]
            missing = [str(f) for f in files if not f.is_file()]
            if missing:
                self.problem(field, f"{len(missing)} file(s) missing, first {missing[0]}")
            return files
        self.problem(field, "must be a folder or a list of frame files")
        return []

    def job(self, path):
        schema = self.get("schema", (int,), required=True)
        if schema is not None and schema != JOB_SCHEMA:
            self.problem("schema", f"version {schema} is not supported (this engine reads {JOB_SCHEMA})")
        output = self.get("output", (str,), required=True)
        painter = self.choice("painter", JOB_PAINTER, PAINTERS)
        diffusion = painter == "diffusion"
        if not diffusion:
            self.not_used(DIFFUSION_FIELDS, painter)
        elif "style" in self.raw:
            self.read.add("style")
            self.problem("style", "only the style painter reads it (set painter to \"style\")")
        preset = self.choice("preset", "stylize", PRESETS) if diffusion else None
        steps = self.number("steps", None, 1, MAX_STEPS, integer=True) if diffusion else None
        values = preset_values(preset, steps) if diffusion else STYLE_VALUES
        passes = self.passes()
        controls, control_settings, control_models = self.controls(passes) if diffusion else ({}, {}, {})
        if passes:
            derived = derived_files(*passes)
            controls = {name: derived.get(name, []) for name in controls}
            guides, flow = [derived["guide"]], derived["flow"]
            for field in ("guides", "flow"):
                if field in self.raw:
                    self.problem(field, "comes from passes: leave it out of a job that names passes")
        else:
            guides = [self.frames(f"guides[{i}]", value, (PNG, NPY))
                      for i, value in enumerate(self.get("guides", (list,), [], required=True))]
            flow_value = self.get("flow", (str, list))
            flow = None if flow_value is None else self.frames("flow", flow_value, (NPY,))
        sequences = {f"controls.{name}.frames": files for name, files in controls.items()}
        sequences.update({f"guides[{index}]": files for index, files in enumerate(guides)})
        sequences["flow"] = flow
        counts = {field: len(files) for field, files in sequences.items() if files}
        if len(set(counts.values())) > 1:
            listed = ", ".join(f"{field} has {count}" for field, count in counts.items())
            self.problem("frames", f"every sequence needs as many frames: {listed}")
        if not guides:
            self.problem("guides", "at least one guide pass is needed (PatchMatch matches on them)")
        size = self.size()
        model = self.model(control_models) if diffusion else None
        smoothing = self.smoothing(values, max(counts.values(), default=1))
        settings = self.settings(values, control_settings, smoothing) if diffusion else self.style(smoothing)
        device = self.get("device", (str,), "auto")
        if device is not None and device.split(":")[0] not in DEVICES:
            self.problem("device", f"must be one of {', '.join(DEVICES)} (or cuda:N), not {json.dumps(device)}")
        first_frame = self.number("first_frame", 1, 0, integer=True)
        keyframes = self.keyframes(first_frame, max(counts.values(), default=0))
        chunks, anchor = self.chunks(first_frame, max(counts.values(), default=0), values, smoothing[2])
        notes = self.get("notes", (list,), [])
        if not all(isinstance(note, str) for note in notes):
            self.problem("notes", "must be a list of texts")
        for field in self.unknown_fields():
            self.problem(field, "is not a job field (a typo?)")
        if self.problems:
            raise JobError(self.problems)
        return Job(path=path, output=self.base / output, first_frame=first_frame, controls=controls,
                   guides=guides, flow=flow, model=model, size=size, device=device, settings=settings,
                   preset=preset, raw=self.raw, passes=passes, painter=painter, keyframes=keyframes,
                   chunks=chunks, anchor=anchor, notes=tuple(notes))

    def chunks(self, first_frame, count, values, blend):
        """(``Chunk``s, anchor index) of ``chunks`` ({"frames": F, "overlap": O, "anchor": frame
        number}), or (None, 0) without it."""
        if self.get("chunks", (dict,)) is None:
            return None, 0
        frames = self.number("chunks.frames", None, 1, integer=True)
        overlap = self.number("chunks.overlap", None, 0, integer=True)
        anchor = self.number("chunks.anchor", first_frame, 0, integer=True)
        for field, value in (("chunks.frames", frames), ("chunks.overlap", overlap)):
            if value is None and not any(problem.startswith(field) for problem in self.problems):
                self.problem(field, "is missing")
        if None in (frames, overlap) or not count:
            return None, 0
        if not first_frame <= anchor < first_frame + count:
            self.problem("chunks.anchor", f"frame {anchor} is not in the shot's frames {first_frame}–"
                         f"{first_frame + count - 1}")
        smoothing = self.raw.get("smoothing")
        window = smoothing.get("window", values["window"]) if isinstance(smoothing, dict) else values["window"]
        try:
            chunks = plan_chunks(count, frames, overlap, WHOLE_SHOT if window == WHOLE_SHOT else blend.window)
        except ValueError as error:
            self.problem("chunks", str(error))
            return None, 0
        return tuple(chunks), anchor - first_frame

    def keyframes(self, first_frame, count):
        """The indices of ``keyframes`` ({"every": K} or a list of frame numbers) in a shot of
        ``count`` frames, or None (none given, or no frames to place them in)."""
        value = self.get("keyframes", (dict, list))
        if value is None:
            return None
        if isinstance(value, dict):
            self.read.add("keyframes.every")
            every = value.get("every")
            if isinstance(every, bool) or not isinstance(every, int) or every < 1 or len(value) != 1:
                self.problem("keyframes", f"must be {{\"every\": K}} with K ≥ 1 or a list of frame numbers, not "
                             f"{json.dumps(value)}")
                return None
        elif not value or not all(isinstance(n, int) and not isinstance(n, bool) for n in value):
            self.problem("keyframes", f"must list frame numbers, not {json.dumps(value)}")
            return None
        if not count:
            return None  # the frames themselves are a problem already
        try:
            return tuple(keyframe_indices(value, first_frame, count))
        except ValueError as error:
            self.problem("keyframes", str(error))
            return None

    def not_used(self, fields, painter):
        """A problem for each of ``fields`` the job sets though ``painter`` does not read it."""
        for field in fields:
            self.read.add(field)
            parent, _, key = field.rpartition(".")
            owner = self.raw.get(parent) if parent else self.raw
            if isinstance(owner, dict) and key in owner:
                self.problem(field, f"the {painter} painter does not use it (painter is \"{painter}\")")

    def unknown_fields(self):
        """Fields of the job that nothing read, e.g. 'stpes' or 'controls.depth.wieght'."""
        parents = {parent for field in self.read for parent in _parents(field)}
        return [field for field in _field_paths(self.raw) if field not in self.read and field not in parents]

    def passes(self):
        """(EXR files, folder for the derived inputs) of ``passes``, or None without it. A
        broken ``passes`` still makes a passes job: its problems are noted, and the job is not
        also asked for the inputs that passes stand for."""
        if self.get("passes", (dict,)) is None:
            return None
        exr = self.frames("passes.frames", self.get("passes.frames", (str, list), required=True), (EXR,))
        return exr, self.base / self.get("passes.derived", (str,), "", required=True)

    def controls(self, passes):
        entries = self.get("controls", (dict,), {}, required=True)
        if "controls" in self.raw and not entries:
            self.problem("controls", "needs at least one ControlNet (e.g. depth, softedge)")
        files, settings, models = {}, {}, {}
        for name, entry in entries.items():
            field = f"controls.{name}"
            if not isinstance(entry, dict):
                self.read.add(field)
                self.problem(field, "must be an object with frames, model and weight")
                continue
            if passes is not None:
                if name not in DERIVED_CONTROLS:
                    self.problem(field, f"passes give only {', '.join(DERIVED_CONTROLS)} control images")
                if "frames" in entry:
                    self.problem(f"{field}.frames", "comes from passes: leave it out of a job that names passes")
                files[name] = []
            else:
                files[name] = self.frames(f"{field}.frames", self.get(f"{field}.frames", (str, list), required=True,
                                                                        within=entry))
            models[name] = self.get(f"{field}.model", (str,), "tiny", within=entry)
            weight = self.number(f"{field}.weight", 1.0, 0, 5, within=entry)
            start = self.number(f"{field}.start", 0.0, 0, 1, within=entry)
            end = self.number(f"{field}.end", 1.0, 0, 1, within=entry)
            try:
                settings[name] = ControlSettings(weight, start, end)
            except ValueError as error:
                self.problem(field, str(error))
        return files, settings, models

    def size(self):
        size = self.get("size", (list,), required=True)
        if size is None:
            return None
        if len(size) != 2 or not all(isinstance(v, int) and not isinstance(v, bool) for v in size):
            self.problem("size", f"must be [width, height] in pixels, not {json.dumps(size)}")
            return None
        if min(size) < MIN_SIZE or max(size) > MAX_SIZE or any(v % SIZE_MULTIPLE for v in size):
            self.problem("size", f"{size[0]}x{size[1]}: each side must be from {MIN_SIZE} to {MAX_SIZE} and a "
                         f"multiple of {SIZE_MULTIPLE}")
        return tuple(size)

    def model(self, controlnets):
        self.get("model", (dict,))
        embeddings = self.get("model.embeddings", (list,), [])
        loras = []
        for index, entry in enumerate(self.get("model.loras", (list,), [])):
            field = f"model.loras[{index}]"
            if not isinstance(entry, dict) or not isinstance(entry.get("path"), str):
                self.problem(field, "must be an object with a path (and a scale)")
                continue
            self.read.add(f"{field}.path")
            loras.append((self._path(entry["path"]), self.number(f"{field}.scale", 1.0, -5, 5, within=entry)))
        return {"base": self._source(self.get("model.base", (str,), "tiny")),
                "controlnets": {name: self._source(source) for name, source in controlnets.items()},
                "tokenizer": self._path(self.get("model.tokenizer", (str,))),
                "embeddings": [self._path(e) for e in embeddings if isinstance(e, str)], "loras": loras,
                "allow_network": self.get("model.allow_network", (bool,), False),
                "cache_dir": self._path(self.get("model.cache_dir", (str,)))}

    def _source(self, value):
        """A model source: a path relative to the job if one exists there, else as given
        ('tiny', a Hugging Face id, or a path the loader will report as missing)."""
        if value is None or value == "tiny" or not (self.base / Path(value).expanduser()).exists():
            return value
        return self._path(value)

    def _path(self, value):
        return None if value is None else str(self.base / Path(value).expanduser())

    def smoothing(self, values, count):
        prefix = "smoothing."
        steps = self.get(prefix + "steps", (list,), list(values["smoothing_steps"]))
        if not all(isinstance(s, int) and not isinstance(s, bool) for s in steps):
            self.problem(prefix + "steps", f"must list step numbers, not {json.dumps(steps)}")
            steps = []
        window = self.get(prefix + "window", (int, str), values["window"])
        if window == WHOLE_SHOT:
            window = max(count - 1, 1)
        elif isinstance(window, bool) or not isinstance(window, int) or not 1 <= window <= MAX_WINDOW:
            self.problem(prefix + "window", f"must be a number of frames from 1 to {MAX_WINDOW} or "
                         f"\"{WHOLE_SHOT}\", not {json.dumps(window)}")
            window = 1
        blend = dict(window=window, mode=self.choice(prefix + "mode", "fast", BLEND_MODES),
                     weighting=self.choice(prefix + "weighting", "confidence", WEIGHTINGS),
                     iterations=self.number(prefix + "iterations", 5, 0, 50, integer=True),
                     patch_size=self.number(prefix + "patch_size", 5, 1, 31, integer=True),
                     keep_detail=self.get(prefix + "keep_detail", (bool,), True))
        try:
            blend = BlendSettings(**blend)
        except ValueError as error:
            self.problem("smoothing", str(error))
            blend = BlendSettings()
        return tuple(steps), self.get(prefix + "final", (bool,), values["final_smoothing"]), blend

    def style(self, smoothing):
        """The ``StyleSettings`` of a style job's ``style`` object."""
        _, final, blend = smoothing
        self.get("style", (dict,))
        builtin, image = self.get("style.builtin", (int, str)), self.get("style.image", (str,))
        weights = style_weights(DEFAULT_STYLE)
        if builtin is not None and image is not None:
            self.problem("style", "names both a built-in style and a style image: keep one")
        elif builtin is not None:
            try:
                weights = style_weights(builtin)
            except ValueError as error:
                self.problem("style.builtin", str(error))
        if image is not None:
            image = self._path(image)
            self.check_picture("style.image", image)
        fields = dict(weights=weights, image=image, strength=self.number("style.strength", 1.0, 0, 1),
                      keep_colors=self.get("style.keep_colors", (bool,), False),
                      base=self.choice("style.base", DEFAULT_BASE_IMAGE, BASE_IMAGES))
        return StyleSettings(**fields, final_smoothing=final, blend=blend)

    def check_picture(self, field, path):
        """A problem unless ``path`` is a picture file Pillow can read."""
        from PIL import Image, UnidentifiedImageError

        try:
            with Image.open(path) as image:
                image.verify()
        except FileNotFoundError:
            self.problem(field, f"{path} does not exist")
        except (OSError, UnidentifiedImageError, SyntaxError, ValueError) as error:
            self.problem(field, f"{path} is not a picture that can be read ({error})")

    def settings(self, values, controls, smoothing):
        steps, final, blend = smoothing
        fields = dict(prompt=self.get("prompt", (str,), "", required=True),
                      negative_prompt=self.get("negative_prompt", (str,), ""), steps=values["steps"],
                      guidance_scale=self.number("guidance_scale", 7.5, 0, 50),
                      seed=self.number("seed", 0, 0, MAX_SEED, integer=True), controls=controls,
                      smoothing_steps=steps, final_smoothing=final, blend=blend,
                      batch_frames=self.number("batch_frames", 0, 0, integer=True))
        try:
            fields["cross_frame"] = CrossFrameSettings(self.get("cross_frame.enabled", (bool,), True),
                                                       self.number("cross_frame.neighbours", 1, 0, integer=True))
            return DiffusionSettings(**fields)
        except ValueError as error:
            self.problem("smoothing.steps" if "smoothing" in str(error) else "cross_frame", str(error))
            return None


def _parents(field):
    """'model.loras[0].scale' → 'model', 'model.loras', 'model.loras[0]'."""
    return [field[:match.start()] for match in re.finditer(r"[.\[]", field)]


def _field_paths(value, prefix=""):
    """The dotted path of every key of nested objects ('model.loras[0].scale')."""
    if isinstance(value, dict):
        for key, item in value.items():
            path = f"{prefix}.{key}" if prefix else key
            yield path
            yield from _field_paths(item, path)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _field_paths(item, f"{prefix}[{index}]")
