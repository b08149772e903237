"""Reading a job's frames: control images, guide passes and optional flow, checked for size."""

from typing import NamedTuple

import numpy as np

from .image_sequences import PNG, read_image
from .job import JobError


class ShotInputs(NamedTuple):
    """A job's frames as arrays, and what was left out of them (for result.json's notes)."""

    controls: dict  # name → (N, 3, H, W) float32
    guides: np.ndarray  # (N, H, W, C) float32
    flows: np.ndarray | None  # (N, H, W, 2 or 4) float32
    notes: list


def read_inputs(job):
    """The job's ``ShotInputs``. An alpha channel in a PNG is no guide and no ControlNet input:
    it is left out, and a note per field says so.

    Raises ``JobError`` naming the field and file of an unreadable frame or one of the wrong size.
    """
    problems, notes = [], []
    controls = {name: _stack(f"controls.{name}.frames", files, job.size, problems, notes, colour=True)
                for name, files in job.controls.items()}
    guides = [_stack(f"guides[{i}]", files, job.size, problems, notes) for i, files in enumerate(job.guides)]
    flows = None if job.flow is None else _stack("flow", job.flow, job.size, problems, notes)
    if problems:
        raise JobError(problems)
    if flows is not None and flows.shape[-1] not in (2, 4):
        raise JobError([f"flow: frames must have 2 or 4 channels, not {flows.shape[-1]}"])
    controls = {name: np.ascontiguousarray(images.transpose(0, 3, 1, 2)) for name, images in controls.items()}
    return ShotInputs(controls, np.ascontiguousarray(np.concatenate(guides, axis=-1)), flows, notes)


def _stack(field, files, size, problems, notes, colour=False):
    frames, alpha_noted = [], False
    for path in files:
        png = path.suffix.lower() == PNG  # a 4-channel .npy is a flow field, not colour and alpha
        try:
            image, _ = read_image(path, alpha=png)
        except ValueError as error:
            problems.append(f"{field}: {error}")
            return None
        if png and image.shape[2] == 4:
            image = image[..., :3]
            if not alpha_noted:
                notes.append(f"{field}: the alpha channel of its PNGs is not used ({path.name} is the first)")
                alpha_noted = True
        if (image.shape[1], image.shape[0]) != tuple(size):
            problems.append(f"{field}: {path.name} is {image.shape[1]}x{image.shape[0]}, but the job's size is "
                            f"{size[0]}x{size[1]}")
            return None
        if colour and image.shape[2] == 1:
            image = np.repeat(image, 3, axis=2)
        frames.append(image)
    return np.stack(frames)
