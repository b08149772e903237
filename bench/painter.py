"""The style painter's cost: seconds per frame painting at 512² and 1024² (a built-in style and a
style image), and the whole style Stylize of the demo's sample shot by stage.

Run alone: ``.venv/bin/python -m diffsynth_render.bench.painter`` (the Stylize renders 24 frames of
passes and blends them: a few minutes on 2 cores).
"""

import json
import time
from pathlib import Path

from ..contract import DEFAULT_STYLE, RESULT_FILE, style_weights
from ..engine.image_sequences import write_png
from ..engine.style_painter import StylePainter, StyleSettings
from ..testing.synthetic_images import texture
from .report import OUTPUT_DIR, median_seconds, write_report

SIDES = (512, 1024)


def painting_rows(repeats=5):
    """Seconds per frame for each size and kind of style (the first call, which loads the
    network, not counted)."""
    rows = []
    style_picture = OUTPUT_DIR / "painter_style.png"
    OUTPUT_DIR.mkdir(parents=True, exist_ok=True)
    write_png(style_picture, texture(256, 256, 3, seed=1))
    for side in SIDES:
        base = texture(side, side, 3, seed=0)
        for kind, settings in (("built-in style", StyleSettings(weights=style_weights(DEFAULT_STYLE))),
                               ("style image", StyleSettings(image=str(style_picture)))):
            painter = StylePainter(settings, "cpu")
            painter(base)
            rows.append({"case": f"paint {side}² ({kind})", "seconds": median_seconds(lambda: painter(base), repeats),
                         "per": "frame"})
    return rows


def stylize_rows():
    """The demo shot's style Stylize: pass rendering (Blender), then the engine's stages."""
    import bpy

    import addon_utils  # importable only once bpy is

    from ..operators.scene_passes import render_passes
    from ..tools.sample_shot import build_sample_shot

    scene = build_sample_shot()
    addon_utils.enable("diffsynth_render", default_set=True, handle_error=None)
    folder = OUTPUT_DIR / "painter_shot"
    settings = scene.diffsynth
    settings.output_dir, settings.painter = str(folder), "style"
    frames = list(range(scene.frame_start, scene.frame_end + 1))
    started = time.perf_counter()
    render_passes(scene, frames, folder / "Scene" / "passes" / "exr")  # a cached run renders nothing again
    passes = time.perf_counter() - started
    started = time.perf_counter()
    bpy.ops.diffsynth.stylize()
    whole = time.perf_counter() - started
    timings = json.loads((Path(settings.last_output) / RESULT_FILE).read_text())["timings_s"]
    rows = [{"case": "Stylize: passes (Cycles, Blender)", "seconds": passes, "per": f"{len(frames)} frames"}]
    rows += [{"case": f"Stylize: engine {stage}", "seconds": float(seconds), "per": f"{len(frames)} frames"}
             for stage, seconds in timings.items()]
    rows.append({"case": "Stylize: operator after the passes", "seconds": whole, "per": f"{len(frames)} frames"})
    return rows


def run():
    """Measure and report; returns the rows."""
    rows = painting_rows() + stylize_rows()
    write_report("painter", rows)
    return rows


if __name__ == "__main__":
    run()
