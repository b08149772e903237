"""A job's frames: control images, guide passes and optional flow, checked for size up front
and read one frame at a time when a stage asks for it (``shot.frames.Frames``)."""

from typing import NamedTuple

import numpy as np

from ..shot.frames import Frames, stacked
from ..shot.guides import FLOW_CHANNELS
from .image_sequences import PNG, frame_header, read_image
from .job import JobError


class ShotInputs(NamedTuple):
    """A job's frames, read when asked for, and what was left out of them (for result.json's notes)."""

    controls: dict  # name → Frames (N, H, W, 3) float32
    guides: Frames  # (N, H, W, C) float32
    flows: Frames | None  # (N, H, W, 2 or 4) float32
    notes: list
    looks: Frames | None = None  # (N, H, W, 3) float32: the scene's own look of each frame (the Scene base)


def read_inputs(job):
    """The job's ``ShotInputs``. Every file's size and channels are checked here, from its
    header; its pixels are read when a stage asks for the frame. An alpha channel in a PNG is no
    guide and no ControlNet input: it is left out, and a note per field says so.

    Raises ``JobError`` naming the field and file of an unreadable frame or one of the wrong size.
    """
    problems, notes = [], []
    controls = {name: _frames(f"controls.{name}.frames", files, job.size, problems, notes, colour=True)
                for name, files in job.controls.items()}
    guides = [_frames(f"guides[{i}]", files, job.size, problems, notes) for i, files in enumerate(job.guides)]
    flows = None if job.flow is None else _frames("flow", job.flow, job.size, problems, notes)
    looks = None if job.looks is None else _frames("looks", job.looks, job.size, problems, notes, colour=True)
    if problems:
        raise JobError(problems)
    if flows is not None and flows.shape[-1] not in FLOW_CHANNELS:
        raise JobError([f"flow: frames must have {', '.join(map(str, FLOW_CHANNELS))} channels, not "
                        f"{flows.shape[-1]}"])
    return ShotInputs(controls, stacked(guides), flows, notes, looks)


def _frames(field, files, size, problems, notes, colour=False):
    """``Frames`` of ``files`` (all of one size and channel count), or None with the problem added."""
    channels = None
    for path in files:
        try:
            width, height, found = frame_header(path)
        except ValueError as error:
            problems.append(f"{field}: {error}")
            return None
        if (width, height) != tuple(size):
            problems.append(f"{field}: {path.name} is {width}x{height}, but the job's size is {size[0]}x{size[1]}")
            return None
        if path.suffix.lower() == PNG and found == 4:
            found = 3
            if not any(note.startswith(f"{field}:") for note in notes):
                notes.append(f"{field}: the alpha channel of its PNGs is not used ({path.name} is the first)")
        if channels is not None and found != channels:
            problems.append(f"{field}: {path.name} has {found} channels, but {files[0].name} has {channels}")
            return None
        channels = found
    wanted = 3 if colour else channels

    def read(index):
        image = read_image(files[index])[0]  # a PNG's alpha left out; a 4-channel .npy is a flow, read whole
        return np.repeat(image, 3, axis=2) if image.shape[2] == 1 and wanted == 3 else image

    return Frames(len(files), (size[1], size[0], wanted), read)
