"""The shot's pass EXRs, rendered by Blender, turned into the engine's inputs on disk: depth and
soft-edge control PNGs (16-bit), guide and flow ``.npy`` files, a folder each.

EXRs are read with the OpenEXR library (every part of a multilayer EXR: Blender 5 writes one per
pass, 4.x one for all; float32). What was derived is kept with a stamp of the EXRs it came from,
so a second job on unchanged passes (another prompt, say) derives nothing.
"""

import contextlib
import hashlib
import json
import os
import re
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from ..contract import (
    DERIVED_FOLDERS,
    EXR_FOLDER,
    MADE_BY,
    PASS_NAMES,
    atomic_path,
    check_ours,
    pass_stamp,
    write_text_atomically,
)
from ..shot.frame_inputs import RANGE_PASSES, ShotRanges, frame_extremes, frame_inputs, shot_ranges
from ..shot.guides import GUIDE_CHANNELS
from .image_sequences import NPY, PNG, write_png

SUFFIXES = {"depth": PNG, "softedge": PNG, "guide": NPY, "flow": NPY}
STAMP = "derived.json"
RANGES = "ranges.json"  # the shot's depth and coordinate ranges, shared by the chunks
DERIVATION = 2  # bump when what is derived from the same passes changes: stamps of older ones no longer match
GUIDE_DTYPE = np.float16
MAX_WORKERS = 4  # frames derived at once (each holds its passes: ~1 GB at 1080p with its temporaries)
COMPONENTS = ("R", "G", "B", "A", "X", "Y", "Z", "W")  # Blender's order (an EXR stores them sorted by name)


def read_exr_passes(path: str | Path, names: tuple[str, ...] = PASS_NAMES) -> dict[str, np.ndarray]:
    """The passes ``names`` of a multilayer EXR as {name: (H, W, C) float32}, row 0 at the top;
    raises ValueError naming the file when it cannot be read or lacks one of them."""
    import OpenEXR

    try:
        with OpenEXR.File(str(path), separate_channels=True) as exr:
            found = {}
            for part in exr.parts:
                for channel, data in part.channels.items():
                    name, component = _pass_and_component(channel)
                    if name in names:
                        found.setdefault(name, {})[component] = data.pixels
    except (OSError, RuntimeError) as error:
        raise ValueError(f"cannot read pass EXR {path}: {error}") from None
    missing = [name for name in names if name not in found]
    if missing:
        raise ValueError(f"{path} has no {', '.join(missing)} pass")
    return {name: np.stack([channels[c] for c in sorted(channels, key=_component_rank)], axis=-1).astype(np.float32)
            for name, channels in found.items()}


def _pass_and_component(channel):
    layer, _, component = channel.rpartition(".")
    return layer.rpartition(".")[2] or component, component  # "ViewLayer.Depth.Z" → (Depth, Z)


def _component_rank(component):
    """Blender's components in Blender's order, any other after them by name."""
    return (COMPONENTS.index(component) if component in COMPONENTS else len(COMPONENTS), component)


def derived_files(exr_files: list[Path], folder: str | Path) -> dict[str, list[Path]]:
    """{kind: files} that ``derive_inputs`` writes for ``exr_files``: ``folder/kind/<EXR's name>``."""
    return {kind: [Path(folder) / kind / Path(exr).with_suffix(SUFFIXES[kind]).name for exr in exr_files]
            for kind in DERIVED_FOLDERS}


def derive_inputs(exr_files: list[Path], folder: str | Path, size: tuple[int, int],
                  progress=None, frames=None, notes=None) -> dict[str, list[Path]]:
    """Write the inputs of the frames of ``exr_files`` into ``folder`` (skipped when its stamp
    says they were made from these very EXRs); returns ``derived_files``. ``size``: (width,
    height) every EXR must have. ``frames``: the indices to derive (a chunk's; default all): the
    ranges are the whole shot's either way, so chunks derived apart agree with each other.
    ``progress(done, total)`` after each frame. Frames are derived on every core at once, each
    EXR read once for the shot's ranges and once for its inputs. Kept inputs that are no longer
    whole are derived again, with a line in the list ``notes``."""
    files, folder = derived_files(exr_files, folder), Path(folder)
    indices = list(range(len(exr_files))) if frames is None else sorted(set(frames))
    stamp_file, stamp = stamp_of(folder, exr_files, frames and indices)
    if kept(stamp_file, stamp, files, indices, notes):
        return files
    check_ours(folder, derived_here)
    folder.mkdir(parents=True, exist_ok=True)
    stamp_file.unlink(missing_ok=True)  # a derivation stopped half-way is never trusted
    with _frame_workers() as workers:
        ranges = _shot_ranges(exr_files, folder, workers)  # written first: it marks the folder as ours
        for kind in files:
            (folder / kind).mkdir(exist_ok=True)
        derived = workers.map(_derive_frame, [exr_files[i] for i in indices],
                              [{kind: paths[i] for kind, paths in files.items()} for i in indices],
                              [ranges] * len(indices), [tuple(size)] * len(indices))
        for done, _ in enumerate(derived, 1):
            if progress:
                progress(done, len(indices))
    write_text_atomically(stamp_file, stamp)
    return files


@contextlib.contextmanager
def _frame_workers():
    """A pool of threads, one per core (NumPy, OpenEXR and the file writes leave the
    interpreter while they work); on leaving early (a stop), frames not started are dropped."""
    pool = ThreadPoolExecutor(max_workers=max(1, min(os.cpu_count() or 1, MAX_WORKERS)))
    try:
        yield pool
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def file_is_whole(path: str | Path) -> bool:
    """Whether a derived file is there and whole: a ``.npy`` as long as its header says, a PNG
    ending in its IEND chunk."""
    path = Path(path)
    try:
        if path.suffix == NPY:
            array = np.load(path, mmap_mode="r", allow_pickle=False)
            return array.size * array.itemsize <= path.stat().st_size
        with open(path, "rb") as file:
            file.seek(-12, os.SEEK_END)
            return file.read(12)[4:8] == b"IEND"
    except (OSError, ValueError):
        return False


def _cached_passes(exr, names=PASS_NAMES):
    """``read_exr_passes`` of a cached pass EXR; one that cannot be read loses its cache stamp,
    so that Blender renders it again on the next run (and the error says so)."""
    try:
        return read_exr_passes(exr, names)
    except ValueError as error:
        pass_stamp(exr).unlink(missing_ok=True)
        raise ValueError(f"{error}; Blender renders it again on the next run") from None


def _derive_frame(exr, paths, ranges, size):
    """Derive one frame's inputs from the EXR ``exr`` into ``paths`` ({kind: file})."""
    passes = _cached_passes(exr)
    height, width = passes["Depth"].shape[:2]
    if (width, height) != size:
        raise ValueError(f"{exr} is {width}x{height}, but the job's size is {size[0]}x{size[1]}")
    for kind, image in frame_inputs(passes, ranges).items():
        _write(paths[kind], image)


def derived_here(folder: str | Path) -> bool:
    """Whether ``folder`` holds inputs this engine derived (its ranges file, with the mark), or
    only the pass EXRs Blender rendered for them (and files being written, hidden), or what an
    earlier version of the engine derived there (its stamp, and nothing but names it writes)."""
    names = {entry.name for entry in Path(folder).iterdir() if not entry.name.startswith(".")}
    if names <= {EXR_FOLDER}:
        return True
    try:
        if json.loads((Path(folder) / RANGES).read_text()).get("made_by") == MADE_BY:
            return True
    except (OSError, ValueError, AttributeError):
        pass
    ours = {EXR_FOLDER, *DERIVED_FOLDERS, STAMP, RANGES}
    return STAMP in names and all(name in ours or re.fullmatch(r"derived_\w+\.json", name) for name in names)


def _shot_ranges(exr_files, folder, workers):
    """The shot's ``ShotRanges``, kept in ``folder`` for the chunks derived after the first."""
    cache, stamp = Path(folder) / RANGES, stamp_of(folder, exr_files)[1]
    if cache.is_file():
        kept = json.loads(cache.read_text())
        if kept.get("stamp") == stamp:
            return ShotRanges(*kept["near_far"], *(np.array(kept[k], np.float32) for k in ("low", "high")))
    ranges = shot_ranges(workers.map(lambda path: frame_extremes(_cached_passes(path, RANGE_PASSES)), exr_files))
    write_text_atomically(cache, json.dumps({"made_by": MADE_BY, "stamp": stamp, "near_far": [ranges.near, ranges.far],
                                             "low": ranges.coordinate_low.tolist(),
                                             "high": ranges.coordinate_high.tolist()}))
    return ranges


def _write(path, image):
    """A control as a 16-bit PNG; a guide as float16 (values in [0, 1], compared within far more
    than its precision), a flow as float32 (pixels, which half precision would round)."""
    if path.suffix == PNG:
        write_png(path, image, bits=16)
    else:
        with atomic_path(path) as partial:
            np.save(partial, image.astype(GUIDE_DTYPE if image.shape[-1] == len(GUIDE_CHANNELS) else np.float32))


def stamp_of(folder, files, frames=None, source="passes", derivation=DERIVATION):
    """(the stamp file in ``folder``, its text) of inputs derived from ``files`` (the ``source``
    they are, derived the way ``derivation`` numbers): each file's name, size and modification
    time, and which ``frames`` were derived (None: all, in ``STAMP``; a chunk's in a file of
    their own)."""
    stats = [(str(path), path.stat().st_size, path.stat().st_mtime_ns) for path in map(Path, files)]
    text = json.dumps({"derivation": derivation, source: stats, **({"frames": frames} if frames else {})})
    name = STAMP if not frames else f"derived_{hashlib.sha256(json.dumps(frames).encode()).hexdigest()[:12]}.json"
    return Path(folder) / name, text


def kept(stamp_file, stamp, files, indices, notes=None):
    """Whether the derived ``files`` ({kind: paths}) of frames ``indices`` can be used as they are:
    ``stamp_file`` holds ``stamp`` and each is whole (a note in the list ``notes`` when some are
    not)."""
    if not (stamp_file.is_file() and stamp_file.read_text() == stamp):
        return False
    damaged = [kind[i] for kind in files.values() for i in indices if not file_is_whole(kind[i])]
    if damaged and notes is not None:
        notes.append(f"{len(damaged)} derived input files were damaged (first {damaged[0]}): derived again")
    return not damaged
