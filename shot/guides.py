"""Guide frames for PatchMatch and motion fields, from render passes.

A guide pixel stacks the flat-shaded image, the depth control, the world-space normal and the
object-space **surface coordinate** of what the pixel sees: a surface point keeps its normal and
coordinate while it moves, so matches follow surfaces even where the shading is flat.
"""

import numpy as np

from .controls import geometry_mask
from .frames import Frames

GUIDE_CHANNELS = ("shaded R", "shaded G", "shaded B", "depth", "normal X", "normal Y", "normal Z",
                  "coordinate X", "coordinate Y", "coordinate Z")
# What surface point a pixel sees, unchanged while it moves: where a frame's occlusions show.
SURFACE_CHANNELS = [GUIDE_CHANNELS.index(name) for name in ("coordinate X", "coordinate Y", "coordinate Z")]


def surfaces(guides):
    """The surface channels of guides laid out as ``guide_frame`` makes them (…, 10), contiguous
    (``Frames`` of them for ``Frames`` of guides, taken from each when asked); None for guides
    of another layout (made elsewhere, say)."""
    if guides.shape[-1] != len(GUIDE_CHANNELS):
        return None
    if isinstance(guides, Frames):
        return guides.map(surfaces, len(SURFACE_CHANNELS))
    return np.ascontiguousarray(guides[..., SURFACE_CHANNELS])


def coordinate_range(frames):
    """(low, high) per axis of the surface coordinates seen over a shot (background excluded);
    ``frames``: any iterable of (coordinates, depth), read once, frame by frame."""
    low, high = np.full(3, np.inf, np.float32), np.full(3, -np.inf, np.float32)
    for coordinate, depth in frames:
        seen = coordinate[geometry_mask(depth)]
        if seen.size:
            low, high = np.minimum(low, seen.min(axis=0)), np.maximum(high, seen.max(axis=0))
    if np.any(low > high):
        return np.zeros(3, np.float32), np.zeros(3, np.float32)
    return low, high


def guide_frame(shaded, depth_control, normals, coordinates, depth, coordinate_low, coordinate_high):
    """(H, W, 10) float32 in [0, 1]: shaded RGB, depth control, normal, surface coordinate
    (scaled by the shot's range); background normal and coordinate 0."""
    mask = geometry_mask(depth)[..., None]
    span = np.maximum(coordinate_high - coordinate_low, 1e-6)
    coordinate = np.where(mask, (coordinates - coordinate_low) / span, 0.0)
    normal = np.where(mask, normals * 0.5 + 0.5, 0.0)
    shaded = np.clip(shaded[..., :3], 0.0, 1.0)
    return np.concatenate([shaded, depth_control[..., None], normal, coordinate], axis=-1).astype(np.float32)


FLOW_CHANNELS = (2, 4, 6)  # a flow's layouts: to the next frame, and to the previous, and each step's trust


def flow_from_vector(vector):
    """Blender's vector pass (H, W, 4: pixels, x right, y up; xy towards the previous frame, zw
    from the next) → flow (H, W, 4) in (row, col) pixels: channels 0–1 to the next frame, 2–3 to
    the previous one (the engine's ``flows`` layout)."""
    to_previous = np.stack([-vector[..., 1], vector[..., 0]], axis=-1)
    to_next = np.stack([vector[..., 3], -vector[..., 2]], axis=-1)
    return np.concatenate([to_next, to_previous], axis=-1).astype(np.float32)
