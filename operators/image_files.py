"""Reading multilayer EXRs and writing PNGs inside Blender, with the OpenImageIO it bundles."""

import os
import sys

import bpy
import numpy as np


def _oiio():
    site = os.path.join(bpy.utils.resource_path("LOCAL"), "python", "lib",
                        f"python{sys.version_info.major}.{sys.version_info.minor}", "site-packages")
    if os.path.isdir(site) and site not in sys.path:
        sys.path.append(site)
    import OpenImageIO

    return OpenImageIO


def read_exr_passes(path, names=None):
    """The passes of a multilayer EXR (all parts: Blender 5 writes one part per pass; only the
    parts holding ``names`` when given), as {pass name: (H, W, C) float32, row 0 at the top};
    raises OSError if it cannot be read."""
    oiio = _oiio()
    image = oiio.ImageInput.open(str(path))
    if image is None:
        raise OSError(f"cannot read {path}: {oiio.geterror()}")
    passes, part = {}, 0
    try:
        while True:
            spec = image.spec()
            channels = [_pass_name(channel) for channel in spec.channelnames]
            if names is None or set(names) & set(channels):
                pixels = image.read_image(part, 0, 0, spec.nchannels, "float")
                for index, name in enumerate(channels):
                    if names is None or name in names:
                        passes.setdefault(name, []).append(pixels[..., index])
            part += 1
            if not image.seek_subimage(part, 0):
                break
    finally:
        image.close()
    return {name: np.stack(channels, axis=-1).astype(np.float32) for name, channels in passes.items()}


def _pass_name(channel):
    layer, _, component = channel.rpartition(".")
    return layer.rpartition(".")[2] or component  # "ViewLayer.Depth.Z" → Depth


def write_png16(path, image):
    """Write (H, W) or (H, W, 3) floats in [0, 1] as a 16-bit PNG, atomically."""
    oiio = _oiio()
    pixels = np.ascontiguousarray(np.clip(np.rint(np.asarray(image) * 65535), 0, 65535).astype(np.uint16))
    if pixels.ndim == 2:
        pixels = pixels[..., None]
    partial = f"{path}.partial.png"
    out = oiio.ImageOutput.create(partial)
    spec = oiio.ImageSpec(pixels.shape[1], pixels.shape[0], pixels.shape[2], "uint16")
    if out is None or not (out.open(partial, spec) and out.write_image(pixels) and out.close()):
        raise OSError(f"cannot write {path}: {oiio.geterror()}")
    os.replace(partial, path)


def save_npy(path, array):
    """``np.save`` to a temporary name, then renamed."""
    partial = f"{path}.partial.npy"
    np.save(partial, array)
    os.replace(partial, path)
