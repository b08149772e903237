"""``DiffusionSettings``: everything that decides how the diffusion painter renders a shot (made
from a job's ``job_spec.DiffusionSpec``, whose defaults these are)."""

import dataclasses

from ..job_spec import ControlSpec, CrossFrame, DiffusionSpec, Schedule, default
from .deflicker.settings import BlendSettings


@dataclasses.dataclass(frozen=True)
class CrossFrameSettings:
    """``enabled``; ``neighbours``: frames on each side attended besides the first one."""

    enabled: bool = default(CrossFrame, "enabled")
    neighbours: int = default(CrossFrame, "neighbours")

    def __post_init__(self):
        if not isinstance(self.neighbours, int) or self.neighbours < 0:
            raise ValueError(f"cross-frame neighbours must be a whole number ≥ 0, not {self.neighbours!r}")


@dataclasses.dataclass(frozen=True)
class ControlSettings:
    """One ControlNet's ``weight`` and the fractions of the steps it acts in: [start, end]."""

    weight: float = default(ControlSpec, "weight")
    start: float = default(ControlSpec, "start")
    end: float = default(ControlSpec, "end")

    def __post_init__(self):
        if not 0 <= self.start < self.end <= 1:
            raise ValueError(f"ControlNet start {self.start} and end {self.end} must satisfy 0 ≤ start < end ≤ 1")

    def scale_at(self, step, steps):
        """The weight at ``step`` of ``steps``; 0 outside [start, end] (as diffusers counts it)."""
        outside = step / steps < self.start or (step + 1) / steps > self.end
        return 0.0 if outside else self.weight


@dataclasses.dataclass(frozen=True)
class DiffusionSettings:
    """How to render a shot: prompt, guidance, ControlNets, smoothing, batching and where the loop
    starts (``strength``)."""

    prompt: str
    negative_prompt: str = default(DiffusionSpec, "negative_prompt")
    steps: int = Schedule.of(default(DiffusionSpec, "preset")).steps
    guidance_scale: float = default(DiffusionSpec, "guidance_scale")
    seed: int = default(DiffusionSpec, "seed")
    controls: dict = dataclasses.field(default_factory=dict)  # ControlNet name → ControlSettings
    smoothing_steps: tuple = ()
    final_smoothing: bool = True
    blend: BlendSettings = BlendSettings()
    cross_frame: CrossFrameSettings = CrossFrameSettings()
    batch_frames: int = 0  # frames per model call; 0: as many as fit in half the free memory
    vae_frames: int = 4  # frames per VAE call
    strength: float = default(DiffusionSpec, "image_strength")  # below 1: start from the base images

    def __post_init__(self):
        if self.steps < 1:
            raise ValueError(f"steps must be at least 1, not {self.steps}")
        bad = [step for step in self.smoothing_steps if not 0 <= step < self.steps]
        if bad:
            raise ValueError(f"smoothing steps {bad} lie outside the {self.steps} steps (0 to {self.steps - 1})")
        if self.batch_frames < 0 or self.vae_frames < 1:
            raise ValueError("batch_frames must be ≥ 0 (0: automatic) and vae_frames ≥ 1")
        if not 0 <= self.strength <= 1:
            raise ValueError(f"strength must be between 0 and 1, not {self.strength}")

    @property
    def first_step(self):
        """The step the loop starts at: 0 from pure noise (strength 1), else from the base images
        noised to ``strength`` of the way (at least the last step is run)."""
        return 0 if self.strength >= 1 else self.steps - max(1, int(self.steps * self.strength))  # as diffusers

    @property
    def smoothing(self):
        """Whether anything is patch-blended."""
        return bool(self.smoothing_steps) or self.final_smoothing
