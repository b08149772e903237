"""Draw docs/deflicker.png: frames 4, 6, 8, 10 of a flickering synthetic shot (moving, turning)
above the same frames deflickered (fast mode, window 6).

Run with ``.venv/bin/python -m diffsynth_render.tools.deflicker_figure``.
"""

from pathlib import Path

import cv2
import numpy as np

from ..engine.deflicker import BlendSettings, PatchBlender
from ..engine.image_sequences import write_png
from .synthetic_sequences import flickered, moving_shot

FIGURE = Path(__file__).resolve().parent.parent / "docs" / "deflicker.png"


def main(count=16, size=128, shown=(4, 6, 8, 10), gap=4):
    """Render the figure: top row input frames, bottom row output frames."""
    guides, styled = moving_shot(count, size, 3, seed=3, step=(1, 2), turn_degrees=1.0)
    frames = flickered(styled, seed=4)
    smoothed = PatchBlender(guides, BlendSettings(window=6))(frames)
    rows = [np.concatenate([_label(label, size + 2 * gap)] + [
        np.pad(shot[index], ((gap, gap), (gap, gap), (0, 0)), constant_values=1.0) for index in shown], axis=1)
        for label, shot in (("input", frames), ("deflickered", smoothed))]
    FIGURE.parent.mkdir(exist_ok=True)
    write_png(FIGURE, np.concatenate(rows, axis=0))
    print(f"→ {FIGURE}")


def _label(text, height, width=110):
    tile = np.ones((height, width, 3), np.float32)
    cv2.putText(tile, text, (6, height // 2), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 0, 0), 1, cv2.LINE_AA)
    return tile


if __name__ == "__main__":
    main()
