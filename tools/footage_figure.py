"""Draw docs/footage.png: footage stylized by ``engine stylize-video`` — the benchmark's footage
(``bench/rendered_shot.py``: the sample shot with textures, rendered by Cycles, 512×288), frames
6, 10, 14 and 18: as it is, painted frame by frame by the style painter, and stylized (painted,
then blended along the motion estimated between the frames).

Run with ``.venv/bin/python -m diffsynth_render.tools.footage_figure`` (the first run renders the
footage with bpy, a minute or so).
"""

import tempfile
from pathlib import Path

import numpy as np

from ..bench.rendered_shot import rendered_shot
from ..contract import DEFAULT_STYLE, frame_name, style_weights
from ..engine.__main__ import main as engine
from ..engine.image_sequences import read_image, write_png
from ..engine.style_painter import StylePainter, StyleSettings
from .contact_sheet import sheet

FIGURE = Path(__file__).resolve().parent.parent / "docs" / "footage.png"
SHOWN = (6, 10, 14, 18)  # frame indices


def main():
    clean, _, _ = rendered_shot()
    painter = StylePainter(StyleSettings(weights=style_weights(DEFAULT_STYLE)), "cpu")
    with tempfile.TemporaryDirectory(prefix="diffsynth-footage-figure-") as temp:
        folder = Path(temp) / "footage"
        folder.mkdir()
        for index, frame in enumerate(clean):
            write_png(folder / f"shot_{index:02d}.png", frame)
        if engine(["stylize-video", str(folder), "--out", str(Path(temp) / "out")]) != 0:
            raise SystemExit("stylize-video failed")
        stylized = [read_image(Path(temp) / "out" / "stylized_v001" / frame_name(index + 1))[0] for index in SHOWN]
    rows = [[clean[index] for index in SHOWN], [painter(clean[index]) for index in SHOWN], stylized]
    FIGURE.parent.mkdir(exist_ok=True)
    write_png(FIGURE, sheet([[np.clip(image, 0, 1) for image in row] for row in rows],
                            ["footage", "painted per frame", "stylized"], [f"frame {index + 1}" for index in SHOWN]))
    print(f"→ {FIGURE}")


if __name__ == "__main__":
    main()
