"""Stylize: passes, engine and strip in one operator, with progress and cancel."""

import json
import time

import bpy

from ..blender_state import PREVIEW_IMAGE, STEP_IMAGE, shot_request
from ..contract import RESULT_FILE
from ..core.request import RequestError
from ..core.stylize_run import BlenderSteps, StylizeRun
from . import scene_passes
from .process_operator import TimedModal
from .strip_footage import render_footage_frame, selected_strip, strip_request
from .vse_strip import import_strip

PRINT_INTERVAL_S = 2.0  # background mode prints the stage at most this often


class StylizeOperator(TimedModal):
    """Mixin: a ``StylizeRun`` (``preview``: of one frame) driven with progress and cancel."""

    POLL_S = 0.1
    _run = None
    preview = gallery = False

    @classmethod
    def poll(cls, context):
        return not context.window_manager.diffsynth_running

    def _request(self, context):
        return shot_request(context)

    def _strip(self, context):
        """The strip whose footage is stylized, or None (the scene's shot)."""
        return None

    def _start(self, context):
        wm = context.window_manager
        wm.diffsynth_error_kind, wm.diffsynth_cancel = "", False
        try:
            request = self._request(context)
        except RequestError as error:
            wm.diffsynth_error_kind = "input"
            self.report({"ERROR"}, str(error))
            return False
        if request.size_note:
            self.report({"INFO"}, request.size_note)
        for note in request.spec.notes:
            self.report({"WARNING"}, note)
        report = StagePrinter() if bpy.app.background else _show_progress(context)
        steps = blender_steps(context.scene, request.size, report, look=request.spec.scene_look,
                              strip=self._strip(context))
        self._run = StylizeRun(request, steps, preview=self.preview, gallery=self.gallery)
        wm.diffsynth_running, wm.diffsynth_progress, wm.diffsynth_stage = True, 0.0, self._run.stage
        return True

    def _end(self, context):
        wm, run = context.window_manager, self._run
        wm.diffsynth_running, wm.diffsynth_stage, wm.diffsynth_error_kind = False, run.message, run.error_kind
        if run.state == "done":
            self.report({"INFO"}, run.message)
            for note in json.loads((run.output / RESULT_FILE).read_text()).get("notes", []):
                self.report({"WARNING"}, note)
            return {"FINISHED"}
        self.report({"WARNING"} if run.state == "cancelled" else {"ERROR"}, run.message)
        return {"CANCELLED"}

    def execute(self, context):
        # Synchronous: background mode and scripts, where no event loop drives a modal operator.
        if not self._start(context):
            return {"CANCELLED"}
        self._run.run_to_end()
        return self._end(context)

    def modal(self, context, event):
        wm = context.window_manager
        if event.type == "ESC" or wm.diffsynth_cancel:
            wm.diffsynth_cancel = False
            self._run.cancel()
        if event.type != "TIMER":
            return {"PASS_THROUGH"}
        running = self._run.advance()
        context.workspace.status_text_set(f"DiffSynth: {self._run.stage}  (Esc to cancel)" if running else None)
        if running:
            return {"RUNNING_MODAL"}
        self._stop_timer(context)
        return self._end(context)


class DIFFSYNTH_OT_stylize(StylizeOperator, bpy.types.Operator):
    """Render the shot's passes, stylize it with the DiffSynth engine and add the result to the
    Video Sequence Editor"""

    bl_idname = "diffsynth.stylize"
    bl_label = "Stylize"


class DIFFSYNTH_OT_preview_frame(StylizeOperator, bpy.types.Operator):
    """Paint one frame with the current settings, as Stylize would without smoothing (its passes
    only), and show it: Image Editor image "DiffSynth Preview" and the panel's thumbnail"""

    bl_idname = "diffsynth.preview_frame"
    bl_label = "Preview Frame"
    preview = True

    frame: bpy.props.IntProperty(name="Frame", description="The frame to paint (default: the current frame)")

    def _request(self, context):
        chosen = self.properties.is_property_set("frame")
        return shot_request(context, frame=self.frame if chosen else context.scene.frame_current)


class DIFFSYNTH_OT_style_gallery(StylizeOperator, bpy.types.Operator):
    """Paint the current frame in every built-in style (and the style image, if one is chosen) and
    show those as the style picker's thumbnails for this scene"""

    bl_idname = "diffsynth.style_gallery"
    bl_label = "Paint Styles on This Frame"
    gallery = True

    def _request(self, context):
        return shot_request(context, frame=context.scene.frame_current, style=True)


class DIFFSYNTH_OT_stylize_strip(StylizeOperator, bpy.types.Operator):
    """Stylize the selected movie or image strip of the Video Sequence Editor (its frames as the
    sequencer shows them, the motion estimated between them) and add the result above it"""

    bl_idname = "diffsynth.stylize_strip"
    bl_label = "Stylize Strip"

    strip: bpy.props.StringProperty(name="Strip", description="The strip to stylize (default: the active strip)")

    def _request(self, context):
        return strip_request(context, self.strip or None)

    def _strip(self, context):
        return selected_strip(context.scene, self.strip or None)


def blender_steps(scene, size, report, look=False, strip=None):
    """What a ``StylizeRun`` asks of Blender, done on ``scene`` at ``size`` (``look``: each frame's
    look rendered with its passes; ``strip``: the frames are this strip's footage, and the result
    goes above it)."""

    notes, source_channel = [], strip.channel if strip is not None else 0

    def render(frame, folder):
        if strip is not None:
            return render_footage_frame(scene, strip, frame, folder, size)
        (path,), rendered = scene_passes.render_passes(scene, [frame], folder, size=size, notes=notes, look=look)
        return path, rendered > 0

    def add_strip(folder, name, first_frame):
        added = import_strip(scene, folder, name, frame_start=first_frame, above=source_channel)
        scene.diffsynth.last_output = str(folder)
        return f"{len(added.elements)} frames in strip {added.name!r} (channel {added.channel})"

    def show_preview(picture):
        image = show_picture(PREVIEW_IMAGE, picture)
        scene.diffsynth.last_preview = str(picture)
        return f"Preview {picture.name} in image {image.name!r} (Image Editor)"

    def show_step(picture, step, steps):
        image = show_picture(STEP_IMAGE, picture)
        if not bpy.app.background:
            image.preview_ensure().reload()  # the panel's thumbnail follows at its next redraw

    def show_gallery(folder):
        scene.diffsynth.gallery_dir = str(folder)
        return f"The style picker shows the styles on frame {scene.frame_current} ({folder})"

    return BlenderSteps(render_passes=render, add_strip=add_strip, report=report, notes=notes,
                        show_preview=show_preview, show_gallery=show_gallery, show_step=show_step)


def show_picture(name, picture):
    """The image ``name`` showing the file ``picture`` (made, or pointed at it and reloaded)."""
    image = bpy.data.images.get(name)
    if image is None:
        image = bpy.data.images.load(str(picture), check_existing=False)
        image.name = name
    else:
        image.filepath = str(picture)
        image.reload()
    return image


def _show_progress(context):
    """A ``report`` that shows the stage and fraction in the panel."""
    wm, screen = context.window_manager, context.screen

    def report(stage, fraction):
        wm.diffsynth_progress, wm.diffsynth_stage = fraction, stage
        for area in getattr(screen, "areas", ()):
            area.tag_redraw()

    return report


class StagePrinter:
    """Prints a run's stage on stdout at most every ``PRINT_INTERVAL_S`` (background mode)."""

    def __init__(self):
        self._printed = 0.0

    def __call__(self, stage, fraction=None):
        now = time.monotonic()
        if now - self._printed >= PRINT_INTERVAL_S:
            self._printed = now
            print(f"DiffSynth: {stage}", flush=True)


class DIFFSYNTH_OT_cancel(bpy.types.Operator):
    """Stop the running Stylize (frames already rendered stay; no strip is added)"""

    bl_idname = "diffsynth.cancel"
    bl_label = "Cancel"

    @classmethod
    def poll(cls, context):
        return context.window_manager.diffsynth_running

    def execute(self, context):
        context.window_manager.diffsynth_cancel = True
        return {"FINISHED"}


class DIFFSYNTH_OT_render_passes(bpy.types.Operator):
    """Render the shot's depth, normal, motion, shading and surface-coordinate passes into EXRs,
    and with the Scene base each frame's look (cached: unchanged frames are not rendered again)"""

    bl_idname = "diffsynth.render_passes"
    bl_label = "Render Passes"

    def execute(self, context):
        try:
            request = shot_request(context)
            exrs, rendered = scene_passes.render_passes(context.scene, request.frames, request.exr_folder,
                                                        size=request.size, look=request.spec.scene_look)
        except (RequestError, ValueError, OSError, RuntimeError) as error:
            self.report({"ERROR"}, str(error))
            return {"CANCELLED"}
        self.report({"INFO"}, f"Passes ready in {request.exr_folder} ({rendered} of {len(exrs)} frames rendered)")
        return {"FINISHED"}
