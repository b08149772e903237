"""One frame's engine inputs from its render passes: depth and soft-edge controls, guide, flow.

A frame's passes are {name: (H, W, C) float32} keyed by ``contract.PASS_NAMES``. The depth control
and the guide's coordinates are scaled by ranges over the whole shot (``ShotRanges``), so they
do not flicker from frame to frame.
"""

import dataclasses

import numpy as np

from ..contract import COORDINATE_AOV
from . import controls, guides

RANGE_PASSES = ("Depth", COORDINATE_AOV)  # what ``shot_ranges`` reads of each frame


@dataclasses.dataclass(frozen=True)
class ShotRanges:
    """Camera distances (near, far) and surface coordinates (low, high) seen over a shot."""

    near: float
    far: float
    coordinate_low: np.ndarray
    coordinate_high: np.ndarray


def shot_ranges(frames):
    """The ``ShotRanges`` of a shot; ``frames``: a function returning a fresh iterable of each
    frame's passes (at least ``RANGE_PASSES``), read twice, one frame at a time."""
    near, far = controls.depth_range(passes["Depth"][..., 0] for passes in frames())
    low, high = guides.coordinate_range((passes[COORDINATE_AOV][..., :3], passes["Depth"][..., 0])
                                        for passes in frames())
    return ShotRanges(near, far, low, high)


def frame_inputs(passes: dict[str, np.ndarray], ranges: ShotRanges) -> dict[str, np.ndarray]:
    """{depth, softedge: (H, W, 3) control images; guide: (H, W, 10); flow: (H, W, 4)}, float32."""
    depth = passes["Depth"][..., 0]
    depth_image = controls.depth_control(depth, ranges.near, ranges.far)
    edges = controls.soft_edges(depth, passes["Normal"])
    shaded = np.clip(passes["Combined"][..., :3], 0, 1) ** (1 / 2.2)  # linear → display-like
    guide = guides.guide_frame(shaded, depth_image, passes["Normal"], passes[COORDINATE_AOV][..., :3], depth,
                               ranges.coordinate_low, ranges.coordinate_high)
    return {"depth": np.repeat(depth_image[..., None], 3, axis=-1), "softedge": np.repeat(edges[..., None], 3, axis=-1),
            "guide": guide, "flow": guides.flow_from_vector(passes["Vector"])}
