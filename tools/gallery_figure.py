"""Draw docs/style_gallery.png: a scene's style gallery (the style picker's thumbnails after
*Paint Styles on This Frame*) as a sheet, the styles in rows of seven. Paint one first (the panel,
or ``engine run JOB --gallery``), then ``.venv/bin/python -m diffsynth_render.tools.gallery_figure
GALLERY_FOLDER``.
"""

import sys
from pathlib import Path

import numpy as np

from ..contract import STYLE_COUNT, style_thumbnail
from ..engine.image_sequences import read_image, write_png
from .contact_sheet import sheet

FIGURE = Path(__file__).resolve().parent.parent / "docs" / "style_gallery.png"
PER_ROW = 7


def main(folder):
    thumbnails = [read_image(Path(folder) / style_thumbnail(index))[0] for index in range(STYLE_COUNT)]
    blank = np.ones_like(thumbnails[0])
    rows = [(thumbnails[start:start + PER_ROW] + [blank] * PER_ROW)[:PER_ROW]
            for start in range(0, STYLE_COUNT, PER_ROW)]
    labels = [f"{start}-{min(start + PER_ROW, STYLE_COUNT) - 1}" for start in range(0, STYLE_COUNT, PER_ROW)]
    write_png(FIGURE, sheet(rows, labels))
    print(f"→ {FIGURE}")


if __name__ == "__main__":
    main(sys.argv[1])
