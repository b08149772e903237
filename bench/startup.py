"""What the extension costs Blender before any work: imports, registration, the engine's start."""

import subprocess
import sys

from .report import median_seconds, write_report

# The engine's command line (with the contract it reads) imports no torch until a command needs it.
IMPORT_ENGINE = "import diffsynth_render.engine.__main__, diffsynth_render.contract"


def _python(code):
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True)


def run(repeats=5):
    """Measure and report; returns the rows."""
    import bpy

    import addon_utils  # importable only once bpy is

    bpy.ops.wm.read_factory_settings(use_empty=True)
    addon_utils.enable("diffsynth_render", default_set=False)
    import diffsynth_render

    def register_cycle():
        diffsynth_render.unregister()
        diffsynth_render.register()

    rows = [
        {"what": "python startup (baseline)", "ms": 1000 * median_seconds(lambda: _python("pass"), repeats)},
        {"what": "import the engine's command line (fresh process)",
         "ms": 1000 * median_seconds(lambda: _python(IMPORT_ENGINE), repeats)},
        {"what": "engine info --json (fresh process)", "ms": 1000 * median_seconds(
            lambda: _python("from diffsynth_render.engine.__main__ import main; main(['info', '--json'])"), repeats)},
        {"what": "unregister + register in Blender", "ms": 1000 * median_seconds(register_cycle, 20 * repeats)},
    ]
    write_report("startup", rows)
    return rows


if __name__ == "__main__":
    run()
