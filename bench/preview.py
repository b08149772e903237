"""Preview Frame as an artist in Blender meets it: seconds from the click to the painted frame.

The sample shot (``tools/sample_shot.py``) at 512×288 and 1280×720 with the style painter and
every default, in this Python's Blender (bpy, the extension enabled), Preview Frame run to its
end: cold (the frame's passes rendered, its inputs derived) and warm (the same frame again: its
passes cached; a changed setting, say). Both include starting the engine process and loading
the painter's network, as every click does. Then the same with the *Scene* base (cold: the
frame's look rendered beside its passes). Then the style gallery at 512×288 (all 26 styles on
that frame, its passes cached).

Run alone: ``.venv/bin/python -m diffsynth_render.bench.preview``.
"""

import tempfile
import time
from pathlib import Path

from .report import write_report

SIZES = {"512x288": (512, 288), "1280x720": (1280, 720)}
BASES = ("normals", "scene")
FRAME = 12


def run(sizes=tuple(SIZES), bases=BASES, repeats=3):
    """Measure and report; returns the rows."""
    import bpy

    import addon_utils  # importable only once bpy is

    from ..tools.sample_shot import build_sample_shot

    rows = []
    for name, base in [(name, base) for name in sizes for base in bases]:
        with tempfile.TemporaryDirectory() as folder:
            build_sample_shot(24, SIZES[name])
            addon_utils.enable("diffsynth_render", default_set=True)
            settings = bpy.context.scene.diffsynth
            settings.painter, settings.output_dir, settings.base_image = "style", folder, base
            seconds = []
            for _ in range(1 + repeats):
                started = time.perf_counter()
                if bpy.ops.diffsynth.preview_frame(frame=FRAME) != {"FINISHED"}:
                    raise RuntimeError(f"Preview Frame failed: {bpy.context.window_manager.diffsynth_stage}")
                seconds.append(time.perf_counter() - started)
            assert (Path(folder) / "Scene" / "preview" / f"frame_{FRAME:04d}.png").is_file()
            gallery = None
            if name == "512x288" and base == BASES[0]:
                bpy.context.scene.frame_current = FRAME
                started = time.perf_counter()
                if bpy.ops.diffsynth.style_gallery() != {"FINISHED"}:
                    raise RuntimeError(f"the gallery failed: {bpy.context.window_manager.diffsynth_stage}")
                gallery = time.perf_counter() - started
        warm = sorted(seconds[1:])[repeats // 2]
        rows.append({"size": name, "painter": "style", "base": base, "cold s": seconds[0], "warm s (median)": warm,
                     "gallery of 26 s": gallery if gallery is not None else "-"})
    write_report("preview", rows)
    return rows


if __name__ == "__main__":
    run()
