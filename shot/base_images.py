"""The pictures a painter starts from (``contract.BASE_IMAGES``), made from guide frames.

A guide frame of the passes (``guides.GUIDE_CHANNELS``) holds the clay shading and the surface
normal of every pixel, so the clay bases come from the guides the shot is blended on; where no
surface was hit they show a soft light backdrop, brighter towards the top. The *Scene* base is
the frame's look, rendered by Blender with the scene's own materials and lights.
"""

import numpy as np

from ..contract import BASE_IMAGES, SCENE_BASE

SHADED, NORMAL = slice(0, 3), slice(4, 7)
PASS_GUIDE_CHANNELS = 10  # a guide made from passes; other guides are pictures already
BACKDROP = (np.array([0.72, 0.74, 0.78], np.float32), np.array([0.9, 0.9, 0.92], np.float32))  # bottom, top
# Clay × (FLOOR + TINT × the normal's colour): faces turned different ways get different hues.
FLOOR, TINT = 0.45, 0.75


def base_image(guide, kind: str, look=None) -> np.ndarray:
    """The (H, W, 3) float32 base image of ``kind`` for one guide frame (H, W, C) in [0, 1] and
    the frame's ``look`` (H, W, 3), which the Scene base is and only it needs; a guide that is not
    made from passes is its own base (its first three channels)."""
    if kind not in BASE_IMAGES:
        raise ValueError(f"base image {kind!r} is not one of {', '.join(BASE_IMAGES)}")
    guide = np.asarray(guide, np.float32)
    if guide.shape[-1] < PASS_GUIDE_CHANNELS:
        return np.repeat(guide[..., :1], 3, axis=-1) if guide.shape[-1] < 3 else guide[..., :3].copy()
    if kind == SCENE_BASE:
        if look is None:
            raise ValueError("the Scene base needs the frame's look, rendered with its passes")
        return np.clip(np.asarray(look, np.float32)[..., :3], 0, 1)
    shaded, normal = guide[..., SHADED], guide[..., NORMAL]
    picture = shaded * (FLOOR + TINT * normal) if kind == "normals" else shaded
    surface = normal.max(axis=-1, keepdims=True) > 0  # the guide's normal is 0 where nothing was hit
    return np.where(surface, np.clip(picture, 0, 1), _backdrop(*guide.shape[:2])).astype(np.float32)


def _backdrop(height, width):
    rows = np.linspace(1.0, 0.0, height, dtype=np.float32)[:, None, None]
    return np.broadcast_to(BACKDROP[0] + (BACKDROP[1] - BACKDROP[0]) * rows, (height, width, 3))
