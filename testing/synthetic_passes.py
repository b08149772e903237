"""A shot's pass EXRs made without Blender, laid out as Blender writes them (one part per pass,
channels named ``ViewLayer.<pass>.<component>``), for tests of what reads them."""

import numpy as np

from ..contract import COORDINATE_AOV

GROUND, BOX = 10.0, 8.0  # camera distances
COMPONENTS = {"Combined": "RGBA", "Depth": "Z", "Normal": "XYZ", "Vector": "XYZW", COORDINATE_AOV: "RGBA"}


def box_passes(frame, size=64, speed=2):
    """{pass: (H, W, C) float32} of a camera looking down at the ground with a box on it that
    slides ``speed`` px a frame to the right (its vector pass says so)."""
    rows, cols = np.mgrid[:size, :size].astype(np.float32)
    left = size // 4 + speed * frame
    box = (rows >= size // 4) & (rows < size // 2) & (cols >= left) & (cols < left + size // 4)
    depth = np.where(box, BOX, GROUND)[..., None]
    normal = np.zeros((size, size, 3), np.float32)
    normal[..., 2] = 1
    shade = np.where(box, 0.8, 0.3)[..., None]
    combined = np.concatenate([np.repeat(shade, 3, axis=-1), np.ones((size, size, 1))], axis=-1)
    # Blender's vector pass: xy the motion to the previous frame, zw the motion from the next one
    # (so both point back in time for a steady motion), x right and y up.
    moving = np.where(box, float(speed), 0.0)
    vector = np.stack([-moving, np.zeros_like(moving), -moving, np.zeros_like(moving)], axis=-1)
    local = np.stack([cols - left, rows, np.where(box, 1.0, 0.0)], axis=-1) / size
    coordinate = np.concatenate([local, np.ones((size, size, 1))], axis=-1)
    return {name: value.astype(np.float32) for name, value in
            (("Combined", combined), ("Depth", depth), ("Normal", normal), ("Vector", vector),
             (COORDINATE_AOV, coordinate))}


def write_pass_exr(path, passes, one_part=False):
    """Write ``passes`` as a multilayer EXR: a part per pass as Blender 5 does, or all in one
    part (``one_part``) as Blender 4.x does. The channels go in sorted by name, as EXR stores them."""
    import OpenEXR

    parts = {name: {f"ViewLayer.{name}.{c}": np.ascontiguousarray(pixels[..., i])
                    for i, c in enumerate(COMPONENTS[name])} for name, pixels in passes.items()}
    header = {"compression": OpenEXR.ZIP_COMPRESSION, "type": OpenEXR.scanlineimage}
    if one_part:
        merged = {channel: pixels for channels in parts.values() for channel, pixels in channels.items()}
        OpenEXR.File(header, dict(sorted(merged.items()))).write(str(path))
    else:
        OpenEXR.File([OpenEXR.Part({**header, "name": f"ViewLayer.{name}"}, dict(sorted(channels.items())))
                      for name, channels in parts.items()]).write(str(path))
    return path
