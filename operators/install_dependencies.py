"""Install Dependencies: pip-install the engine's packages for Blender's own Python into the
extension's user folder (or the folder chosen in the preferences), in the background."""

import subprocess
import sys

import bpy

from ..blender_state import packages_dir
from ..contract import engine_packages
from .process_operator import ProcessOperator


def pip_command(target, packages, offline=False):
    """The pip command line installing ``packages`` into ``target``, run by the running Blender's
    own Python (``sys.executable``), so that pip picks the wheels for its version and platform.
    Binary wheels only: Blender on Windows and macOS has no compiler to build a source archive."""
    command = [sys.executable, "-m", "pip", "install", "--upgrade", "--only-binary=:all:", "--target", str(target),
               *packages]
    return command + (["--no-index"] if offline else [])


class DIFFSYNTH_OT_install_dependencies(ProcessOperator, bpy.types.Operator):
    """Install torch, diffusers and the engine's other packages for Blender's Python (several GB
    with CUDA; needs Blender's online access)"""

    bl_idname = "diffsynth.install_dependencies"
    bl_label = "Install Dependencies"

    packages: bpy.props.StringProperty(name="Packages", default=" ".join(engine_packages()), options={"SKIP_SAVE"},
                                       description="Requirements or wheel files, separated by spaces")
    offline: bpy.props.BoolProperty(name="Offline", default=False, options={"SKIP_SAVE"},
                                    description="Install only from the given files, never from the index")

    def _start(self, context):
        if not self.offline and not bpy.app.online_access:
            self.report({"ERROR"}, "Blender's online access is off: allow it in Preferences › System › Network")
            return False
        target = packages_dir(context, create=True)
        if target is None:
            self.report({"ERROR"}, "No packages folder: set one in the DiffSynth Render preferences")
            return False
        command = pip_command(target, self.packages.split(), self.offline)
        self._process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        context.window_manager.diffsynth_engine_status = f"Installing the engine's packages into {target}…"
        return True

    def _finish(self, context, output, _):
        ok = self._process.returncode == 0
        last = (output.strip().splitlines() or ["no output"])[-1]
        status = "Engine packages installed: press Check Engine" if ok else f"pip failed: {last}"
        context.window_manager.diffsynth_engine_status = status
        self.report({"INFO"} if ok else {"ERROR"}, status)
        return {"FINISHED"} if ok else {"CANCELLED"}
