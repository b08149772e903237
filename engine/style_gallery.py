"""``engine run JOB --gallery``: the job's first frame painted in every built-in style (and in its
style image, if it names one), as thumbnails for the style picker: the styles on the artist's
own scene instead of the sample shot's.

The frame is painted at the job's size from its base image, as the style painter paints a
shot's frame, then shrunk to ``THUMBNAIL_SIDE`` on its longer side: ``style_00.png`` …
``style_25.png`` and ``style_image.png``, then ``result.json``.
"""

import dataclasses
import json
import time

from ..contract import MADE_BY, RESULT_FILE, STYLE_COUNT, style_thumbnail, style_weights, write_text_atomically
from ..job_spec import StyleSpec

THUMBNAIL_SIDE = 256
IMAGE_THUMBNAIL = "style_image.png"


def paint_gallery(job, events, stop, derive):
    """Write the gallery of ``job`` (a style job) into its output folder; ``derive()`` derives its
    inputs from its passes first (returns notes). Returns (file names, seconds, notes)."""
    import cv2
    import numpy as np

    from ..shot.base_images import base_image
    from .image_sequences import write_png
    from .job import JobError
    from .progress import StageClock
    from .shot_inputs import read_inputs
    from .style_painter import StylePainter

    if not isinstance(job.spec.painter, StyleSpec):
        raise JobError([f"painter: the gallery shows the style painter's styles, not the {job.painter} painter's"])
    started, clock = time.perf_counter(), StageClock()
    events.estimate.clock = clock
    styles = [(style_thumbnail(index), dataclasses.replace(job.settings, weights=style_weights(index), image=None))
              for index in range(STYLE_COUNT)]
    if job.settings.image:
        styles.append((IMAGE_THUMBNAIL, job.settings))
    if job.derived:
        events.estimate.expect("derive", len(job.guides[0]))
    events.estimate.expect("paint", len(styles))
    notes = derive() if job.derived else []
    inputs = read_inputs(job)
    base = base_image(inputs.guides[0], job.settings.base, None if inputs.looks is None else inputs.looks[0])
    height, width = base.shape[:2]
    scale = THUMBNAIL_SIDE / max(height, width)
    for done, (name, settings) in enumerate(styles, 1):
        stop.check()
        with clock("paint"):
            painter = StylePainter(settings, job.spec.device)
            painted = painter(base)
            if scale < 1:
                size = (round(width * scale), round(height * scale))
                painted = cv2.resize(painted, size, interpolation=cv2.INTER_AREA)
            write_png(job.output / name, np.clip(painted, 0, 1))
        notes += painter.notes
        events.progress("paint", 0, 1, done, len(styles))
    names = [name for name, _ in styles]
    write_text_atomically(job.output / RESULT_FILE, json.dumps(
        {"made_by": MADE_BY, "job": str(job.path), "gallery": names, "frame": job.first_frame,
         "notes": [*job.notes, *notes], "timings_s": {k: round(v, 3) for k, v in clock.seconds.items()}}, indent=1))
    return names, time.perf_counter() - started, notes
