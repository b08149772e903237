"""Operators that work without freezing Blender's UI: ``TimedModal``, and ``ProcessOperator``
for a subprocess."""

import subprocess

import bpy


class TimedModal:
    """Mixin: ``invoke`` starts the work with ``_start(context)`` (False: not started), then
    Blender calls ``modal`` every ``POLL_S`` seconds; in background mode (no event loop) it runs
    ``execute`` instead."""

    POLL_S = 0.25
    _timer = None

    def invoke(self, context, event):
        if bpy.app.background:
            return self.execute(context)
        if not self._start(context):
            return {"CANCELLED"}
        wm = context.window_manager
        self._timer = wm.event_timer_add(self.POLL_S, window=context.window)
        wm.modal_handler_add(self)
        return {"RUNNING_MODAL"}

    def _stop_timer(self, context):
        context.window_manager.event_timer_remove(self._timer)
        self._timer = None



class ProcessOperator(TimedModal):
    """Mixin for operators that start a process in ``_start(context)`` (False: not started) and
    report its outcome in ``_finish(context, stdout, stderr)``. ``execute`` waits (scripts and
    background mode, up to ``TIMEOUT_S``); ``invoke`` polls from a timer, Esc kills the process."""

    TIMEOUT_S = None
    _process = None

    def execute(self, context):
        if not self._start(context):
            return {"CANCELLED"}
        try:
            stdout, stderr = self._process.communicate(timeout=self.TIMEOUT_S)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.communicate()
            self.report({"ERROR"}, f"{self.bl_label}: no answer within {self.TIMEOUT_S} s")
            return {"CANCELLED"}
        return self._finish(context, stdout, stderr)

    def modal(self, context, event):
        if event.type == "ESC":
            self._process.kill()
            self._process.wait()
            self._stop_timer(context)
            self.report({"WARNING"}, f"{self.bl_label} cancelled")
            return {"CANCELLED"}
        if event.type == "TIMER" and self._process.poll() is not None:
            self._stop_timer(context)
            return self._finish(context, *self._process.communicate())
        return {"PASS_THROUGH"}

