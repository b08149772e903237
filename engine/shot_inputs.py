"""Reading a job's frames: control images, guide passes and optional flow, checked for size."""

import numpy as np

from .image_sequences import read_image
from .job import JobError


def read_inputs(job):
    """(controls: name → (N, 3, H, W) float32, guides (N, H, W, C) float32, flows or None).

    Raises ``JobError`` naming the field and file of an unreadable frame or one of the wrong size.
    """
    problems = []
    controls = {name: _stack(f"controls.{name}.frames", files, job.size, problems, colour=True)
                for name, files in job.controls.items()}
    guides = [_stack(f"guides[{i}]", files, job.size, problems) for i, files in enumerate(job.guides)]
    flows = None if job.flow is None else _stack("flow", job.flow, job.size, problems)
    if problems:
        raise JobError(problems)
    if flows is not None and flows.shape[-1] not in (2, 4):
        raise JobError([f"flow: frames must have 2 or 4 channels, not {flows.shape[-1]}"])
    controls = {name: np.ascontiguousarray(images.transpose(0, 3, 1, 2)) for name, images in controls.items()}
    return controls, np.ascontiguousarray(np.concatenate(guides, axis=-1)), flows


def _stack(field, files, size, problems, colour=False):
    frames = []
    for path in files:
        try:
            image, _ = read_image(path)
        except ValueError as error:
            problems.append(f"{field}: {error}")
            return None
        if (image.shape[1], image.shape[0]) != tuple(size):
            problems.append(f"{field}: {path.name} is {image.shape[1]}x{image.shape[0]}, but the job's size is "
                            f"{size[0]}x{size[1]}")
            return None
        if colour and image.shape[2] == 1:
            image = np.repeat(image, 3, axis=2)
        frames.append(image)
    return np.stack(frames)
