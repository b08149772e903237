"""Footage turned into the engine's inputs: the motion between its frames, estimated
(``estimated_motion``), and a soft-edge control image of each, derived into a folder
(``flow/`` float16 ``.npy``, ``softedge/`` 16-bit PNG, named after the frames) and kept with a
stamp of the footage files, so a second job on the same footage derives nothing. The frames are
their own guides and base images.
"""

import json
from pathlib import Path

import cv2
import numpy as np

from ..contract import MADE_BY, atomic_path, check_ours, write_text_atomically
from ..shot.frames import Frames
from .estimated_motion import EstimatedMotion
from .image_sequences import NPY, PNG, frame_header, read_image, write_png
from .passes import kept, stamp_of

FOOTAGE_FOLDERS = {"flow": NPY, "softedge": PNG}  # what is derived from footage, a folder each
FOOTAGE_CONTROLS = ("softedge",)  # the control images footage gives the diffusion painter
DERIVATION = 1  # bump when what is derived from the same footage changes
MARK = "footage.json"  # written first into a folder this engine derives footage into
EDGE_BLUR = 1.0  # pixels: the soft edges of the picture's shapes, not of its grain
EDGE_PERCENTILE = 99  # the gradient that counts as a full edge, so one hard edge does not dim the rest


def footage_files(frames, folder):
    """{kind: files} that ``derive_footage`` writes for the footage ``frames``: ``folder/kind/<frame's name>``."""
    return {kind: [Path(folder) / kind / Path(frame).with_suffix(suffix).name for frame in frames]
            for kind, suffix in FOOTAGE_FOLDERS.items()}


def footage_derived_here(folder):
    """Whether ``folder`` holds what this engine derived from footage (its mark)."""
    try:
        return json.loads((Path(folder) / MARK).read_text()).get("made_by") == MADE_BY
    except (OSError, ValueError, AttributeError):
        return False


def derive_footage(frames, folder, size, progress=None, indices=None, notes=None):
    """Write the inputs of the footage ``frames`` (PNG files in order) into ``folder``, skipped when
    its stamp says they were made from these very files; returns ``footage_files``. ``size``:
    (width, height) every frame must have (a ValueError names the first that has not).
    ``indices``: the frames to derive (a chunk's; default all). ``progress(done, total)`` after
    each frame; kept inputs no longer whole are derived again, with a line in the list ``notes``."""
    files, folder = footage_files(frames, folder), Path(folder)
    indices = list(range(len(frames))) if indices is None else sorted(set(indices))
    stamp_file, stamp = stamp_of(folder, frames, indices if len(indices) < len(frames) else None, "footage",
                                 DERIVATION)
    if kept(stamp_file, stamp, files, indices, notes):
        return files
    for path in frames:
        width, height, _ = frame_header(path)
        if (width, height) != tuple(size):
            raise ValueError(f"{Path(path).name} is {width}x{height}, but the footage is {size[0]}x{size[1]}")
    check_ours(folder, footage_derived_here)
    folder.mkdir(parents=True, exist_ok=True)
    write_text_atomically(folder / MARK, json.dumps({"made_by": MADE_BY}))
    stamp_file.unlink(missing_ok=True)  # a derivation stopped half-way is never trusted
    for kind in files:
        (folder / kind).mkdir(exist_ok=True)
    pictures = Frames(len(frames), (size[1], size[0], 3), lambda i: read_image(frames[i])[0])
    motion = EstimatedMotion(pictures)
    for done, index in enumerate(indices, 1):
        with atomic_path(files["flow"][index]) as partial:
            np.save(partial, motion.field(index).astype(np.float16))  # estimates good to a pixel or so
        write_png(files["softedge"][index], soft_edges(pictures[index]), bits=16)
        if progress:
            progress(done, len(indices))
    write_text_atomically(stamp_file, stamp)
    return files


def soft_edges(picture):
    """A soft-edge control image (H, W, 1) in [0, 1] of a picture (H, W, C): the strength of its
    shapes' edges, blurred a little, the strongest ``EDGE_PERCENTILE``-th percent full white."""
    picture = np.asarray(picture, np.float32)
    grey = picture[..., :3].mean(axis=-1) if picture.shape[-1] >= 3 else picture[..., 0]
    grey = cv2.GaussianBlur(grey, (0, 0), EDGE_BLUR)
    strength = np.hypot(cv2.Sobel(grey, cv2.CV_32F, 1, 0, ksize=3), cv2.Sobel(grey, cv2.CV_32F, 0, 1, ksize=3))
    full = max(float(np.percentile(strength, EDGE_PERCENTILE)), 1e-3)
    return np.clip(strength / full, 0, 1)[..., None]
