"""A movie or image strip of the Video Sequence Editor as footage: each frame rendered as the
sequencer shows it (the strip's range, offsets, transform and modifiers, at the output size),
the other strips muted, into one PNG per frame.

A frame whose picture did not change keeps its file (and its time stamp), so the motion and
soft edges the engine derived from it are kept too. Every setting changed for a render is
restored after.
"""

import dataclasses
from pathlib import Path

import bpy

from ..blender_state import shot_request, strip_folder
from ..contract import atomic_path, frame_name
from ..core.request import RequestError
from .scene_look import png_is_whole, switched
from .vse_strip import span, strips_of

FOOTAGE_TYPES = {"MOVIE", "IMAGE"}  # the strips that hold pictures of their own


def selected_strip(scene, name=None):
    """The strip ``name`` of ``scene``'s sequencer, or without a name its active strip, checked as
    footage (``check_strip``); raises ``RequestError``."""
    editor = scene.sequence_editor
    strips = strips_of(editor) if editor else ()
    if name is not None:
        strip = next((strip for strip in strips if strip.name == name), None)
        if strip is None:
            known = ", ".join(sorted(strip.name for strip in strips)[:8]) or "none"
            raise RequestError(f"The scene {scene.name!r} has no strip {name!r}", f"its strips: {known}")
    else:
        strip = editor.active_strip if editor else None
        if strip is None:
            raise RequestError("No strip is selected", "select a movie or image strip in the Sequencer")
        if strip not in list(strips):  # rendered alone, the meta strip around it would be muted
            raise RequestError(f"{strip.name!r} is inside a meta strip", "select a strip outside meta strips")
    check_strip(strip)
    return strip


def check_strip(strip):
    """Raise ``RequestError`` unless ``strip`` is a movie or image strip whose pictures can be read."""
    if strip.type == "SOUND":
        raise RequestError(f"{strip.name!r} is a sound strip: it has no pictures", "select a movie or image strip")
    if strip.type not in FOOTAGE_TYPES:
        raise RequestError(f"{strip.name!r} is a {strip.type.lower()} strip, which has no footage of its own",
                           "select a movie or image strip")
    if strip.type == "MOVIE":
        path = Path(bpy.path.abspath(strip.filepath))
        if not path.is_file():
            raise RequestError(f"The movie {str(path)!r} of strip {strip.name!r} does not exist")
        if not strip.fps > 0:
            raise RequestError(f"The movie {str(path)!r} of strip {strip.name!r} cannot be read",
                               "Blender cannot play it: choose a video file")
        return
    folder = Path(bpy.path.abspath(strip.directory))
    missing = [element.filename for element in strip.elements if not (folder / element.filename).is_file()]
    if missing:
        raise RequestError(f"{len(missing)} pictures of strip {strip.name!r} do not exist (first "
                           f"{str(folder / missing[0])!r})")


def strip_frames(strip):
    """The scene frames the strip shows."""
    first, end = span(strip)
    return first, end - 1


def footage_settings(scene, strip, size):
    """(owner, attribute, value) of every setting a footage frame renders with: the sequencer's
    picture alone (other strips muted, no compositing, no stamp), at ``size``, as an 8-bit PNG in
    the Standard view (the footage's own colours)."""
    render, image, view = scene.render, scene.render.image_settings, scene.view_settings
    muted = [(other, "mute", other != strip) for other in strips_of(scene.sequence_editor)]
    # No stamp burnt in, and no metadata (its date and render time would change an unchanged frame's file).
    stamps = [(render, name, False) for name in dir(render) if name.startswith("use_stamp")]
    return [*muted, *stamps, (render, "use_sequencer", True), (render, "use_compositing", False),
            (render, "resolution_x", size[0]), (render, "resolution_y", size[1]),
            (render, "resolution_percentage", 100), (image, "media_type", "IMAGE"), (image, "file_format", "PNG"),
            (image, "color_mode", "RGB"), (image, "color_depth", "8"), (view, "view_transform", "Standard"),
            (view, "look", "None"), (view, "exposure", 0.0), (view, "gamma", 1.0), (view, "use_curve_mapping", False),
            (render, "filepath", render.filepath), (scene, "frame_current", scene.frame_current)]


def render_footage_frame(scene, strip, frame, folder, size):
    """Render scene ``frame`` of ``strip`` into ``folder`` as ``frame_####.png``; returns (path,
    whether its picture changed)."""
    path = Path(folder) / frame_name(frame)
    path.parent.mkdir(parents=True, exist_ok=True)
    before = path.stat().st_mtime_ns if path.is_file() else None
    with switched(footage_settings(scene, strip, size)):
        scene.frame_set(frame)
        with atomic_path(path, keep_same=True) as partial:
            scene.render.filepath = str(partial)
            bpy.ops.render.render(write_still=True, scene=scene.name)
            if not png_is_whole(partial):
                raise RuntimeError(f"Blender did not write {path.name} whole (see its console)")
    scene.frame_set(scene.frame_current)
    return path, before != path.stat().st_mtime_ns


def strip_request(context, name=None):
    """The checked ``ShotRequest`` for the strip ``name`` (default: the active strip) of the
    context's scene, as footage: its frames, in its own folder. Raises ``RequestError``."""
    strip = selected_strip(context.scene, name)
    request = shot_request(context, folder=strip_folder(context.scene, strip), footage=strip_frames(strip))
    return dataclasses.replace(request, name=strip.name)
