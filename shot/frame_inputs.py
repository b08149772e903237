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


def frame_extremes(passes):
    """What of one frame's passes (at least ``RANGE_PASSES``) the shot's ranges need: ((near, far),
    (coordinate low, high)) of the geometry it shows, or None where it shows none."""
    depth = passes["Depth"][..., 0]
    seen = controls.geometry_mask(depth)
    if not seen.any():
        return None
    hits, points = depth[seen], passes[COORDINATE_AOV][..., :3][seen]
    return (float(hits.min()), float(hits.max())), (points.min(axis=0), points.max(axis=0))


def shot_ranges(extremes):
    """The ``ShotRanges`` of a shot from each frame's ``frame_extremes`` (any iterable, read once)."""
    extremes = [frame for frame in extremes if frame is not None]
    near, far = controls.depth_range(np.array(depths) for depths, _ in extremes)
    low, high = guides.coordinate_range((np.stack(bounds), np.zeros(2, np.float32)) for _, bounds in extremes)
    return ShotRanges(near, far, low, high)


def frame_inputs(passes: dict[str, np.ndarray], ranges: ShotRanges) -> dict[str, np.ndarray]:
    """{depth, softedge: (H, W, 1) control images; guide: (H, W, 10); flow: (H, W, 4)}, float32."""
    depth = passes["Depth"][..., 0]
    depth_image = controls.depth_control(depth, ranges.near, ranges.far)
    edges = controls.soft_edges(depth, passes["Normal"])
    shaded = np.clip(passes["Combined"][..., :3], 0, 1) ** (1 / 2.2)  # linear → display-like
    guide = guides.guide_frame(shaded, depth_image, passes["Normal"], passes[COORDINATE_AOV][..., :3], depth,
                               ranges.coordinate_low, ranges.coordinate_high)
    return {"depth": depth_image[..., None], "softedge": edges[..., None], "guide": guide,
            "flow": guides.flow_from_vector(passes["Vector"])}
