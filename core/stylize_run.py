"""``StylizeRun``: one Stylize of a shot, advanced a piece at a time so the UI stays live.

passes (Blender renders one frame a call) → job written → the engine worker process (which
derives the controls, guides and flows from the pass EXRs and paints; its JSON-lines progress is
read by threads) → the frames handed back to Blender as a strip. The modal operator calls
``advance()`` from a timer; background mode calls ``run_to_end()``. ``cancel()`` stops at the
next piece: between pass frames, or in the engine (its cancel file, and SIGTERM where there is
one) within one denoising step; ``run_to_end()`` turns SIGINT and SIGTERM into ``cancel()``. The
engine reads a pipe on its stdin and stops when it closes: it never outlives this process.
What the run needs from Blender comes in as ``BlenderSteps``.
"""

import atexit
import collections
import contextlib
import dataclasses
import os
import queue
import signal
import threading
import time
from collections.abc import Callable

from ..contract import (
    MATCHING_STAGES,
    STOP_GRACE_S,
    DiskFull,
    Done,
    Failure,
    Progress,
    StepPreview,
    cancel_file,
    frame_name,
    parse_event,
    reserve_version,
    step_preview_file,
)
from .engine_process import start_engine
from .job_file import footage_job, shot_job, write_job

PASSES_SHARE = 0.2  # of the progress bar
PREVIEW_FOLDER = "preview"  # in the shot folder: the last Preview Frame's painted frame
GALLERY_FOLDER = "gallery"  # in the shot folder: the last Style Gallery's thumbnails
POLL_S = 0.1
KILL_AFTER_S = STOP_GRACE_S + 5  # an engine still running this long after a cancel is killed


@dataclasses.dataclass(frozen=True)
class BlenderSteps:
    """What a run asks of Blender.

    ``render_passes(frame, folder)``: render one frame's pass EXR (or a strip's picture, its
    footage) into ``folder`` (or find it cached); returns (path, whether it was rendered).
    ``add_strip(folder, name, first_frame)``: the frames of ``folder`` as a strip; returns a
    sentence saying where it went.
    ``report(stage, fraction)``: the stage text and fraction done changed. ``notes``: a list
    ``render_passes`` adds a line to for anything the user should know (a damaged cached EXR
    rendered again). ``show_preview(picture)``: show a preview's painted frame (a PNG);
    ``show_gallery(folder)``: show a gallery's thumbnails; each returns a sentence saying where.
    ``show_step(picture, step, steps)``: show the diffusion painter's estimate of the first frame
    after ``step`` of ``steps`` (a PNG, overwritten by the next).
    """

    render_passes: Callable
    add_strip: Callable
    report: Callable = lambda stage, fraction: None
    notes: list = dataclasses.field(default_factory=list)
    show_preview: Callable = lambda picture: f"Preview in {picture}"
    show_gallery: Callable = lambda folder: f"Gallery in {folder}"
    show_step: Callable = lambda picture, step, steps: None


class StylizeRun:
    """States: 'passes', 'engine', then 'done', 'failed' or 'cancelled' (``message`` says why).
    ``preview``: paint the request's one frame into the shot folder's ``preview`` folder and show
    it, instead of a new version and a strip; ``gallery``: paint it in every built-in style into
    its ``gallery`` folder and show those as the style picker's thumbnails."""

    def __init__(self, request, blender, preview=False, gallery=False):
        self.request, self.blender, self.preview, self.gallery = request, blender, preview or gallery, gallery
        self.state, self.message, self.error_kind = "passes", "", ""
        self.fraction, self.stage = 0.0, f"Rendering {self._inputs.lower()}"
        self.rendered, self.output, self.version, self.cancel_file = 0, None, None, None
        self._exrs, self._process, self._events, self._stderr = [], None, queue.Queue(), collections.deque(maxlen=40)
        self._stdout_pump = None
        self._cancelled_at = None  # time.monotonic() of the first cancel()

    @property
    def _inputs(self):
        return "Footage" if self.request.footage else "Passes"

    @property
    def running(self):
        return self.state in ("passes", "engine")

    def cancel(self):
        """Stop at the next piece of work."""
        if self._cancelled_at is None:
            self._cancelled_at = time.monotonic()
        if self.state == "engine":
            self.cancel_file.write_text("")
            if os.name == "posix":  # elsewhere terminate() kills at once; the file is enough
                self._stop_engine()

    def run_to_end(self):
        """Advance until the run ends (background mode and scripts), SIGINT and SIGTERM cancelling
        it; returns the final state."""
        with signals_call(self.cancel):
            while self.running:
                self.advance(wait=True)
        return self.state

    def advance(self, wait=False):
        """Do the next piece of work; ``wait`` blocks on the engine's output instead of polling."""
        try:
            if self.state == "passes":
                self._render_next_frame()
            elif self.state == "engine":
                self._read_engine(wait)
        except Exception as error:  # any failure ends the run with its message; nothing is left half-made
            self.error_kind = "disk-full" if isinstance(error, DiskFull) else ""
            self._end("failed", f"{type(error).__name__}: {error}" if not isinstance(error, (OSError, ValueError))
                      else str(error))
        return self.running

    def _set_stage(self, stage, fraction=None):
        changed = stage != self.stage or (fraction is not None and fraction != self.fraction)
        self.stage, self.fraction = stage, self.fraction if fraction is None else fraction
        if changed:
            self.blender.report(self.stage, self.fraction)

    def _render_next_frame(self):
        if self._cancelled_at is not None:
            return self._end("cancelled", f"Cancelled while rendering {self._inputs.lower()} (rendered frames stay "
                             "cached)")
        frames = self.request.frames
        path, rendered = self.blender.render_passes(frames[len(self._exrs)], self.request.input_folder)
        self._exrs.append(path)
        self.rendered += bool(rendered)
        self._set_stage(f"{self._inputs} {len(self._exrs)}/{len(frames)}", PASSES_SHARE * len(self._exrs) / len(frames))
        if len(self._exrs) == len(frames):
            self._start_engine()

    def _start_engine(self):
        if self.preview:
            name = GALLERY_FOLDER if self.gallery else PREVIEW_FOLDER
            self.output, job_path = self.request.folder / name, self.request.folder / "jobs" / f"{name}.json"
        else:
            self.version, job_path = reserve_version(self.request.folder)
            self.output = self.request.folder / f"stylized_v{self.version:03d}"
        spec = self.request.spec
        job = (footage_job if self.request.footage else shot_job)(
            spec, self.output, self._exrs, self.request.derived_folder, notes=(*spec.notes, *self.blender.notes))
        path = write_job(job, job_path)
        self.cancel_file = cancel_file(path)
        self._process = start_engine(self.request.python, "run", str(path), "--progress", "jsonl",
                                     "--stop-with-stdin", *(["--gallery"] if self.gallery else []),
                                     packages=self.request.packages)
        atexit.register(self._stop_engine)  # quitting Blender mid-run must not leave the engine running
        self._stdout_pump = threading.Thread(target=_pump, args=(self._process.stdout, self._events.put), daemon=True)
        self._stdout_pump.start()
        threading.Thread(target=_pump, args=(self._process.stderr, self._stderr.append), daemon=True).start()
        self.state = "engine"
        self._set_stage("Starting engine")

    def _read_engine(self, wait):
        """Handle every event the engine has printed so far (waiting a little for the first one
        with ``wait``); a process that ended without a final event is a failure."""
        for line in self._available_lines(wait):
            self._handle(parse_event(line))
            if not self.running:
                return
        if self._cancelled_at is not None and time.monotonic() - self._cancelled_at > KILL_AFTER_S:
            self._process.kill()
        if self._process.poll() is not None:
            self._stdout_pump.join()  # its last lines may still be on their way into the queue
            if not self._events.empty():
                return
            if self._cancelled_at is not None:
                self._end("cancelled", "Cancelled (the engine ended before it could say so)")
            else:
                last = self._stderr[-1] if self._stderr else "no output"
                self._end("failed", f"The engine stopped (exit {self._process.returncode}) without a result: {last}")

    def _available_lines(self, wait):
        try:
            yield self._events.get(timeout=POLL_S if wait else 0.0)
            while True:
                yield self._events.get_nowait()
        except queue.Empty:
            return

    def _handle(self, event):
        if isinstance(event, Progress):
            self._set_stage(progress_text(event), PASSES_SHARE + (1 - PASSES_SHARE) * event.fraction)
        elif isinstance(event, StepPreview):
            self.blender.show_step(event.picture, event.step, event.steps)
        elif isinstance(event, Done):
            self._process.wait()
            self._finish()
        elif isinstance(event, Failure):
            self._process.wait()
            self.error_kind = event.kind
            problems = "; ".join(event.problems)
            self._end("cancelled" if event.kind == "cancelled" else "failed",
                      event.message + (f": {problems}" if problems else ""))

    def _finish(self):
        if self.gallery:
            message = self.blender.show_gallery(self.output)
        elif self.preview:
            message = self.blender.show_preview(self.output / frame_name(self.request.frames[0]))
        else:
            name = strip_name(self.request.name, self.request.label, self.version)
            message = self.blender.add_strip(self.output, name, self.request.frames[0])
        self._end("done", message)
        self.fraction = 1.0

    def _end(self, state, message):
        self.state, self.message = state, message
        if state == "cancelled":
            self.error_kind = "cancelled"
        self._set_stage(message)
        if self._process is not None:
            self._stop_engine()
            self._process.wait()
            atexit.unregister(self._stop_engine)
            self._process.stdin.close()
            self.cancel_file.unlink(missing_ok=True)
            step_preview_file(self.cancel_file).unlink(missing_ok=True)

    def _stop_engine(self):
        if self._process.poll() is None:
            self._process.terminate()


def progress_text(event):
    """One line for the UI from a ``Progress`` event."""
    eta = f", {event.eta_s:.0f} s left" if event.eta_s is not None else ""
    if event.stage in MATCHING_STAGES:
        done = f"{100 * event.frames_done // max(event.frames, 1)}%"
    else:
        done = f"{event.frames_done}/{event.frames} frames"
    if event.stage == "derive":
        return f"Preparing inputs, {done}{eta}"
    if event.steps == 1:
        return f"{event.stage.capitalize()}, {done}{eta}"
    return f"{event.stage.capitalize()} step {event.step}/{event.steps}, {done}{eta}"


def strip_name(scene, label, version):
    """The strip's name: scene, the start of the prompt (or the style) and the version."""
    return f"{scene}: {label[:24].rstrip(' ,;')} v{version:03d}"


def _pump(stream, sink):
    for line in stream:
        sink(line.rstrip("\n"))


@contextlib.contextmanager
def signals_call(handler):
    """SIGINT and SIGTERM call ``handler()`` instead of ending the process, within the block (in
    the main thread; elsewhere signals cannot be caught and nothing changes)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {sig: signal.signal(sig, lambda signum, frame: handler()) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)
