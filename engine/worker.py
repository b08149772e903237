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
import os
import shutil
import signal
import socket
import sys
import threading
import time
from pathlib import Path

from ..chunking import CHUNKS_FOLDER, parse_chunk
from ..contract import (
    ERROR_KINDS,
    LOW_SPACE,
    MADE_BY,
    RESULT_FILE,
    STOP_GRACE_S,
    DiskFull,
    Done,
    Exit,
    Failure,
    Progress,
    cancel_file,
    check_ours,
    event_line,
    first_line,
    free_space,
    replace_folder,
    result_folder,
    write_text_atomically,
)

# Bytes per pixel a run writes: float16 guides (10 channels, shot/guides.py), a float32 flow (2),
# two 16-bit controls and a PNG frame (about 4, compressed).
BYTES_PER_PIXEL = 10 * 2 + 2 * 4 + 2 * 2 + 4
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
        from .job import JobError, read_job  # here, so that the engine's CLI starts without numpy
        from .passes import derived_here
    except ImportError as error:
        return _failure(events, error)
    try:
        job = read_job(args.job)
        chunk = args.chunk and chosen_chunk(job, *args.chunk)
    except JobError as error:
        return events.error("job", f"{args.job}: the job is not valid", error.problems)
    folder = job.output / CHUNKS_FOLDER / chunk.folder_name if chunk else job.output
    try:
        if job.passes:
            check_ours(job.passes[1], derived_here)
    except ValueError as error:
        return events.error("job", f"{args.job}: the folder for derived inputs is not the engine's",
                            [f"passes.derived: {error}"])
    try:
        partial = result_folder(folder)
    except ValueError as error:
        return events.error("job", f"{args.job}: the output folder cannot take the frames", [f"output: {error}"])
    stop = StopRequest(events, cancel_file(args.job), partial, watch_stdin=args.stop_with_stdin)

    def work():
        if chunk:
            part = job.part(chunk.start, chunk.stop, partial)
            anchor = job.part(job.anchor, job.anchor + 1, partial) if job.painter == "diffusion" else None
        else:
            part, anchor = dataclasses.replace(job, output=partial), None
        names, seconds, notes = _render(part, events, stop, anchor)
        return events.done(replace_folder(partial, folder), names, seconds, notes)

    count = chunk.stop - chunk.start if chunk else len(job.guides[0])
    return guarded(events, stop, work, (folder.parent, space_needed(job, count)))


def guarded(events, stop, work, space=None):
    """``work()``'s exit status, or any failure reported as one error event (with its status);
    ``stop`` is released however it ends, and its folder removed unless the work put it in place.
    ``space``: (folder, bytes the work needs there): a write failing where the disk has next to
    no space left is reported as a full disk."""
    from .job import JobError

    try:
        return work()
    except Cancelled:
        return events.error("cancelled", "cancelled; the output folder is as it was")
    except JobError as error:
        return events.error("input", "an input frame is not usable", error.problems)
    except OSError as error:
        if space is not None and free_space(space[0]) < LOW_SPACE:
            return events.error("disk-full", first_line(DiskFull(*space)))
        return _failure(events, error)
    except Exception as error:  # the one place that turns any failure into an error event
        return _failure(events, error)
    finally:
        stop.release()


def space_needed(job, count):
    """About how many bytes a job's run writes: its derived inputs and its frames (a chunk's
    run: ``count`` frames)."""
    width, height = job.size
    return count * width * height * BYTES_PER_PIXEL


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
    for the frames of its window: nothing holds the whole shot."""
    from .progress import StageClock
    from .shot_inputs import read_inputs

    _quiet_libraries()
    started = time.perf_counter()
    clock = StageClock()
    events.estimate.clock = clock
    count = len(job.guides[0])
    _expect_work(events.estimate, job, count, anchor is not None)
    derive_notes = []
    if job.passes:
        from .memory_budget import return_freed_memory

        with clock("derive"):
            derive_notes = _derive(job, events, stop, anchor)
            return_freed_memory()
        events.estimate.settle("derive")
    with clock("read"):
        inputs = read_inputs(job)
        anchor_controls = read_inputs(anchor).controls if anchor else None
    if job.painter == "style":
        frames, details = _paint(job, inputs, clock, events, stop)
    else:
        frames, details = _diffuse(job, inputs, clock, events, stop, anchor_controls)
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


def _expect_work(estimate, job, count, anchored):
    """Declare the work of ``job`` (``count`` frames; ``anchored``: a chunk that also denoises
    the anchor frame) to ``estimate``, by stage and step, in frames."""
    settings = job.settings
    painted = len(job.keyframes) if job.keyframes else count
    steps = settings.steps
    if job.passes:
        estimate.expect("derive", count + anchored)
    if job.painter == "style":
        estimate.expect("paint", painted)
    else:
        for step in range(steps):
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


def _diffuse(job, inputs, clock, events, stop, anchor_controls=None):
    """The diffusion painter's frames, as (index, (H, W, 3)) in order, and what result.json says
    of its run; ``anchor_controls``: a chunk's anchor frame's controls (name → Frames of one)."""
    from .devices import resolve_device
    from .models import load_components
    from .pipeline import DiffSynthPipeline

    controls, guides, flows, _ = inputs
    settings, keyframes = job.settings, job.keyframes
    if keyframes:  # the DiffSynth loop on the keyframes alone, as a shot of their own
        from .keyframe_mode import keyframe_blend, keyframe_shot

        guides, flows = keyframe_shot(guides, flows, keyframes)
        controls = {name: images[list(keyframes)] for name, images in controls.items()}
        settings = dataclasses.replace(settings, blend=keyframe_blend(settings.blend, keyframes))
    if anchor_controls is not None:
        from ..shot.frames import joined

        controls = {name: joined(anchor_controls[name], images) for name, images in controls.items()}
    with clock("load"):
        device, dtype = resolve_device(job.device)
        parts = load_components(**job.model)
        pipeline = DiffSynthPipeline(parts, device, dtype)

    def progress(stage, step, steps, done, total):
        stop.check()
        clock.mark(stage)
        events.progress(stage, step, steps, done, total)

    frames = clock.charged(pipeline.stream(settings, controls, guides, flows, progress=progress,
                                           anchor=anchor_controls is not None))
    if keyframes:
        frames = _carried(job, inputs, frames, len(keyframes), clock, events, stop)
    return frames, {"device": str(device), "dtype": str(dtype).replace("torch.", ""), "models": parts.origin,
                    "model_hashes": parts.hashes}


def _paint(job, inputs, clock, events, stop):
    """The style painter's frames, as (index, (H, W, 3)) in order: painted one by one (or only the
    keyframes) as the blend on the shot's guides and flows asks for them (or as they are carried
    from the keyframes); and what result.json says of its run."""
    import numpy as np

    from ..shot.base_images import base_image
    from ..shot.frames import Frames
    from .style_painter import StylePainter

    guides, flows = inputs.guides, inputs.flows
    settings, keyframes = job.settings, job.keyframes
    painted = list(keyframes or range(len(guides)))
    with clock("load"):
        painter = StylePainter(settings, job.device)

    def paint(index):
        stop.check()
        with clock("paint"):
            frame = painter(base_image(np.asarray(guides[painted[index]], np.float32), settings.base))
        events.progress("paint", 0, settings.steps, index + 1, len(painted))
        return frame

    frames = Frames(len(painted), (*guides.shape[1:3], 3), paint)
    if settings.final_smoothing:
        from ..shot.guides import surfaces
        from .deflicker import PatchBlender

        blend, shot_guides, shot_flows = settings.blend, guides, flows
        if keyframes:
            from .keyframe_mode import keyframe_blend, keyframe_shot

            blend = keyframe_blend(blend, keyframes)
            shot_guides, shot_flows = keyframe_shot(guides, flows, keyframes)
        blender = PatchBlender(shot_guides, blend, shot_flows, surfaces(shot_guides), keep_fields=False)
        frames = clock.charged(blender.stream(frames, _stage_progress(events, "blend", settings.steps, stop)),
                               "blend")
    else:
        frames = enumerate(frames)
    if keyframes:
        frames = _carried(job, inputs, frames, len(painted), clock, events, stop)
    return frames, {"device": painter.device, "style": settings.describe(), "notes": painter.notes}


def _carried(job, inputs, painted, count, clock, events, stop):
    """The whole shot, as (index, frame) in order, from the ``count`` painted keyframes
    ``painted`` (in order, as (index, frame)); they wait on disk in the output folder until no
    frame needs them."""
    from ..shot.frames import spilled
    from .keyframe_mode import carry_keyframes

    guides, flows = inputs.guides, inputs.flows
    keyframes = spilled(painted, count, (*guides.shape[1:3], 3), job.output / KEYFRAMES_FOLDER)
    return clock.charged(carry_keyframes(guides, flows, job.keyframes, keyframes, job.settings.blend,
                                         _stage_progress(events, "carry", job.settings.steps, stop)), "carry")


def _stage_progress(events, stage, steps, stop):
    """A ``progress(done, total)`` reporting ``stage`` of the closing step; stops when asked."""
    def progress(done, total):
        stop.check()
        events.progress(stage, steps, steps, done, total)

    return progress


def _derive(job, events, stop, anchor=None):
    """Derive the job's inputs from its passes: a chunk's frames and its anchor frame, or all;
    returns notes on what had to be derived again."""
    from .job import JobError
    from .passes import derive_inputs

    def progress(done, total):
        stop.check()
        events.progress("derive", 0, job.settings.steps, done, total)

    frames = None if job.span is None else {*range(*job.span), *(range(*anchor.span) if anchor else ())}
    notes = []
    try:
        derive_inputs(*job.passes, job.size, progress, frames, notes)
    except ValueError as error:
        raise JobError([f"passes.frames: {error}"]) from None
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
        events.progress("write", job.settings.steps, job.settings.steps, index + 1, count)
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


def _failure(events, error):
    if isinstance(error, ImportError):
        return events.error("missing-packages", f"the engine's Python lacks {error.name or error}: install the "
                            f"engine's dependencies (engine/requirements.txt) into {sys.executable}")
    from .models import ModelError

    if isinstance(error, ModelError):
        return events.error("model", str(error))
    if _out_of_memory(error):
        return events.error("out-of-memory", f"out of memory ({first_line(error)}): lower the size or "
                            "batch_frames, or use a smaller smoothing window")
    if isinstance(error, ValueError):
        return events.error("input", str(error))
    return events.error("internal", f"{type(error).__name__}: {first_line(error)}")


def _out_of_memory(error):
    if isinstance(error, MemoryError):
        return True
    import torch

    return isinstance(error, torch.OutOfMemoryError) or "out of memory" in str(error).lower() or \
        "can't allocate memory" in str(error)


def _quiet_libraries():
    import warnings

    from diffusers.utils import logging as diffusers_logging
    from transformers.utils import logging as transformers_logging

    diffusers_logging.set_verbosity_error()
    transformers_logging.set_verbosity_error()
    warnings.filterwarnings("ignore", module="diffusers|transformers|torch")


class Cancelled(Exception):
    """The job was asked to stop."""


class StopRequest:
    """SIGTERM, SIGINT, the cancel file or (``watch_stdin``) stdin closing; ``check()`` raises
    ``Cancelled`` once one came. Work that reaches no check within ``STOP_GRACE_S`` of a signal
    (inside a model load or a long computation), or a second signal, ends the process at once,
    as cancelled. ``folder``, the run's temporary output, and the cancel file are removed when the
    job ends, however it ends; ``events`` reports an ending at once."""

    SIGNALS = (signal.SIGTERM, signal.SIGINT)

    def __init__(self, events, cancel_file, folder=None, watch_stdin=False):
        # A cancel file that is already there counts: it may have been written while this
        # process was still starting.
        self.events, self.cancel_file, self.folder, self.requested = events, cancel_file, folder, False
        self._released = threading.Event()
        self._previous = {sig: signal.signal(sig, self._on_signal) for sig in self.SIGNALS}
        # Python runs signal handlers between bytecodes of the main thread, which may be inside a
        # long call: the wake-up socket tells a thread of the signal the moment it comes.
        self._wakeup, wakeup_write = socket.socketpair()
        wakeup_write.setblocking(False)
        self._wakeup_write = wakeup_write
        self._previous_wakeup = signal.set_wakeup_fd(wakeup_write.fileno())
        threading.Thread(target=self._deadline, daemon=True).start()
        if watch_stdin and sys.stdin is not None:
            threading.Thread(target=self._watch_stdin, daemon=True).start()

    def _on_signal(self, signum, frame):
        if self.requested:
            raise Cancelled()
        self.requested = True

    def _deadline(self):
        with self._wakeup:  # b"" once release() closes the other end
            signalled = self._wakeup.recv(1)
        if signalled and not self._released.wait(STOP_GRACE_S):
            self._remove_leftovers()
            self.events.error("cancelled", f"cancelled; stopped after {STOP_GRACE_S:g} s without reaching a "
                              "point to stop at; the output folder is as it was")
            os._exit(Exit.CANCELLED)

    def _watch_stdin(self):
        while sys.stdin.buffer.read(1 << 16):
            pass  # the parent never writes; its end closes when it ends, however it ends
        if not self._released.is_set():
            os.kill(os.getpid(), signal.SIGTERM)

    def check(self):
        if self.requested or self.cancel_file.exists():
            raise Cancelled()

    def release(self):
        self._released.set()
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        signal.set_wakeup_fd(self._previous_wakeup)
        self._wakeup_write.close()
        self._remove_leftovers()

    def _remove_leftovers(self):
        self.cancel_file.unlink(missing_ok=True)
        if self.folder is not None:
            shutil.rmtree(self.folder, ignore_errors=True)


class Events:
    """Progress and the final outcome, as JSON lines on stdout or a bar and messages on stderr."""

    def __init__(self, jsonl, command="run"):
        from .estimate import Estimate

        self.jsonl, self.command, self.started = jsonl, command, time.monotonic()
        self.estimate = Estimate()  # the worker declares the work and gives it the run's stage clock
        self._bar, self._stage, self._sent, self.fraction = None, None, 0.0, 0.0

    def _emit(self, event):
        try:
            print(event_line(event), flush=True)
        except BrokenPipeError:  # the reader ended (a stop follows): nothing more goes to it
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())

    def progress(self, stage, step, steps, done, total):
        now = time.monotonic()
        self.estimate.report(stage, step, done, total)
        if stage == self._stage and done < total and now - self._sent < 0.1:
            return
        self._stage, self._sent = stage, now
        finished = stage == "write" and done >= total
        eta = 0.0 if finished else self.estimate.seconds_left()
        self.fraction = max(self.fraction, 1.0 if finished else min(self.estimate.fraction(now - self.started), 0.999))
        if self.jsonl:
            self._emit(Progress(stage, step, steps, done, total, round(self.fraction, 4),
                                None if eta is None else round(eta, 1)))
        else:
            from .progress import ProgressBar

            self._bar = self._bar or ProgressBar(self.command)
            self._bar(round(self.fraction * 1000), 1000)

    def done(self, output, names, seconds, notes=()):
        """Report the frames written (``notes``: what was left out, shown on a terminal; result.json
        keeps them too); returns the exit status."""
        if self.jsonl:
            self._emit(Done(str(output), len(names), round(seconds, 2)))
        else:
            print(f"{self.command}: {len(names)} frames written to {output} in {seconds:.1f} s", file=sys.stderr)
            for note in notes:
                print(f"  note: {note}", file=sys.stderr)
        return Exit.DONE

    def error(self, kind, message, problems=()):
        """Report a failure of ``kind`` (``contract.ERROR_KINDS``); returns its exit status."""
        if self.jsonl:
            self._emit(Failure(kind, message, list(problems)))
        else:
            print(f"{self.command}: {message}", file=sys.stderr)
            for problem in problems:
                print(f"  {problem}", file=sys.stderr)
        return ERROR_KINDS[kind]
