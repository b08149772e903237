"""Stylize: passes, engine and strip in one operator, with progress and cancel."""

import time

import bpy

from .shot_request import RequestError, shot_request
from .stylize_run import StylizeRun, run_settings

TIMER_S = 0.1
PRINT_INTERVAL_S = 2.0  # background mode prints the stage at most this often


class DIFFSYNTH_OT_stylize(bpy.types.Operator):
    """Render the shot's passes, stylize it with the DiffSynth engine and add the result to the
    Video Sequence Editor"""

    bl_idname = "diffsynth.stylize"
    bl_label = "Stylize"

    _run = None
    _timer = None

    @classmethod
    def poll(cls, context):
        return not context.window_manager.diffsynth_running

    def _begin(self, context):
        wm = context.window_manager
        wm.diffsynth_error_kind, wm.diffsynth_cancel = "", False
        try:
            request = shot_request(context)
        except RequestError as error:
            self.report({"ERROR"}, str(error))
            return False
        if request.size_note:
            self.report({"INFO"}, request.size_note)
        self._run = StylizeRun(request, run_settings(context.scene.diffsynth))
        wm.diffsynth_running, wm.diffsynth_progress, wm.diffsynth_stage = True, 0.0, self._run.stage
        return True

    def _end(self, context):
        wm, run = context.window_manager, self._run
        wm.diffsynth_running, wm.diffsynth_stage, wm.diffsynth_error_kind = False, run.message, run.error_kind
        if run.state == "done":
            self.report({"INFO"}, run.message)
            return {"FINISHED"}
        self.report({"WARNING"} if run.state == "cancelled" else {"ERROR"}, run.message)
        return {"CANCELLED"}

    def execute(self, context):
        # Synchronous: background mode and scripts, where no event loop drives a modal operator.
        if not self._begin(context):
            return {"CANCELLED"}
        self._run.run_to_end(StagePrinter() if bpy.app.background else None)
        return self._end(context)

    def invoke(self, context, event):
        if bpy.app.background:
            return self.execute(context)
        if not self._begin(context):
            return {"CANCELLED"}
        wm = context.window_manager
        self._timer = wm.event_timer_add(TIMER_S, window=context.window)
        wm.modal_handler_add(self)
        return {"RUNNING_MODAL"}

    def modal(self, context, event):
        wm = context.window_manager
        if event.type == "ESC" or wm.diffsynth_cancel:
            wm.diffsynth_cancel = False
            self._run.cancel()
        if event.type != "TIMER":
            return {"PASS_THROUGH"}
        running = self._run.advance()
        wm.diffsynth_progress, wm.diffsynth_stage = self._run.fraction, self._run.stage
        context.workspace.status_text_set(f"DiffSynth: {self._run.stage}  (Esc to cancel)" if running else None)
        for area in context.screen.areas:
            area.tag_redraw()
        if running:
            return {"RUNNING_MODAL"}
        wm.event_timer_remove(self._timer)
        return self._end(context)


class StagePrinter:
    """Prints a run's stage on stdout at most every ``PRINT_INTERVAL_S`` (background mode)."""

    def __init__(self):
        self._printed = 0.0

    def __call__(self, stage):
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
    """Render the shot's depth, soft-edge, guide and motion passes (cached: unchanged frames are
    not rendered again)"""

    bl_idname = "diffsynth.render_passes"
    bl_label = "Render Passes"

    def execute(self, context):
        from . import scene_passes

        try:
            request = shot_request(context)
            exrs, rendered = scene_passes.render_passes(request.scene, request.frames, request.folder / "passes",
                                                        size=request.size)
            folders = scene_passes.derive_inputs(exrs, request.frames, request.folder / "passes")
        except (RequestError, ValueError, OSError, RuntimeError) as error:
            self.report({"ERROR"}, str(error))
            return {"CANCELLED"}
        self.report({"INFO"}, f"Passes ready in {folders['depth'].parent} ({rendered} of {len(exrs)} frames rendered)")
        return {"FINISHED"}
