"""The job file, read: its ``job_spec.JobSpec`` (every field checked there) with what only the
engine can check (the frame files and their counts, the keyframes and chunks within the shot, a
style picture) and the painter's runtime settings made from it.

``read_job`` raises ``JobError`` with one message per problem, each naming its field. Relative
paths are relative to the job file.
"""

import dataclasses
import hashlib
import json
from pathlib import Path

from ..contract import DERIVED_CONTROLS, WHOLE_SHOT, frame_name, scene_look_file, style_weights
from ..job_spec import DiffusionSpec, JobSpec
from .deflicker.settings import BlendSettings
from .diffusion_settings import ControlSettings, CrossFrameSettings, DiffusionSettings
from .footage import FOOTAGE_CONTROLS, footage_files
from .image_sequences import NPY, PNG, frame_files
from .passes import derived_files
from .style_painter import StyleSettings

EXR = ".exr"


class JobError(ValueError):
    """A job that cannot run; ``problems`` lists each as 'field: what is wrong'."""

    def __init__(self, problems):
        self.problems = list(problems)
        super().__init__("; ".join(self.problems))


@dataclasses.dataclass(frozen=True)
class Job:
    """A checked job: its ``spec``, its inputs and model sources found, and ``settings``, the
    painter's runtime settings."""

    path: Path
    spec: JobSpec
    output: Path
    first_frame: int
    controls: dict  # ControlNet name → frame files (none for the style painter)
    guides: list  # passes, each a list of frame files
    flow: list | None
    # The diffusion painter's base, controlnets (name → source), tokenizer, embeddings, loras, allow_network, cache_dir.
    model: dict | None
    settings: DiffusionSettings | StyleSettings
    raw: dict
    passes: tuple | None = None  # (pass EXR files, folder for what is derived from them)
    footage: tuple | None = None  # (footage frame files, folder for what is derived from them)
    keyframes: tuple | None = None  # indices of the frames painted (the rest carried from them); None: all
    chunks: tuple | None = None  # ``chunking.Chunk``s of a shot split for a farm; None: rendered whole
    anchor: int = 0  # index of the frame every chunk's cross-frame attention also sees
    span: tuple | None = None  # (start, stop) shot indices of a chunk's job; None: the whole shot
    looks: list | None = None  # the scene's look of each frame (the Scene base), rendered beside its pass EXR

    @property
    def derived(self):
        """(files, folder) of the passes or footage the job's inputs are derived from, or None."""
        return self.passes or self.footage

    @property
    def size(self):
        """(width, height) of the frames."""
        return tuple(self.spec.size)

    @property
    def painter(self):
        """The painter's name (``contract.PAINTERS``)."""
        return self.spec.painter.kind

    @property
    def preset(self):
        """The diffusion painter's preset (None for the style painter)."""
        return self.spec.painter.preset if isinstance(self.spec.painter, DiffusionSpec) else None

    @property
    def notes(self):
        """What the Blender side noticed about the shot, kept in result.json."""
        return self.spec.notes

    @property
    def steps(self):
        """Denoising steps (the style painter paints in one)."""
        return self.settings.steps if isinstance(self.settings, DiffusionSettings) else 1

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
            return None if files is None else files[start:stop]

        keyframes = None if self.keyframes is None else \
            tuple(sorted({k - start for k in self.keyframes if start <= k < stop} | {0, stop - start - 1}))
        return dataclasses.replace(self, output=output, first_frame=self.first_frame + start,
                                   controls={name: pick(files) for name, files in self.controls.items()},
                                   guides=[pick(files) for files in self.guides],
                                   flow=pick(self.flow), keyframes=keyframes, chunks=None, span=(start, stop),
                                   looks=pick(self.looks))


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
    spec, problems = JobSpec.from_json(raw)
    return _Checker(spec, path.parent, problems).job(path, raw)


class _Checker:
    """What only the engine can check of a ``JobSpec``, noting each problem instead of stopping
    at the first."""

    def __init__(self, spec, base, problems):
        self.spec, self.base, self.problems = spec, base, list(problems)

    def problem(self, field, message):
        if f"{field}: {message}" not in self.problems:  # the spec may have found it already
            self.problems.append(f"{field}: {message}")

    def frames(self, field, value, suffixes=(PNG,)):
        """Frame files from a folder or a list of files."""
        if isinstance(value, str):
            try:
                return frame_files(self.base / value, suffixes)
            except ValueError as error:
                self.problem(field, str(error))
                return []
        if isinstance(value, tuple) and value and all(isinstance(item, str) for item in value):
            files = [self.base / item for item in value]
            missing = [str(f) for f in files if not f.is_file()]
            if missing:
                self.problem(field, f"{len(missing)} file(s) missing, first {missing[0]}")
            return files
        self.problem(field, "must be a folder or a list of frame files")
        return []

    def job(self, path, raw):
        spec = self.spec
        diffusion = isinstance(spec.painter, DiffusionSpec)
        passes = footage = None
        if spec.passes is not None:
            passes = (self.frames("passes.frames", spec.passes.frames, (EXR,)), self.base / spec.passes.derived)
        if spec.footage is not None:
            footage = (self.frames("footage.frames", spec.footage.frames), self.base / spec.footage.derived)
        given = {"passes": DERIVED_CONTROLS, "footage": FOOTAGE_CONTROLS}.get(getattr(spec.derived_from, "key", None))
        controls = {}
        for name, control in (spec.painter.controls.items() if diffusion else ()):
            if given is None:
                controls[name] = self.frames(f"controls.{name}.frames", control.frames)
            elif name not in given:
                self.problem(f"controls.{name}", f"{spec.derived_from.key} give only {', '.join(given)} control "
                             "images")
        looks = self.looks(passes[0]) if passes is not None and spec.scene_look else None
        if passes is not None or footage is not None:
            derived = derived_files(*passes) if passes is not None else footage_files(*footage)
            controls = {name: derived.get(name, []) for name in spec.painter.controls} if diffusion else {}
            guides, flow = [derived["guide"] if passes is not None else footage[0]], derived["flow"]
        else:
            guides = [self.frames(f"guides[{i}]", value, (PNG, NPY)) for i, value in enumerate(spec.guides)]
            flow = None if spec.flow is None else self.frames("flow", spec.flow, (NPY,))
        sequences = {f"controls.{name}.frames": files for name, files in controls.items()}
        sequences.update({f"guides[{index}]": files for index, files in enumerate(guides)})
        sequences["flow"] = flow
        counts = {field: len(files) for field, files in sequences.items() if files}
        if len(set(counts.values())) > 1:
            listed = ", ".join(f"{field} has {count}" for field, count in counts.items())
            self.problem("frames", f"every sequence needs as many frames: {listed}")
        if not guides:
            self.problem("guides", "at least one guide pass is needed (PatchMatch matches on them)")
        count = max(counts.values(), default=0)
        blend = self.blend(count)
        if not diffusion and spec.painter.image is not None:
            self.check_picture("style.image", self._path(spec.painter.image))
        settings = None
        if not self.problems:  # from a spec with problems they would be made of its stand-in defaults
            settings = self.diffusion(blend) if diffusion else self.style(blend)
        keyframes = self.keyframes(count)
        chunks, anchor = self.chunks(count, blend)
        if self.problems:
            raise JobError(self.problems)
        return Job(path=path, spec=spec, output=self.base / spec.output, first_frame=spec.first_frame,
                   controls=controls, guides=guides, flow=flow, model=self.model() if diffusion else None,
                   settings=settings, raw=raw, passes=passes, footage=footage, keyframes=keyframes, chunks=chunks,
                   anchor=anchor, looks=looks)

    def looks(self, exr_files):
        """The scene's look of each of ``exr_files`` (``scene_look_file``): a problem names the
        first one missing."""
        looks = [scene_look_file(exr) for exr in exr_files]
        missing = [look for look in looks if not look.is_file()]
        if missing:
            self.problem("passes.frames", f"the Scene base needs the scene's look of each frame beside its pass EXR: "
                         f"{len(missing)} missing, first {missing[0]} (render the passes with the scene's look)")
        return looks

    def chunks(self, count, blend):
        """(``Chunk``s, anchor index) of the spec's chunk plan, or (None, 0) without one."""
        plan, first = self.spec.chunks, self.spec.first_frame
        if plan is None or not count:
            return None, 0
        anchor = first if plan.anchor is None else plan.anchor
        if not first <= anchor < first + count:
            self.problem("chunks.anchor", f"frame {anchor} is not in the shot's frames {first}–{first + count - 1}")
        try:
            chunks = plan.plan(count, WHOLE_SHOT if self.spec.window() == WHOLE_SHOT else blend.window)
        except ValueError as error:
            self.problem("chunks", str(error))
            return None, 0
        return chunks, anchor - first

    def keyframes(self, count):
        """The indices of the spec's keyframes in a shot of ``count`` frames, or None (none
        given, or no frames to place them in)."""
        if self.spec.keyframes is None or not count:
            return None  # without frames, the frames themselves are a problem already
        try:
            return tuple(self.spec.keyframes.indices(self.spec.first_frame, count))
        except ValueError as error:
            self.problem("keyframes", str(error))
            return None

    def model(self):
        model, controls = self.spec.painter.model, self.spec.painter.controls
        return {"base": self._source(model.base),
                "controlnets": {name: self._source(control.model) for name, control in controls.items()},
                "tokenizer": self._path(model.tokenizer), "embeddings": [self._path(e) for e in model.embeddings],
                "loras": [(self._path(lora.path), lora.scale) for lora in model.loras],
                "allow_network": model.allow_network, "cache_dir": self._path(model.cache_dir)}

    def _source(self, value):
        """A model source: a path relative to the job if one exists there, else as given
        ('tiny', a Hugging Face id, or a path the loader will report as missing)."""
        if value is None or value == "tiny" or not (self.base / Path(value).expanduser()).exists():
            return value
        return self._path(value)

    def _path(self, value):
        return None if value is None else str(self.base / Path(value).expanduser())

    def blend(self, count):
        """The deflicker's ``BlendSettings`` (a window over the whole shot: ``count`` - 1 frames)."""
        smoothing, window = self.spec.smoothing, self.spec.window()
        try:
            return BlendSettings(window=max(count - 1, 1) if window == WHOLE_SHOT else window, mode=smoothing.mode,
                                 weighting=smoothing.weighting, iterations=smoothing.iterations,
                                 patch_size=smoothing.patch_size, keep_detail=smoothing.keep_detail)
        except ValueError as error:
            self.problem("smoothing", str(error))
            return BlendSettings()

    def style(self, blend):
        """The style painter's ``StyleSettings``."""
        style = self.spec.painter
        image = self._path(style.image)
        return StyleSettings(weights=style_weights(style.builtin) if image is None else {}, image=image,
                             strength=style.strength, keep_colors=style.keep_colors, base=style.base,
                             final_smoothing=self.spec.final_smoothing(), blend=blend)

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

    def diffusion(self, blend):
        """The diffusion painter's ``DiffusionSettings``."""
        painter, smoothing = self.spec.painter, self.spec.smoothing
        schedule = painter.schedule
        try:
            return DiffusionSettings(
                prompt=painter.prompt, negative_prompt=painter.negative_prompt, steps=schedule.steps,
                guidance_scale=painter.guidance_scale, seed=painter.seed,
                controls={name: ControlSettings(c.weight, c.start, c.end) for name, c in painter.controls.items()},
                smoothing_steps=schedule.smoothing_steps if smoothing.steps is None else smoothing.steps,
                final_smoothing=self.spec.final_smoothing(), blend=blend,
                cross_frame=CrossFrameSettings(painter.cross_frame.enabled, painter.cross_frame.neighbours),
                batch_frames=painter.batch_frames, strength=painter.image_strength)
        except ValueError as error:
            self.problem("smoothing.steps", str(error))
            return None
