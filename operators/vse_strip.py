"""Stylized frames into the Video Sequence Editor as an image strip."""

from pathlib import Path

import bpy

from ..contract import FRAME_GLOB

MAX_CHANNEL = 128


def strips_of(editor):
    """The top-level strips: ``strips`` in Blender 4.4+ / 5.x, ``sequences`` before."""
    return editor.strips if hasattr(editor, "strips") else editor.sequences


def span(strip):
    """The frames a strip shows, as (first, end) with ``end`` one past the last: ``left_handle`` and
    ``right_handle`` in Blender 5.1+, ``frame_final_start`` and ``frame_final_end`` before."""
    if hasattr(strip, "left_handle"):
        return strip.left_handle, strip.right_handle
    return strip.frame_final_start, strip.frame_final_end


def set_length(strip, frames):
    """Show ``frames`` frames from the strip's first one (5.1.0's ``duration`` is read-only: the
    right handle is set instead)."""
    if hasattr(strip, "right_handle"):
        strip.right_handle = strip.left_handle + frames
    else:
        strip.frame_final_duration = frames


def free_channel(editor, first, last, above=0):
    """The lowest channel above channel ``above`` with no strip overlapping frames [first, last]."""
    taken = {strip.channel for strip in strips_of(editor) if span(strip)[0] <= last and span(strip)[1] > first}
    free = (channel for channel in range(above + 1, MAX_CHANNEL + 1) if channel not in taken)
    channel = next(free, None)
    if channel is None:
        raise ValueError(f"no channel above {above} is free for frames {first}-{last}")
    return channel


def import_strip(scene, folder, name, frame_start=None, above=0):
    """An image strip of the ``frame_*.png`` files in ``folder`` on a free channel above channel
    ``above``, starting at ``frame_start`` (default: the number in the first file's name); the
    editor is created if missing. Raises ValueError when the folder holds no frames."""
    files = sorted(Path(folder).glob(FRAME_GLOB))
    if not files:
        raise ValueError(f"{folder} holds no {FRAME_GLOB} frames")
    if frame_start is None:
        frame_start = int(files[0].stem.split("_")[-1])
    editor = scene.sequence_editor or scene.sequence_editor_create()
    channel = free_channel(editor, frame_start, frame_start + len(files) - 1, above)
    strip = strips_of(editor).new_image(name=name, filepath=_blend_relative(files[0]), channel=channel,
                                        frame_start=frame_start, fit_method="FIT")
    for path in files[1:]:
        strip.elements.append(path.name)
    set_length(strip, len(files))
    return strip


def _blend_relative(path):
    """``path`` as Blender keeps paths in a saved file: ``//``-relative to it (shared storage is
    mounted at other places on other machines); absolute in an unsaved file or on another drive."""
    if not bpy.data.filepath:
        return str(path)
    try:
        return bpy.path.relpath(str(path))
    except ValueError:  # Windows: another drive
        return str(path)


class DIFFSYNTH_OT_import_strip(bpy.types.Operator):
    """Add the frames of a DiffSynth output folder to the Video Sequence Editor as an image strip"""

    bl_idname = "diffsynth.import_strip"
    bl_label = "Import Stylized Strip"
    bl_options = {"REGISTER", "UNDO"}

    directory: bpy.props.StringProperty(name="Folder", subtype="DIR_PATH",
                                        description="Folder of frame_####.png files written by the engine")

    def execute(self, context):
        folder = bpy.path.abspath(self.directory)
        try:
            strip = import_strip(context.scene, folder, Path(folder.rstrip("/\\")).name)
        except ValueError as error:
            self.report({"ERROR"}, str(error))
            return {"CANCELLED"}
        self.report({"INFO"}, f"Added strip {strip.name!r} on channel {strip.channel}")
        return {"FINISHED"}

    def invoke(self, context, event):
        context.window_manager.fileselect_add(self)
        return {"RUNNING_MODAL"}
