"""Image sequences on disk: PNG frames (8- or 16-bit) and ``.npy`` float arrays, sorted by name.

Reading checks everything up front and raises ``ValueError`` naming the folder or file, so a
command can refuse bad input before it writes anything.
"""

from pathlib import Path

import cv2
import numpy as np

from ..contract import atomic_path

PNG = ".png"
NPY = ".npy"


def frame_files(folder, suffixes=(PNG,)):
    """The frame files of ``folder`` with one of ``suffixes``, sorted by name; never empty."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ValueError(f"{folder} is not a folder")
    files = sorted(path for path in folder.iterdir() if path.suffix.lower() in suffixes and path.is_file())
    if not files:
        raise ValueError(f"{folder} holds no {' or '.join(suffixes)} frames")
    return files


def read_image(path, alpha=False):
    """(float32 (H, W, C) in [0, 1], bits) of a PNG (8/16-bit; RGBA keeps its alpha only with
    ``alpha``) or ``.npy`` file."""
    path = Path(path)
    if path.suffix.lower() == NPY:
        return _read_array(path), 32
    pixels = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if pixels is None:
        raise ValueError(f"cannot read image {path}")
    if pixels.dtype not in (np.uint8, np.uint16):
        raise ValueError(f"{path} is {pixels.dtype}; expected an 8- or 16-bit PNG")
    bits = 8 * pixels.dtype.itemsize
    if pixels.ndim == 2:
        pixels = pixels[..., None]
    elif pixels.shape[2] == 4 and alpha:
        pixels = cv2.cvtColor(pixels, cv2.COLOR_BGRA2RGBA)
    elif pixels.shape[2] >= 3:
        pixels = cv2.cvtColor(pixels[..., :3], cv2.COLOR_BGR2RGB)
    return pixels.astype(np.float32) / (2 ** bits - 1), bits


def read_sequence(folder, suffixes=(PNG,), alpha=False):
    """(frames (N, H, W, C) float32, file names, bits of the first frame); all frames one size
    (``alpha``: as ``read_image``)."""
    files = frame_files(folder, suffixes)
    images, bits = [], None
    for path in files:
        image, depth = read_image(path, alpha)
        bits = bits or depth
        if images and image.shape != images[0].shape:
            raise ValueError(f"{path} is {_size(image)} but {files[0]} is {_size(images[0])}")
        images.append(image)
    return np.stack(images), [path.name for path in files], bits


def write_png(path, image, bits=8):
    """Write float (H, W, 4, 3 or 1) in [0, 1] as an 8- or 16-bit PNG, atomically (temp file, rename)."""
    path = Path(path)
    scale = 2 ** bits - 1
    pixels = np.clip(np.rint(np.asarray(image) * scale), 0, scale).astype(np.uint16 if bits == 16 else np.uint8)
    if pixels.shape[-1] in (3, 4):
        pixels = cv2.cvtColor(pixels, cv2.COLOR_RGB2BGR if pixels.shape[-1] == 3 else cv2.COLOR_RGBA2BGRA)
    with atomic_path(path) as partial:
        if not cv2.imwrite(str(partial), pixels):
            raise OSError(f"cannot write {path}")


def _read_array(path):
    try:
        array = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as error:
        raise ValueError(f"cannot read array {path}: {error}") from None
    if array.ndim == 2:
        array = array[..., None]
    if array.ndim != 3 or not np.issubdtype(array.dtype, np.floating):
        raise ValueError(f"{path} must hold a float (H, W) or (H, W, C) array, got {array.dtype} {array.shape}")
    if not np.isfinite(array).all():
        raise ValueError(f"{path} contains NaN or infinite values")
    return array.astype(np.float32)


def _size(image):
    return f"{image.shape[1]}x{image.shape[0]} with {image.shape[2]} channels"
