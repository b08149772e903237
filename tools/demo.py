"""``make demo``: the whole path on a sample shot, with the embedded tiny model (no download).

Builds an untextured animated shot in real Blender (bpy), enables the extension, checks the
engine, runs Stylize (passes → DiffSynth engine with deflickering → VSE strip) and saves
``demo_out/demo.blend`` with the strip. ``MODEL=...`` (a diffusers folder, a checkpoint file or
a Hugging Face id) stylizes with a real model instead.
"""

import os
import sys
import time

import bpy
import addon_utils  # importable only once bpy is

from .extension_cli import REPO_ROOT
from .sample_shot import build_sample_shot

OUTPUT = REPO_ROOT / "demo_out"
PROMPT = "a watercolour painting of toy blocks on a table, soft evening light"


def main():
    started = time.perf_counter()
    scene = build_sample_shot()
    addon_utils.enable("diffsynth_render", default_set=True, handle_error=None)
    print(f"1. Built the sample shot ({scene.frame_end} frames) and enabled the extension in bpy",
          bpy.app.version_string)
    result = bpy.ops.diffsynth.check_engine()
    print(f"2. Check Engine {result}: {bpy.context.window_manager.diffsynth_engine_status}")

    settings = scene.diffsynth
    settings.output_dir = str(OUTPUT)
    settings.prompt = PROMPT
    model = os.environ.get("MODEL")
    if model:
        from ..cli import _set_model

        _set_model(settings, model)
    stylize_started = time.perf_counter()
    bpy.ops.diffsynth.stylize()
    print(f"3. Stylized in {time.perf_counter() - stylize_started:.0f} s: frames in {settings.last_output}")
    blend = OUTPUT / "demo.blend"
    bpy.ops.wm.save_as_mainfile(filepath=str(blend))
    print(f"4. Saved {blend} with the result as a VSE strip")
    print(f"Done in {time.perf_counter() - started:.0f} s.")
    if not model:
        print("The embedded tiny model has random weights: its pictures mean nothing. For real pictures:\n"
              "   make demo MODEL=stable-diffusion-v1-5/stable-diffusion-v1-5   (or a local folder / .safetensors)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
