"""What the operators and the panels both read from Blender: this extension's preferences, the
shot's size and folder, and the checked Stylize request. Neither ``operators`` nor ``panels``
imports the other; both import this.
"""

import dataclasses
import os
import sys
import tempfile
from pathlib import Path

import bpy

from .core.request import ModelChoice, check_request, rounded_size
from .job_spec import ControlSpec, DiffusionSpec, Smoothing, StyleSpec

ADDON_PACKAGE = __package__  # e.g. ``bl_ext.user_default.diffsynth_render``
PREVIEW_IMAGE = "DiffSynth Preview"  # the image showing the last Preview Frame
STRIPS_FOLDER = "strips"  # in the shot's folder: a folder per stylized strip
STEP_IMAGE = "DiffSynth Step"  # the image showing a running diffusion's estimate of its first frame


def get_preferences(context):
    """This extension's preferences."""
    return context.preferences.addons[ADDON_PACKAGE].preferences


def engine_python(context):
    """The interpreter that runs the engine: the preference, or Blender's own Python."""
    return bpy.path.abspath(get_preferences(context).engine_python) or sys.executable


def packages_dir(context, create=False):
    """The folder Install Dependencies fills and the engine imports from, or None when there is
    none (an add-on loaded from a plain folder, as in development, has no extension user folder)."""
    chosen = get_preferences(context).packages_dir
    if chosen:
        return bpy.path.abspath(chosen)
    try:
        return bpy.utils.extension_path_user(ADDON_PACKAGE, path="site-packages", create=create)
    except ValueError:
        return None


def downloads_allowed(context):
    """Downloads are on in these preferences and Blender allows online access."""
    return get_preferences(context).allow_downloads and bpy.app.online_access


def render_size(scene, settings):
    """((width, height), note): the scene's output size (or the chosen one) rounded to a
    multiple of 8, with a note when rounding changed it."""
    return rounded_size(*_wanted_size(scene, settings))


def _wanted_size(scene, settings):
    if not settings.use_scene_size:
        return settings.width, settings.height
    scale = scene.render.resolution_percentage / 100
    return round(scene.render.resolution_x * scale), round(scene.render.resolution_y * scale)


def shot_folder(scene, settings):
    """The folder for this scene's passes, jobs and results."""
    base = settings.output_dir
    if base.startswith("//") and not bpy.data.filepath:
        base = os.path.join(tempfile.gettempdir(), "diffsynth")  # an unsaved file has no "//"
    return Path(bpy.path.abspath(base)) / bpy.path.clean_name(scene.name)


def strip_folder(scene, strip):
    """The folder for a strip's footage, jobs and results, in the scene's folder."""
    return shot_folder(scene, scene.diffsynth) / STRIPS_FOLDER / bpy.path.clean_name(strip.name)


def shot_request(context, folder=None, frame=None, style=False, footage=None):
    """The checked ``ShotRequest`` for the context's scene (its files in ``folder``, default the
    shot's folder), or with ``frame``, for a preview of that frame alone (painted on its own, as
    a Stylize without smoothing paints it); ``style``: with the style painter's settings, whichever
    painter is chosen (a style gallery); ``footage``: (first, last) frames of a strip, for its
    footage (no camera needed). Raises ``RequestError``."""
    scene = context.scene
    settings = scene.diffsynth
    frame_range = ((scene.frame_start, scene.frame_end) if settings.use_scene_range
                   else (settings.frame_start, settings.frame_end))
    if frame is not None:
        request = shot_request(context, folder, style=style)
        return dataclasses.replace(request, frames=[frame], spec=dataclasses.replace(
            request.spec.without_smoothing(), first_frame=frame))
    prefs = get_preferences(context)
    painter = {StyleSpec.kind: _style_spec, DiffusionSpec.kind: _diffusion_spec}[
        StyleSpec.kind if style else settings.painter](settings)
    request = check_request(name=scene.name, has_camera=footage is not None or scene.camera is not None,
                            frame_range=footage or frame_range, size=_wanted_size(scene, settings),
                            folder=folder or shot_folder(scene, settings), model=_model_choice(settings, context),
                            python=engine_python(context), packages=packages_dir(context), device=prefs.device,
                            painter=painter, smoothing=Smoothing(window=settings.window or None, mode=settings.mode),
                            keyframes=settings.keyframes,
                            pixel_aspect=(scene.render.pixel_aspect_x, scene.render.pixel_aspect_y),
                            frame_step=1 if footage else scene.frame_step,
                            missing_libraries=() if footage else missing_libraries())
    return request.on_footage() if footage else request


def missing_libraries():
    """The paths of the linked .blend files that Blender could not find."""
    return tuple(library.filepath for library in bpy.data.libraries if library.is_missing)


def _style_spec(settings):
    """The style painter's spec as the panel sets it (a style image's path absolute)."""
    style = dict(strength=round(settings.style_strength, 4), keep_colors=settings.keep_colors,
                 base=settings.base_image)
    if settings.style_source == "IMAGE":
        return StyleSpec(image=settings.style_image and bpy.path.abspath(settings.style_image), **style)
    return StyleSpec(builtin=settings.style_mix.strip() if settings.style_source == "MIX" else int(settings.style),
                     **style)


def _diffusion_spec(settings):
    """The diffusion painter's spec as the panel sets it (its model sources: ``_model_choice``);
    steps 0: the preset's."""
    return DiffusionSpec(prompt=settings.prompt, negative_prompt=settings.negative_prompt, preset=settings.preset,
                         steps=settings.steps or None, guidance_scale=settings.guidance_scale, seed=settings.seed,
                         controls={"depth": ControlSpec(weight=settings.depth_weight),
                                   "softedge": ControlSpec(weight=settings.softedge_weight)},
                         image_strength=round(settings.image_strength, 4), base_image=settings.base_image)


def _model_choice(settings, context):
    prefs = get_preferences(context)
    controlnets = {"depth": settings.controlnet_depth, "softedge": settings.controlnet_softedge}
    return ModelChoice(kind=settings.model_kind, path=settings.model_path and bpy.path.abspath(settings.model_path),
                       hub_id=settings.hub_id,
                       controlnets={name: (source, bpy.path.abspath(source)) for name, source in controlnets.items()},
                       tokenizer=settings.tokenizer_path and bpy.path.abspath(settings.tokenizer_path),
                       allow_network=downloads_allowed(context),
                       cache_dir=prefs.model_cache_dir and bpy.path.abspath(prefs.model_cache_dir))
