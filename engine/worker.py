"""``python -m diffsynth_render.engine run JOB.json``: render a shot described by a job file.

Progress goes to stdout as JSON lines (``--progress jsonl``: ``progress`` events, then one
``done`` or ``error``; ``contract`` defines them) or as a bar on stderr. A job that names pass
EXRs has its controls, guides and flows derived from them first. SIGTERM, SIGINT, the job's
cancel file (``contract.cancel_file``) or, with ``--stop-with-stdin``, stdin closing stop the job
within one denoising step. The frames and then ``result.json`` go into a temporary folder put in
the place of the output folder when complete: a stopped or failed job leaves the output folder as
it was. ``--chunk K/N`` renders one chunk of a job split for a farm into a folder of its own.
"""

import dataclasses
import json
import shutil
import time
from pathlib import Path

from ..chunking import CHUNKS_FOLDER, parse_chunk
from ..contract import (
    MADE_BY,
    RESULT_FILE,
    cancel_file,
    check_ours,
    replace_folder,
    result_folder,
    write_text_atomically,
)
from ..job_spec import DiffusionSpec, StyleSpec
from .process_control import Events, StopRequest, failure, guarded, space_needed

FLAT = 1 / 255  # a frame whose every channel stays within one 8-bit step is one flat colour
KEYFRAMES_FOLDER = ".keyframes"  # painted keyframes, while frames are carried from them


def add_command(commands):
    """Add the ``run`` sub-command to an argparse sub-parser set."""
    parser = commands.add_parser("run", help="render a shot described by a job file", description=__doc__)
    parser.add_argument("job", type=Path, help="the job JSON file (schema in the README)")
    parser.add_argument("--progress", choices=("jsonl", "bar"), default="bar",
                        help="JSON lines on stdout (for programs) or a progress bar on stderr")
    parser.add_argument("--chunk", metavar="K/N", type=_chunk_argument,
                        help="render only chunk K of the N the job's chunks field splits the shot into, into "
                             f"OUTPUT/{CHUNKS_FOLDER}/chunk_K (then: engine stitch JOB)")
    parser.add_argument("--gallery", action="store_true",
                        help="paint the job's first frame in every built-in style (and its style image) as "
                             "thumbnails into OUTPUT, instead of the shot (a style job)")
    parser.add_argument("--stop-with-stdin", action="store_true",
                        help="stop as on SIGTERM when stdin closes: for a program that starts the engine with a "
                             "pipe as its stdin, so that the engine never outlives it")
    parser.set_defaults(run=run)


def _chunk_argument(text):
    import argparse

    try:
        return parse_chunk(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def run(args):
    """Run the command; returns the exit status."""
    events = Events(args.progress == "jsonl", "run")
    try:
        from .footage import footage_derived_here
        from .job import JobError, read_job  # here, so that the engine's CLI starts without numpy
        from .passes import derived_here
    except ImportError as error:
        return failure(events, error)
    try:
        job = read_job(args.job)
        chunk = args.chunk and chosen_chunk(job, *args.chunk)
    except JobError as error:
        return events.error("job", f"{args.job}: the job is not valid", error.problems)
    folder = job.output / CHUNKS_FOLDER / chunk.folder_name if chunk else job.output
    try:
        if job.derived:
            check_ours(job.derived[1], derived_here if job.passes else footage_derived_here)
    except ValueError as error:
        return events.error("job", f"{args.job}: the folder for derived inputs is not the engine's",
                            [f"{job.spec.derived_from.key}.derived: {error}"])
    try:
        partial = result_folder(folder)
    except ValueError as error:
        return events.error("job", f"{args.job}: the output folder cannot take the frames", [f"output: {error}"])
    stop = StopRequest(events, cancel_file(args.job), partial, watch_stdin=args.stop_with_stdin)

    def work():
        if chunk:
            part = job.part(chunk.start, chunk.stop, partial)
            anchor = job.part(job.anchor, job.anchor + 1, partial) if isinstance(job.spec.painter, DiffusionSpec) \
                else None
        else:
            part, anchor = dataclasses.replace(job, output=partial), None
        if args.gallery:
            from .style_gallery import paint_gallery

            names, seconds, notes = paint_gallery(part, events, stop, lambda: _derive(part, events, stop))
        else:
            names, seconds, notes = _render(part, events, stop, anchor)
        return events.done(replace_folder(partial, folder), names, seconds, notes)

    count = chunk.stop - chunk.start if chunk else len(job.guides[0])
    return guarded(events, stop, work, (folder.parent, space_needed(job, count)))


def chosen_chunk(job, number, count):
    """Chunk ``number`` of ``count`` of ``job``; raises ``JobError`` when the job splits otherwise."""
    from .job import JobError

    if job.chunks is None:
        raise JobError([f"chunks: --chunk {number}/{count} needs a job that splits the shot (its chunks field)"])
    if count != len(job.chunks):
        raise JobError([f"chunks: the job splits the shot into {len(job.chunks)} chunks, not {count}"])
    return job.chunks[number - 1]


def _render(job, events, stop, anchor=None):
    """Render ``job``, a shot or a chunk's part of one (``anchor``: the anchor frame's job, for
    the diffusion painter), into its output folder; returns (frame names, seconds, notes).

    Frames are made, blended and written one after another, each stage asking the one before
    for the frames of its window: nothing holds the whole shot. In keyframe mode the painter
    paints the keyframes as a shot of their own, and their paint is carried to every frame."""
    from .progress import StageClock
    from .shot_inputs import read_inputs

    started = time.perf_counter()
    clock = StageClock()
    events.estimate.clock = clock
    count = len(job.guides[0])
    _expect_work(events.estimate, job, count, anchor is not None)
    derive_notes = []
    if job.derived:
        from .memory_budget import return_freed_memory

        with clock("derive"):
            derive_notes = _derive(job, events, stop, anchor)
            return_freed_memory()
        events.estimate.settle("derive")
    with clock("read"):
        inputs = read_inputs(job)
        anchor_inputs = read_inputs(anchor) if anchor else None
    painted = _painted_shot(job, inputs)
    painter = PAINTERS[type(job.spec.painter)]
    frames, details = painter(job, painted, clock, events, stop, anchor_inputs)
    if job.keyframes:
        frames = _carried(job, inputs, frames, len(job.keyframes), clock, events, stop)
    names, flat = _write_frames(job, frames, count, clock, events, stop)
    timings = {**clock.seconds, "total": time.perf_counter() - started}
    details["notes"] = [*job.notes, *derive_notes, *inputs.notes, *details.get("notes", [])]
    if flat:
        details["notes"].append("every frame came out one flat colour: does the camera see the scene (not from "
                                "inside a closed mesh), and does light reach what it sees?")
    if job.keyframes is not None:
        details["keyframes"] = [job.first_frame + index for index in job.keyframes]
    _write_result(job, names, timings, details)
    return names, timings["total"], details["notes"]


@dataclasses.dataclass(frozen=True)
class _PaintedShot:
    """The frames a painter paints: the shot's controls, guides and flows, and the blend over
    them (in keyframe mode: the keyframes' alone, their window counted in keyframes)."""

    controls: dict
    guides: object
    flows: object
    blend: object
    looks: object = None  # the scene's look of each frame (the Scene base), or None


def _painted_shot(job, inputs):
    blend = job.settings.blend
    if not job.keyframes:
        return _PaintedShot(inputs.controls, inputs.guides, inputs.flows, blend, inputs.looks)
    from .keyframe_mode import keyframe_blend, keyframe_shot

    guides, flows = keyframe_shot(inputs.guides, inputs.flows, job.keyframes)
    controls = {name: images[list(job.keyframes)] for name, images in inputs.controls.items()}
    looks = None if inputs.looks is None else inputs.looks[list(job.keyframes)]
    return _PaintedShot(controls, guides, flows, keyframe_blend(blend, job.keyframes), looks)


def _expect_work(estimate, job, count, anchored):
    """Declare the work of ``job`` (``count`` frames; ``anchored``: a chunk that also denoises
    the anchor frame) to ``estimate``, by stage and step, in frames."""
    settings, steps = job.settings, job.steps
    painted = len(job.keyframes) if job.keyframes else count
    if job.derived:
        estimate.expect("derive", count + anchored)
    if isinstance(job.spec.painter, StyleSpec):
        estimate.expect("paint", painted)
    else:
        for step in range(settings.first_step, steps):
            estimate.expect("denoise", painted + anchored, step)
            if step in settings.smoothing_steps:
                for stage in ("decode", "blend", "encode"):
                    estimate.expect(stage, painted, step)
        estimate.expect("decode", painted, steps)
    if settings.final_smoothing:
        estimate.expect("blend", painted, steps)
    if job.keyframes:
        estimate.expect("carry", count, steps)
    estimate.expect("write", count, steps)


def _diffuse(job, shot, clock, events, stop, anchor_inputs=None):
    """The diffusion painter's frames of ``shot``, as (index, (H, W, 3)) in order, and what
    result.json says of its run; ``anchor_inputs``: a chunk's anchor frame's inputs."""
    from ..shot.frames import joined
    from .devices import resolve_device
    from .models import load_components
    from .pipeline import DiffSynthPipeline

    _quiet_libraries()
    controls, start = shot.controls, None
    settings = dataclasses.replace(job.settings, blend=shot.blend)
    if settings.first_step:  # an image-to-image start: from the frames' base images
        start = _base_images(shot, job.spec.painter.base_image)
    if anchor_inputs is not None:
        controls = {name: joined(anchor_inputs.controls[name], images) for name, images in controls.items()}
        if start is not None:
            start = joined(_base_images(anchor_inputs, job.spec.painter.base_image), start)
    with clock("load"):
        device, dtype = resolve_device(job.spec.device)
        parts = load_components(**job.model)
        pipeline = DiffSynthPipeline(parts, device, dtype)

    def progress(stage, step, steps, done, total):
        stop.check()
        clock.mark(stage)
        events.progress(stage, step, steps, done, total)

    def step_preview(step, frame):
        from ..contract import atomic_path, step_preview_file
        from .image_sequences import write_png

        with atomic_path(step_preview_file(job.path)) as partial:
            write_png(partial, frame.numpy())
        events.step_preview(step_preview_file(job.path), step + 1, settings.steps)

    frames = clock.charged(pipeline.stream(settings, controls, shot.guides, shot.flows, progress=progress,
                                           anchor=anchor_inputs is not None,
                                           step_preview=step_preview if events.jsonl else None, start=start))
    return frames, {"device": str(device), "dtype": str(dtype).replace("torch.", ""), "models": parts.origin,
                    "model_hashes": parts.hashes}


def _base_images(shot, kind):
    """``Frames`` of the base image of ``kind`` of each frame of ``shot`` (its ``guides`` and
    ``looks``: a ``ShotInputs`` or ``_PaintedShot``)."""
    from ..shot.base_images import base_image
    from ..shot.frames import Frames

    guides, looks = shot.guides, shot.looks
    return Frames(len(guides), (*guides.shape[1:3], 3),
                  lambda i: base_image(guides[i], kind, None if looks is None else looks[i]))


def _paint(job, shot, clock, events, stop, anchor_inputs=None):
    """The style painter's frames of ``shot``, as (index, (H, W, 3)) in order, painted one by one
    as the blend on its guides and flows asks for them; and what result.json says of its run."""

    from ..shot.frames import Frames
    from .style_painter import StylePainter

    settings, guides = job.settings, shot.guides
    bases = _base_images(shot, settings.base)
    with clock("load"):
        painter = StylePainter(settings, job.spec.device)

    def paint(index):
        stop.check()
        with clock("paint"):
            frame = painter(bases[index])
        events.progress("paint", 0, job.steps, index + 1, len(guides))
        return frame

    frames = Frames(len(guides), (*guides.shape[1:3], 3), paint)
    if settings.final_smoothing:
        from .deflicker import PatchBlender  # torch: only for a blend

        blender = PatchBlender.for_shot(guides, shot.blend, shot.flows, keep_fields=False)
        frames = clock.charged(blender.stream(frames, _stage_progress(events, "blend", job.steps, stop)), "blend")
    else:
        frames = enumerate(frames)
    return frames, {"device": painter.device, "style": settings.describe(), "notes": painter.notes}


PAINTERS = {DiffusionSpec: _diffuse, StyleSpec: _paint}  # the painter of each spec type


def _carried(job, inputs, painted, count, clock, events, stop):
    """The whole shot, as (index, frame) in order, from the ``count`` painted keyframes
    ``painted`` (in order, as (index, frame)); they wait on disk in the output folder until no
    frame needs them."""
    from ..shot.frames import spilled
    from .keyframe_mode import carry_keyframes

    guides, flows = inputs.guides, inputs.flows
    keyframes = spilled(painted, count, (*guides.shape[1:3], 3), job.output / KEYFRAMES_FOLDER)
    return clock.charged(carry_keyframes(guides, flows, job.keyframes, keyframes, job.settings.blend,
                                         _stage_progress(events, "carry", job.steps, stop)), "carry")


def _stage_progress(events, stage, steps, stop):
    """A ``progress(done, total)`` reporting ``stage`` of the closing step; stops when asked."""
    def progress(done, total):
        stop.check()
        events.progress(stage, steps, steps, done, total)

    return progress


def _derive(job, events, stop, anchor=None):
    """Derive the job's inputs from its passes or footage: a chunk's frames and its anchor frame,
    or all; returns notes on what had to be derived again."""
    from .footage import derive_footage
    from .job import JobError
    from .passes import derive_inputs

    def progress(done, total):
        stop.check()
        events.progress("derive", 0, job.steps, done, total)

    frames = None if job.span is None else {*range(*job.span), *(range(*anchor.span) if anchor else ())}
    notes = []
    try:
        if job.passes:
            derive_inputs(*job.passes, job.size, progress, frames, notes)
        else:
            derive_footage(*job.footage, job.size, progress, frames, notes)
    except ValueError as error:
        raise JobError([f"{job.spec.derived_from.key}.frames: {error}"]) from None
    return notes


def _write_frames(job, frames, count, clock, events, stop):
    """Write each (index, frame) of the ``count`` ``frames`` as it comes (clipped to [0, 1]);
    returns (the names, whether every frame came out one flat colour)."""
    import numpy as np

    from .image_sequences import write_png

    names, flat = [], True
    for index, frame in frames:
        stop.check()
        with clock("write"):
            names.append(job.frame_name(index))
            pixels = np.clip(np.asarray(frame), 0, 1)
            flat = flat and flat_colour(pixels)
            write_png(job.output / names[-1], pixels)
        events.progress("write", job.steps, job.steps, index + 1, count)
    shutil.rmtree(job.output / KEYFRAMES_FOLDER, ignore_errors=True)
    return names, flat


def flat_colour(frame):
    """Whether every channel of ``frame`` (H, W, C) stays within ``FLAT`` across the picture."""
    return float((frame.max(axis=(0, 1)) - frame.min(axis=(0, 1))).max()) <= FLAT


def _write_result(job, names, timings, details):
    from .environment import library_versions

    result = {"made_by": MADE_BY, "schema": job.raw.get("schema"), "job": str(job.path), "painter": job.painter,
              "preset": job.preset, "settings": dataclasses.asdict(job.settings), "frames": names,
              "size": list(job.size),
              "timings_s": {k: round(v, 3) for k, v in timings.items()}, **details,
              "libraries": library_versions()}
    if job.span is not None:  # what ``engine stitch`` checks before it trusts the chunk
        result["chunk_of"] = {"job": job.digest, "frames": list(job.span)}
    write_text_atomically(job.output / RESULT_FILE, json.dumps(result, indent=1, default=str))


def _quiet_libraries():
    import warnings

    from diffusers.utils import logging as diffusers_logging
    from transformers.utils import logging as transformers_logging

    diffusers_logging.set_verbosity_error()
    transformers_logging.set_verbosity_error()
    warnings.filterwarnings("ignore", module="diffusers|transformers|torch")


