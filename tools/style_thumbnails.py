"""Draw the style picker's thumbnails (``assets/styles/style_NN.png``): each built-in style
painted on frame 12 of the sample shot's clay + normals base image, cropped square.

Run with ``.venv/bin/python -m diffsynth_render.tools.style_thumbnails`` (renders one frame of
passes with Cycles, then paints 26 times; under a minute).
"""

import sys
import tempfile
from pathlib import Path

import cv2
import numpy as np

from ..contract import DEFAULT_BASE_IMAGE, STYLE_COUNT, style_weights
from ..engine.image_sequences import write_png
from ..engine.passes import derive_inputs
from ..engine.style_painter import StylePainter, StyleSettings
from ..operators.scene_passes import render_passes
from ..panels.style_previews import THUMBNAILS, thumbnail_path
from ..shot.base_images import base_image
from .sample_shot import build_sample_shot

FRAME, SIDE = 12, 128


def main():
    scene = build_sample_shot()
    size = (scene.render.resolution_x, scene.render.resolution_y)
    with tempfile.TemporaryDirectory() as folder:
        exrs, _ = render_passes(scene, [FRAME], Path(folder) / "exr")
        guide = np.load(derive_inputs(exrs, Path(folder) / "derived", size)["guide"][0])
    base = base_image(guide, DEFAULT_BASE_IMAGE)
    left = (base.shape[1] - base.shape[0]) // 2 + base.shape[0] // 8  # the group of objects, a little right of centre
    square = base[:, left:left + base.shape[0]]
    THUMBNAILS.mkdir(parents=True, exist_ok=True)
    for index in range(STYLE_COUNT):
        painted = StylePainter(StyleSettings(weights=style_weights(index)), "cpu")(square)
        write_png(thumbnail_path(index), cv2.resize(painted, (SIDE, SIDE), interpolation=cv2.INTER_AREA))
    print(f"→ {STYLE_COUNT} thumbnails in {THUMBNAILS}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
