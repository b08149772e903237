"""Check Engine: run the engine's `info` command and show what it found."""

import json
import subprocess

import bpy

from ..panels.preferences import engine_python, packages_dir
from .engine_process import start_engine

CHECK_TIMEOUT_S = 120


def summarize(returncode, stdout, stderr):
    """(ok, one-line summary) from the finished `info --json` process."""
    try:
        report = json.loads(stdout.strip().splitlines()[-1])
    except (IndexError, ValueError):
        last = (stderr.strip().splitlines() or ["no output"])[-1]
        return False, f"Engine failed to start (exit {returncode}): {last}"
    if report["missing"]:
        return False, f"Engine Python {report['python']} lacks: {', '.join(report['missing'])}"
    backends = ", ".join(f"{name}: {'/'.join(devices)}" for name, devices in report["backends"].items())
    return True, f"torch {report['libraries']['torch']}, diffusers {report['libraries']['diffusers']} · {backends}"


class DIFFSYNTH_OT_check_engine(bpy.types.Operator):
    """Start the engine's Python and report its libraries and GPU backends"""

    bl_idname = "diffsynth.check_engine"
    bl_label = "Check Engine"

    _process = None
    _timer = None

    def _start(self, context):
        try:
            self._process = start_engine(engine_python(context), "info", "--json", packages=packages_dir(context))
        except OSError as error:
            self.report({"ERROR"}, f"{error} (set it in Preferences › Add-ons › DiffSynth Render)")
            return False
        context.window_manager.diffsynth_engine_status = "Checking engine…"
        return True

    def _finish(self, context, stdout, stderr):
        ok, summary = summarize(self._process.returncode, stdout, stderr)
        context.window_manager.diffsynth_engine_status = summary
        _redraw(context)
        self.report({"INFO"} if ok else {"ERROR"}, summary)
        return {"FINISHED"} if ok else {"CANCELLED"}

    def execute(self, context):
        # Synchronous: for scripts and `blender -b`, where no event loop runs a modal operator.
        if not self._start(context):
            return {"CANCELLED"}
        try:
            stdout, stderr = self._process.communicate(timeout=CHECK_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.communicate()
            self.report({"ERROR"}, f"Engine did not answer within {CHECK_TIMEOUT_S} s")
            return {"CANCELLED"}
        return self._finish(context, stdout, stderr)

    def invoke(self, context, event):
        if bpy.app.background:
            return self.execute(context)
        if not self._start(context):
            return {"CANCELLED"}
        wm = context.window_manager
        self._timer = wm.event_timer_add(0.25, window=context.window)
        wm.modal_handler_add(self)
        return {"RUNNING_MODAL"}

    def modal(self, context, event):
        if event.type == "ESC":
            self._process.kill()
            self._process.wait()
            self._stop_timer(context)
            context.window_manager.diffsynth_engine_status = "Engine check cancelled"
            return {"CANCELLED"}
        if event.type == "TIMER" and self._process.poll() is not None:
            self._stop_timer(context)
            return self._finish(context, *self._process.communicate())
        return {"PASS_THROUGH"}

    def _stop_timer(self, context):
        context.window_manager.event_timer_remove(self._timer)
        self._timer = None


def _redraw(context):
    for area in getattr(context.screen, "areas", ()):
        area.tag_redraw()
