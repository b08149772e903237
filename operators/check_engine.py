"""Check Engine: run the engine's `info` command and show what it found."""

import json

import bpy

from ..blender_state import engine_python, packages_dir
from ..core.engine_process import start_engine
from .process_operator import ProcessOperator

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


class DIFFSYNTH_OT_check_engine(ProcessOperator, bpy.types.Operator):
    """Start the engine's Python and report its libraries and GPU backends"""

    bl_idname = "diffsynth.check_engine"
    bl_label = "Check Engine"
    TIMEOUT_S = CHECK_TIMEOUT_S

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


def _redraw(context):
    for area in getattr(context.screen, "areas", ()):
        area.tag_redraw()
