"""Settings of the patch-blending deflicker, checked when they are made."""

from dataclasses import dataclass

from ...contract import BACKENDS, BLEND_MODES, WEIGHTINGS
from ...job_spec import Smoothing, default


@dataclass(frozen=True)
class BlendSettings:
    """How ``PatchBlender`` blends a frame with its neighbours.

    mode: "fast" (the O(n log n) block tree) or "balanced" (every window frame remapped
    directly). window: frames on each side. weighting: "confidence" weights each remapped pixel
    by exp(−d / (C · confidence_scale)), d its patch distance on the C-channel guides (tuned on
    synthetic shots: bench/RESULTS.md), "uniform" is the paper's plain average.
    patch_size, iterations, backend, device: passed to ``estimate_nnf``.
    flow_iterations, flow_radius: with flows, each NNF is the chained flow, refined at full size
    by this many PatchMatch iterations searching within this many pixels. None by default: exact
    flows (Blender's vector pass) are better than any match on the guides (refining one
    iteration within 1 px cost 3 dB on the rendered benchmark: bench/RESULTS.md).
    keep_detail: the blend's fine detail scaled back to each frame's own local energy (``detail``):
    averaging independently painted strokes thins them out; frames that agree lose nothing to it.
    Off here (the paper's blend, which also averages noise away); a job's smoothing has it on.
    memory_limit_mb: NNFs beyond this many MiB of host memory go to a temporary folder.
    batch_size: NNF pairs estimated per kernel call (more only helps small images on a GPU).
    """

    mode: str = default(Smoothing, "mode")
    window: int = 15
    weighting: str = default(Smoothing, "weighting")
    confidence_scale: float = 0.003
    patch_size: int = default(Smoothing, "patch_size")
    iterations: int = default(Smoothing, "iterations")
    flow_iterations: int = 0
    flow_radius: int = 1
    keep_detail: bool = False
    backend: str = "auto"
    device: str | None = None
    memory_limit_mb: float = 512.0
    batch_size: int = 1

    def __post_init__(self):
        _choice("mode", self.mode, BLEND_MODES)
        _choice("weighting", self.weighting, WEIGHTINGS)
        _choice("backend", self.backend, BACKENDS)
        _integer("window", self.window, 1)
        _integer("iterations", self.iterations, 0)
        _integer("flow_iterations", self.flow_iterations, 0)
        _integer("flow_radius", self.flow_radius, 1)
        _integer("batch_size", self.batch_size, 1)
        _integer("patch_size", self.patch_size, 1)
        if not isinstance(self.keep_detail, bool):
            raise ValueError(f"keep_detail must be true or false, got {self.keep_detail!r}")
        if self.patch_size % 2 == 0:
            raise ValueError(f"patch_size must be odd, got {self.patch_size}")
        if not self.confidence_scale > 0:
            raise ValueError(f"confidence_scale must be > 0, got {self.confidence_scale!r}")
        if not self.memory_limit_mb >= 0:
            raise ValueError(f"memory_limit_mb must be ≥ 0, got {self.memory_limit_mb!r}")


def _choice(name, value, choices):
    if value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(choices)}; got {value!r}")


def _integer(name, value, minimum):
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{name} must be an integer ≥ {minimum}, got {value!r}")
