"""``make demo``: the whole path on a sample shot, with real pictures and no download.

Builds an untextured animated shot in real Blender (bpy), enables the extension, checks the
engine, runs Stylize with the built-in style painter (passes → engine: paint every frame,
deflicker on the exact guides → VSE strip), paints the shot again per frame without the
deflicker, then writes into ``demo_out/``: an mp4 preview (Blender's FFmpeg), a contact sheet,
a deflicker comparison measured with the shot's exact motion, the job and ``result.json``, and
``demo.blend`` with the strip. ``PAINTER=`` / ``STYLE=`` (a style number, a mix like
3:0.5,12:0.5 or a picture file) choose the painter and style; ``MODEL=...`` (a diffusers folder,
a checkpoint file or a Hugging Face id) runs Stable Diffusion instead.
"""

import json
import os
import shutil
import sys
import time
from pathlib import Path

import bpy

import addon_utils  # importable only once bpy is

from . import demo_outputs
from .extension_cli import REPO_ROOT
from .sample_shot import build_sample_shot

OUTPUT = REPO_ROOT / "demo_out"
PROMPT = "an oil painting of a still life, a column, a cube and a ball on a table, warm evening light"


class Stages:
    """Times each stage of the demo and prints what it made."""

    def __init__(self):
        self.started = self.last = time.perf_counter()
        self.number = 0

    def done(self, text):
        now = time.perf_counter()
        self.number += 1
        print(f"{self.number}. [{now - self.last:5.1f} s] {text}", flush=True)
        self.last = now


def main():
    stages = Stages()
    _clear_previous_results()
    scene = build_sample_shot()
    addon_utils.enable("diffsynth_render", default_set=True, handle_error=None)
    stages.done(f"Built the sample shot ({scene.frame_end} frames, {scene.render.resolution_x}x"
                f"{scene.render.resolution_y}) and enabled the extension in bpy {bpy.app.version_string}")
    bpy.ops.diffsynth.check_engine()
    stages.done(f"Check Engine: {bpy.context.window_manager.diffsynth_engine_status}")

    settings = scene.diffsynth
    settings.output_dir, settings.prompt = str(OUTPUT), PROMPT
    model = os.environ.get("MODEL")
    _choose_painter(settings, os.environ.get("PAINTER") or ("diffusion" if model else "style"),
                    os.environ.get("STYLE"), model)
    bpy.ops.diffsynth.stylize()
    if not settings.last_output:
        raise SystemExit(f"Stylize failed: {bpy.context.window_manager.diffsynth_stage}")
    stylized = Path(settings.last_output)
    shot = stylized.parent
    shutil.copy(shot / "jobs" / "job_v001.json", OUTPUT / "job.json")
    shutil.copy(stylized / "result.json", OUTPUT / "result.json")
    timings = json.loads((stylized / "result.json").read_text())["timings_s"]
    engine = ", ".join(f"{stage} {seconds:.1f} s" for stage, seconds in timings.items())
    stages.done(f"Stylized ({settings.painter} painter): passes in {shot / 'passes'} (exr/, depth/, softedge/, "
                f"guide/, flow/), frames in {stylized}\n      engine: {engine}")
    blend = OUTPUT / "demo.blend"
    bpy.ops.wm.save_as_mainfile(filepath=str(blend))
    stages.done(f"Saved {blend} with the result as a VSE strip")
    preview = demo_outputs.write_preview(bpy, scene, OUTPUT / "preview.mp4")
    stages.done(f"Preview {preview} ({preview.stat().st_size // 1024} KiB, Blender's FFmpeg)")
    per_frame = demo_outputs.stylize_per_frame(OUTPUT / "job.json", OUTPUT / "per_frame")
    stages.done(f"Painted the shot again per frame, without the deflicker: {per_frame}")
    sheet = demo_outputs.write_contact_sheet(shot, per_frame, stylized, OUTPUT / "contact_sheet.png")
    stages.done(f"Contact sheet {sheet}")
    measured = demo_outputs.write_deflicker_comparison(per_frame, stylized, shot / "passes" / "flow",
                                                       OUTPUT / "deflicker_comparison.png")
    stages.done(f"Deflicker comparison {OUTPUT / 'deflicker_comparison.png'}: warp error (frame t vs t+1 warped "
                f"by the vector pass, consistent pixels) {measured.per_frame.mean():.5f} per frame, "
                f"{measured.deflickered.mean():.5f} deflickered ({measured.flicker_cut:.0%} less); "
                f"detail kept {measured.detail_kept:.0%}")
    print(f"Done in {time.perf_counter() - stages.started:.0f} s; everything is in {OUTPUT}")
    if settings.painter == "diffusion" and settings.model_kind == "TINY":
        print("The embedded tiny model has random weights: its pictures mean nothing. For real pictures:\n"
              "   make demo MODEL=stable-diffusion-v1-5/stable-diffusion-v1-5   (or a local folder / .safetensors)")
    return 0


def _choose_painter(settings, painter, style, model):
    """Set the shot's painter: the style painter with ``style`` (a number, a mix or a picture
    file; default the one chosen for the sample shot), or Stable Diffusion with ``model``."""
    from ..scene_settings import set_model, set_style

    settings.painter = painter
    if style:
        set_style(settings, style)
    if model:
        set_model(settings, model)
        _allow_downloads()  # MODEL= asks for a real model: fetch what is not cached (Hugging Face ids)


def _allow_downloads():
    bpy.context.preferences.system.use_online_access = True
    bpy.context.preferences.addons["diffsynth_render"].preferences.allow_downloads = True


def _clear_previous_results():
    """Start from an empty demo_out/, keeping only the pass renders (cached per frame)."""
    keep = OUTPUT / "Scene" / "passes" / "exr"
    for path in OUTPUT.glob("*") if OUTPUT.exists() else ():
        if path.is_dir() and path.name == "Scene":
            for inner in path.iterdir():
                if inner != keep.parent:
                    shutil.rmtree(inner) if inner.is_dir() else inner.unlink()
        else:
            shutil.rmtree(path) if path.is_dir() else path.unlink()
    OUTPUT.mkdir(exist_ok=True)


if __name__ == "__main__":
    sys.exit(main())
