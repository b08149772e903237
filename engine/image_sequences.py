"""Image sequences on disk: PNG frames (8- or 16-bit) and ``.npy`` float arrays, sorted by name.

Reading checks everything up front and raises ``ValueError`` naming the folder or file, so a
command can refuse bad input before it writes anything.
"""

from pathlib import Path

import cv2
import numpy as np
from PIL import Image, UnidentifiedImageError

from ..contract import atomic_path
from ..shot.frames import Frames

PNG = ".png"
NPY = ".npy"
PNG_CHANNELS = {"P": 3, "PA": 4, "LA": 4}  # as OpenCV reads them: a palette as colour, grey + alpha as BGRA


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
    frames, names, bits = open_sequence(folder, suffixes, alpha)
    return np.stack(list(frames)), names, bits


def open_sequence(folder, suffixes=(PNG,), alpha=False):
    """(``Frames`` (N, H, W, C) float32 read when asked for, file names, bits of the first frame):
    every file's size and channels checked now, from its header (``alpha``: as ``read_image``)."""
    files = frame_files(folder, suffixes)
    shapes = []
    for path in files:
        width, height, channels = frame_header(path)
        if path.suffix.lower() == PNG and not alpha:
            channels = min(channels, 3)
        shapes.append((height, width, channels))
        if shapes[-1] != shapes[0]:
            raise ValueError(f"{path} is {_size(shapes[-1])} but {files[0]} is {_size(shapes[0])}")
    _, bits = read_image(files[0], alpha)
    return Frames(len(files), shapes[0], lambda i: read_image(files[i], alpha)[0]), [p.name for p in files], bits


def frame_header(path):
    """(width, height, channels) of a PNG or ``.npy`` frame, from its header alone (channels as
    ``read_image`` gives them with alpha)."""
    path = Path(path)
    if path.suffix.lower() == NPY:
        try:
            array = np.load(path, mmap_mode="r", allow_pickle=False)
        except (OSError, ValueError) as error:
            raise ValueError(f"cannot read array {path}: {error}") from None
        if array.ndim not in (2, 3) or not np.issubdtype(array.dtype, np.floating):
            raise ValueError(f"{path} must hold a float (H, W) or (H, W, C) array, got {array.dtype} {array.shape}")
        return array.shape[1], array.shape[0], 1 if array.ndim == 2 else array.shape[2]
    try:
        with Image.open(path) as image:
            return *image.size, PNG_CHANNELS.get(image.mode, len(image.getbands()))
    except (OSError, UnidentifiedImageError) as error:
        raise ValueError(f"cannot read image {path}: {error}") from None


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


def _size(shape):
    return f"{shape[1]}x{shape[0]} with {shape[2]} channels"
