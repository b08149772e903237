"""Draw docs/deflicker.png: frames 4, 6, 8, 10 of a flickering synthetic shot (moving, turning)
above the same frames deflickered (fast mode, window 6).

Run with ``.venv/bin/python -m diffsynth_render.tools.deflicker_figure``.
"""

from pathlib import Path

from ..engine.deflicker import BlendSettings, PatchBlender
from ..engine.image_sequences import write_png
from ..testing.synthetic_sequences import flickered, moving_shot
from .contact_sheet import sheet

FIGURE = Path(__file__).resolve().parent.parent / "docs" / "deflicker.png"


def main(count=16, size=128, shown=(4, 6, 8, 10)):
    """Render the figure: top row input frames, bottom row output frames."""
    guides, styled = moving_shot(count, size, 3, seed=3, step=(1, 2), turn_degrees=1.0)
    frames = flickered(styled, seed=4)
    smoothed = PatchBlender(guides, BlendSettings(window=6))(frames)
    FIGURE.parent.mkdir(exist_ok=True)
    write_png(FIGURE, sheet([[shot[i] for i in shown] for shot in (frames, smoothed)], ["input", "deflickered"]))
    print(f"→ {FIGURE}")


if __name__ == "__main__":
    main()
