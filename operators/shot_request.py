"""What a Stylize run needs, read from the scene and preferences and checked: ``ShotRequest``.

Every problem a user can fix is a ``RequestError`` whose message says what to change.
"""

import dataclasses
import os
import tempfile
from pathlib import Path

import bpy

from ..panels.preferences import downloads_allowed, engine_python, get_preferences, packages_dir
from ..shot.job_spec import DEFAULT_CONTROLNETS

MIN_SIDE = 64


class RequestError(ValueError):
    """A setting that stops the run; the message names it and the fix."""


@dataclasses.dataclass
class ShotRequest:
    scene: object
    frames: list
    size: tuple
    size_note: str
    folder: Path
    model: dict
    python: str
    packages: str | None
    device: str


def render_size(scene, settings):
    """(width, height, note): the scene's output size (or the chosen one) rounded to a multiple
    of 8, with a note when rounding changed it."""
    if settings.use_scene_size:
        scale = scene.render.resolution_percentage / 100
        width, height = round(scene.render.resolution_x * scale), round(scene.render.resolution_y * scale)
    else:
        width, height = settings.width, settings.height
    rounded = (max(8, round(width / 8) * 8), max(8, round(height / 8) * 8))
    note = "" if rounded == (width, height) else \
        f"{width}x{height} rounded to {rounded[0]}x{rounded[1]} (multiple of 8)"
    return (width, height) if min(width, height) < MIN_SIDE else rounded, note


def shot_folder(scene, settings):
    """The folder for this scene's passes, jobs and results."""
    base = settings.output_dir
    if base.startswith("//") and not bpy.data.filepath:
        base = os.path.join(tempfile.gettempdir(), "diffsynth")  # an unsaved file has no "//"
    return Path(bpy.path.abspath(base)) / bpy.path.clean_name(scene.name)


def shot_request(context):
    """The checked request for the context's scene; raises ``RequestError``."""
    scene = context.scene
    settings = scene.diffsynth
    if scene.camera is None:
        raise RequestError("The scene has no active camera: add a camera and make it the scene camera")
    first, last = ((scene.frame_start, scene.frame_end) if settings.use_scene_range
                   else (settings.frame_start, settings.frame_end))
    if last < first:
        raise RequestError(f"The frame range {first}–{last} is empty: the end frame must not come before the start")
    (width, height), note = render_size(scene, settings)
    if min(width, height) < MIN_SIDE:
        raise RequestError(f"The resolution {width}x{height} is too small: each side needs at least {MIN_SIDE} px")
    folder = shot_folder(scene, settings)
    _check_writable(folder)
    prefs = get_preferences(context)
    return ShotRequest(scene=scene, frames=list(range(first, last + 1)), size=(width, height), size_note=note,
                       folder=folder, model=_model_sources(settings, context), python=engine_python(context),
                       packages=packages_dir(context), device=prefs.device)


def _check_writable(folder):
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder):
            pass
    except OSError as error:
        raise RequestError(f"The output folder {folder} cannot be written ({error.strerror or error}): "
                           "choose another in the DiffSynth panel") from None


def _model_sources(settings, context):
    prefs = get_preferences(context)
    kind = settings.model_kind
    if kind == "TINY":
        return {"base": "tiny", "controlnets": {name: "tiny" for name in DEFAULT_CONTROLNETS}}
    if kind == "HUB":
        base = settings.hub_id.strip()
        if base.count("/") != 1:
            raise RequestError(f"The model id {base!r} should look like 'owner/name'")
    else:
        base = bpy.path.abspath(settings.model_path)
        exists = os.path.isdir(base) if kind == "FOLDER" else os.path.isfile(base)
        if not settings.model_path or not exists:
            what = "model folder" if kind == "FOLDER" else "checkpoint file"
            raise RequestError(f"The {what} {base or '(none)'!r} does not exist: set Model Path in the DiffSynth panel")
    controlnets = {"depth": settings.controlnet_depth, "softedge": settings.controlnet_softedge}
    for name, source in controlnets.items():
        local = bpy.path.abspath(source)
        if source.startswith(("/", "//", ".")) and not os.path.exists(local):
            raise RequestError(f"The {name} ControlNet {local!r} does not exist")
        controlnets[name] = local if os.path.exists(local) else source
    tokenizer = bpy.path.abspath(settings.tokenizer_path) if kind == "CHECKPOINT" and settings.tokenizer_path else None
    return {"base": base, "controlnets": controlnets, "tokenizer": tokenizer,
            "allow_network": downloads_allowed(context),
            "cache_dir": bpy.path.abspath(prefs.model_cache_dir) if prefs.model_cache_dir else None}
