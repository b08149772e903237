"""Draw docs/base_images.png: frame 12 of the demo's sample shot as each base image, and the
default style painted on each, as it is and with Keep Colours. Run ``make demo`` first (it
renders the passes and derives the guides), then ``.venv/bin/python -m
diffsynth_render.tools.base_figure`` (it renders frame 12's look beside its passes, with bpy).
"""

from pathlib import Path

import numpy as np

from ..contract import BASE_IMAGES, DEFAULT_STYLE, frame_name, scene_look_file, style_weights
from ..engine.image_sequences import read_image, write_png
from ..engine.style_painter import StylePainter, StyleSettings
from ..shot.base_images import base_image
from .contact_sheet import sheet
from .demo import OUTPUT

FIGURE = Path(__file__).resolve().parent.parent / "docs" / "base_images.png"
FRAME = 12


def main():
    passes = OUTPUT / "Scene" / "passes"
    guide = np.load(passes / "guide" / frame_name(FRAME, ".npy"))
    look = read_image(_render_look(passes / "exr"))[0]
    painters = [StylePainter(StyleSettings(weights=style_weights(DEFAULT_STYLE), keep_colors=keep), "cpu")
                for keep in (False, True)]
    rows = [[base, *(painter(base) for painter in painters)]
            for base in (base_image(guide, kind, look) for kind in BASE_IMAGES)]
    labels = [choice.label.lower() for choice in BASE_IMAGES.values()]
    write_png(FIGURE, sheet(rows, labels, ["base image", f"style {DEFAULT_STYLE}", "+ keep colours"]))
    print(f"→ {FIGURE}")


def _render_look(folder):
    """Frame ``FRAME``'s look, rendered (or found cached) beside its passes in ``folder``."""
    import bpy  # noqa: F401 (before addon_utils)

    import addon_utils  # importable only once bpy is

    from ..operators.scene_passes import render_passes
    from .sample_shot import build_sample_shot

    scene = build_sample_shot()
    addon_utils.enable("diffsynth_render", default_set=True)
    (exr,), _ = render_passes(scene, [FRAME], folder, look=True)
    return scene_look_file(exr)


if __name__ == "__main__":
    main()
