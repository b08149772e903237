"""Draw docs/base_images.png: frame 12 of the demo's sample shot as each base image, and the
default style painted on each. Run ``make demo`` first (it renders the passes), then
``.venv/bin/python -m diffsynth_render.tools.base_figure``.
"""

from pathlib import Path

import numpy as np

from ..contract import BASE_IMAGES, DEFAULT_STYLE, frame_name, style_weights
from ..engine.image_sequences import write_png
from ..engine.style_painter import StylePainter, StyleSettings
from ..shot.base_images import base_image
from .contact_sheet import sheet
from .demo import OUTPUT

FIGURE = Path(__file__).resolve().parent.parent / "docs" / "base_images.png"
FRAME = 12


def main():
    guide = np.load(OUTPUT / "Scene" / "passes" / "guide" / frame_name(FRAME, ".npy"))
    painter = StylePainter(StyleSettings(weights=style_weights(DEFAULT_STYLE)), "cpu")
    rows = [[base_image(guide, kind), painter(base_image(guide, kind))] for kind in BASE_IMAGES]
    labels = [choice.label.lower() for choice in BASE_IMAGES.values()]
    write_png(FIGURE, sheet(rows, labels, ["base image", f"style {DEFAULT_STYLE}"]))
    print(f"→ {FIGURE}")


if __name__ == "__main__":
    main()
