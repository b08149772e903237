"""Control images derived from exact render passes: depth and soft edges.

Depth arrives as camera distance per pixel (Blender's Z pass; background ≥ ``BACKGROUND``),
normals as unit vectors. Images are (H, W) float32 in [0, 1], row 0 at the top.
"""

import numpy as np

BACKGROUND = 1e9  # Cycles writes 1e10 where a ray hits nothing
# Creases between neighbouring pixels' normals: none below NORMAL_NO_EDGE (the facets of a
# low-poly sphere or cylinder, 360°/32 ≈ 11°, are not edges), full strength from NORMAL_FULL_EDGE.
NORMAL_NO_EDGE, NORMAL_FULL_EDGE = np.radians(15), np.radians(40)
DEPTH_FULL_EDGE = 0.02  # relative kink in inverse depth that counts as a full edge


def geometry_mask(depth):
    """Where a surface was hit (not background)."""
    return depth < BACKGROUND


def depth_range(depths):
    """(near, far) camera distances over every frame of a shot (any iterable, read once); raises
    ValueError if no frame shows any geometry."""
    near, far = np.inf, -np.inf
    for depth in depths:
        hits = depth[geometry_mask(depth)]
        if hits.size:
            near, far = min(near, float(hits.min())), max(far, float(hits.max()))
    if near > far:
        raise ValueError("no frame shows any geometry: is the camera looking at the scene?")
    return near, far


def depth_control(depth, near, far):
    """Inverse depth normalised over the shot's [near, far]: nearest surface 1, farthest 0,
    background 0 — like the MiDaS maps the depth ControlNet was trained on, and the same scale in
    every frame, so it does not flicker."""
    mask = geometry_mask(depth)
    inverse = np.where(mask, 1.0 / np.maximum(depth, 1e-6), 0.0)
    span = 1.0 / near - 1.0 / far
    control = (inverse - 1.0 / far) / span if span > 0 else np.ones_like(inverse)
    return np.where(mask, np.clip(control, 0.0, 1.0), 0.0).astype(np.float32)


def soft_edges(depth, normals, sigma=None):
    """Soft edges from geometry: creases (normal angle between neighbours) and discontinuities
    (kinks of inverse depth, which is flat on every plane; silhouettes are full kinks), drawn as
    lines of width ~``sigma`` (default: a 256th of the image, at least 1 px) that fade out."""
    mask = geometry_mask(depth)
    inverse = np.where(mask, 1.0 / np.maximum(depth, 1e-6), 0.0)
    unit = normals / np.maximum(np.linalg.norm(normals, axis=-1, keepdims=True), 1e-6)
    edges = np.zeros(depth.shape, np.float32)
    for axis in (0, 1):
        cosine = np.sum(unit * np.roll(unit, 1, axis=axis), axis=-1)
        crease = (np.arccos(np.clip(cosine, -1, 1)) - NORMAL_NO_EDGE) / (NORMAL_FULL_EDGE - NORMAL_NO_EDGE)
        crease = np.where(mask & np.roll(mask, 1, axis=axis), crease, 0.0)
        kink = np.abs(np.roll(inverse, 1, axis) - 2 * inverse + np.roll(inverse, -1, axis))
        kink /= np.maximum(np.maximum(inverse, np.roll(inverse, 1, axis)), 1e-12) * DEPTH_FULL_EDGE
        border = np.zeros(depth.shape, bool)  # np.roll wraps around: the first and last rows/columns
        index = [slice(None)] * 2
        for edge in (0, -1):
            index[axis] = edge
            border[tuple(index)] = True
        edges = np.maximum(edges, np.where(border, 0.0, np.clip(np.maximum(crease, kink), 0, 1)))
    sigma = sigma or max(1.0, max(depth.shape) / 256)
    return np.clip(blur(edges, sigma) * np.sqrt(2 * np.pi) * sigma, 0, 1).astype(np.float32)


def blur(image, sigma):
    """Separable Gaussian blur of a (H, W) image with mirrored borders."""
    radius = max(1, int(round(3 * sigma)))
    taps = np.exp(-0.5 * (np.arange(-radius, radius + 1) / sigma) ** 2)
    taps /= taps.sum()
    result = image.astype(np.float32)
    for axis in (0, 1):
        padded = np.pad(result, [(radius, radius) if a == axis else (0, 0) for a in (0, 1)], mode="reflect")
        length = result.shape[axis]
        result = np.zeros_like(result)
        for offset, weight in enumerate(taps.astype(np.float32)):
            result += weight * (padded[offset: offset + length] if axis == 0 else padded[:, offset: offset + length])
    return result
