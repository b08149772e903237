"""``ProcessOperator``: an operator that runs a subprocess without freezing Blender's UI."""

import subprocess

import bpy


class ProcessOperator:
    """Mixin for operators that start a process in ``_start(context)`` (False: not started) and
    report its outcome in ``_finish(context, stdout, stderr)``. ``execute`` waits (scripts and
    background mode, up to ``TIMEOUT_S``); ``invoke`` polls from a timer, Esc kills the process."""

    POLL_S = 0.25
    TIMEOUT_S = None
    _process = None
    _timer = None

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

    def invoke(self, context, event):
        if bpy.app.background:
            return self.execute(context)
        if not self._start(context):
            return {"CANCELLED"}
        wm = context.window_manager
        self._timer = wm.event_timer_add(self.POLL_S, window=context.window)
        wm.modal_handler_add(self)
        return {"RUNNING_MODAL"}

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

    def _stop_timer(self, context):
        context.window_manager.event_timer_remove(self._timer)
        self._timer = None
