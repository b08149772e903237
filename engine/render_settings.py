"""``RenderSettings``: everything that decides how a shot is rendered, and the named presets."""

import dataclasses

from .deflicker.settings import BlendSettings

WHOLE_SHOT = "shot"  # a smoothing window reaching over the whole shot
DEVICES = ("auto", "cuda", "mps", "cpu")


@dataclasses.dataclass(frozen=True)
class CrossFrameSettings:
    """``enabled``; ``neighbours``: frames on each side attended besides the first one."""

    enabled: bool = True
    neighbours: int = 1

    def __post_init__(self):
        if not isinstance(self.neighbours, int) or self.neighbours < 0:
            raise ValueError(f"cross-frame neighbours must be a whole number ≥ 0, not {self.neighbours!r}")


@dataclasses.dataclass(frozen=True)
class ControlSettings:
    """One ControlNet's ``weight`` and the fractions of the steps it acts in: [start, end]."""

    weight: float = 1.0
    start: float = 0.0
    end: float = 1.0

    def __post_init__(self):
        if not 0 <= self.start < self.end <= 1:
            raise ValueError(f"ControlNet start {self.start} and end {self.end} must satisfy 0 ≤ start < end ≤ 1")

    def scale_at(self, step, steps):
        """The weight at ``step`` of ``steps``; 0 outside [start, end] (as diffusers counts it)."""
        outside = step / steps < self.start or (step + 1) / steps > self.end
        return 0.0 if outside else self.weight


@dataclasses.dataclass(frozen=True)
class RenderSettings:
    """How to render a shot: prompt, guidance, ControlNets, smoothing and batching."""

    prompt: str
    negative_prompt: str = ""
    steps: int = 20
    guidance_scale: float = 7.5
    seed: int = 0
    controls: dict = dataclasses.field(default_factory=dict)  # ControlNet name → ControlSettings
    smoothing_steps: tuple = ()
    final_smoothing: bool = True
    blend: BlendSettings = BlendSettings()
    cross_frame: CrossFrameSettings = CrossFrameSettings()
    batch_frames: int = 0  # frames per model call; 0: as many as fit in half the free memory
    vae_frames: int = 4  # frames per VAE call

    def __post_init__(self):
        if self.steps < 1:
            raise ValueError(f"steps must be at least 1, not {self.steps}")
        bad = [step for step in self.smoothing_steps if not 0 <= step < self.steps]
        if bad:
            raise ValueError(f"smoothing steps {bad} lie outside the {self.steps} steps (0 to {self.steps - 1})")
        if self.batch_frames < 0 or self.vae_frames < 1:
            raise ValueError("batch_frames must be ≥ 0 (0: automatic) and vae_frames ≥ 1")

    @property
    def smoothing(self):
        """Whether anything is patch-blended."""
        return bool(self.smoothing_steps) or self.final_smoothing


# Presets fill the settings a user did not set. 'paper-3d' follows the paper's 3D rendering
# setting (smoothing in every step but the last, one window over the whole shot); 'stylize' is
# the cheaper schedule DiffSynth-Studio uses for stylization; 'fast-preview' smooths only the end.
PRESETS = {
    "paper-3d": dict(steps=20, smoothing_steps=tuple(range(19)), final_smoothing=True, window=WHOLE_SHOT),
    "stylize": dict(steps=20, smoothing_steps=(0, 5, 10, 15), final_smoothing=True, window=30),
    "fast-preview": dict(steps=8, smoothing_steps=(), final_smoothing=True, window=15),
}


def preset_values(name, steps=None):
    """The preset's steps, smoothing steps, final smoothing and window; with other ``steps``
    than the preset's, its smoothing steps are spread over them in proportion."""
    if name not in PRESETS:
        raise ValueError(f"preset {name!r} is not one of {', '.join(PRESETS)}")
    values = dict(PRESETS[name])
    if steps is not None and steps != values["steps"]:
        if name == "paper-3d":
            values["smoothing_steps"] = tuple(range(steps - 1))
        else:
            values["smoothing_steps"] = tuple(sorted({s * steps // values["steps"] for s in values["smoothing_steps"]}))
        values["steps"] = steps
    return values
