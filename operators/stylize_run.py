"""``StylizeRun``: one Stylize of a shot, advanced a piece at a time so the UI stays live.

passes (one frame a call) → inputs derived and job written → the engine worker process (its
JSON-lines progress read by threads) → the frames as a VSE strip. The modal operator calls
``advance()`` from a timer; background mode calls ``run_to_end()``. ``cancel()`` stops at the
next piece: between pass frames, or by the engine's cancel file within one denoising step.
"""

import atexit
import collections
import json
import queue
import threading
from pathlib import Path

from ..shot.job_spec import build_job, next_version, write_job
from . import scene_passes
from .engine_process import start_engine
from .vse_strip import import_strip

PASSES_SHARE = 0.2  # of the progress bar
POLL_S = 0.1


class StylizeRun:
    """States: 'passes', 'engine', then 'done', 'failed' or 'cancelled' (``message`` says why)."""

    def __init__(self, request, settings):
        self.request, self.settings = request, settings
        self.state, self.message, self.error_kind = "passes", "", ""
        self.fraction, self.stage = 0.0, "Rendering passes"
        self.rendered, self.strip, self.output, self.version = 0, None, None, None
        self._exrs, self._process, self._events, self._stderr = [], None, queue.Queue(), collections.deque(maxlen=40)
        self._stdout_pump = None
        self._cancel = False

    @property
    def running(self):
        return self.state in ("passes", "engine")

    def cancel(self):
        """Stop at the next piece of work."""
        self._cancel = True
        if self.state == "engine" and self.output is not None:
            self.output.mkdir(parents=True, exist_ok=True)  # the engine may not have made it yet
            (self.output / "cancel").write_text("")

    def run_to_end(self, report=None):
        """Advance until the run ends (background mode); ``report(stage)`` whenever the stage text
        changes; returns the final state."""
        shown = None
        while self.running:
            self.advance(wait=True)
            if report and self.stage != shown:
                shown = self.stage
                report(shown)
        return self.state

    def advance(self, wait=False):
        """Do the next piece of work; ``wait`` blocks on the engine's output instead of polling."""
        try:
            if self.state == "passes":
                self._render_next_frame()
            elif self.state == "engine":
                self._read_engine(wait)
        except Exception as error:  # any failure ends the run with its message; nothing is left half-made
            self._end("failed", f"{type(error).__name__}: {error}" if not isinstance(error, (OSError, ValueError))
                      else str(error))
        return self.running

    def _render_next_frame(self):
        if self._cancel:
            return self._end("cancelled", "Cancelled while rendering passes (rendered frames stay cached)")
        frames = self.request.frames
        frame = frames[len(self._exrs)]
        paths, rendered = scene_passes.render_passes(self.request.scene, [frame], self.request.folder / "passes",
                                                     size=self.request.size)
        self._exrs += paths
        self.rendered += rendered
        self.fraction = PASSES_SHARE * len(self._exrs) / len(frames)
        self.stage = f"Passes {len(self._exrs)}/{len(frames)}"
        if len(self._exrs) == len(frames):
            self._start_engine()

    def _start_engine(self):
        self.stage = "Preparing inputs"
        inputs = scene_passes.derive_inputs(self._exrs, self.request.frames, self.request.folder / "passes")
        self.version = version = next_version(self.request.folder)
        self.output = self.request.folder / f"stylized_v{version:03d}"
        job = build_job(inputs, self.output, self.request.frames[0], self.request.size, **self.settings,
                        model=self.request.model, device=self.request.device)
        path = write_job(job, self.request.folder / "jobs" / f"job_v{version:03d}.json")
        self._process = start_engine(self.request.python, "run", str(path), "--progress", "jsonl",
                                     packages=self.request.packages)
        atexit.register(self._stop_engine)  # quitting Blender mid-run must not leave the engine running
        self._stdout_pump = threading.Thread(target=_pump, args=(self._process.stdout, self._events.put), daemon=True)
        self._stdout_pump.start()
        threading.Thread(target=_pump, args=(self._process.stderr, self._stderr.append), daemon=True).start()
        self.state, self.stage = "engine", "Starting engine"

    def _read_engine(self, wait):
        """Handle every event the engine has printed so far (waiting a little for the first one
        with ``wait``); a process that ended without a final event is a failure."""
        for line in self._available_lines(wait):
            self._handle(line)
            if not self.running:
                return
        if self._process.poll() is not None:
            self._stdout_pump.join()  # its last lines may still be on their way into the queue
            if self._events.empty():
                last = self._stderr[-1] if self._stderr else "no output"
                self._end("failed", f"The engine stopped (exit {self._process.returncode}) without a result: {last}")

    def _available_lines(self, wait):
        try:
            yield self._events.get(timeout=POLL_S if wait else 0.0)
            while True:
                yield self._events.get_nowait()
        except queue.Empty:
            return

    def _handle(self, line):
        try:
            event = json.loads(line)
        except ValueError:
            return  # not an event (a library printing on stdout)
        if event.get("event") == "progress":
            self.fraction = PASSES_SHARE + (1 - PASSES_SHARE) * event.get("fraction", 0.0)
            eta = f", {event['eta_s']:.0f} s left" if event.get("eta_s") is not None else ""
            self.stage = f"{event['stage'].capitalize()} step {event['step']}/{event['steps']}, " \
                         f"{event['frames_done']}/{event['frames']} frames{eta}"
        elif event.get("event") == "done":
            self._process.wait()
            self._finish()
        elif event.get("event") == "error":
            self._process.wait()
            self.error_kind = event.get("kind", "")
            problems = "; ".join(event.get("problems") or [])
            self._end("cancelled" if self.error_kind == "cancelled" else "failed",
                      event.get("message", "engine error") + (f": {problems}" if problems else ""))

    def _finish(self):
        scene, prompt = self.request.scene, self.settings["prompt"]
        name = f"{scene.name}: {prompt[:24]} v{self.version:03d}"
        self.strip = import_strip(scene, self.output, name, frame_start=self.request.frames[0])
        scene.diffsynth.last_output = str(self.output)
        strip = self.strip
        self._end("done", f"{len(strip.elements)} frames in strip {strip.name!r} (channel {strip.channel})")
        self.fraction = 1.0

    def _end(self, state, message):
        self.state, self.message, self.stage = state, message, message
        if self._process is not None:
            self._stop_engine()
            self._process.wait()
            atexit.unregister(self._stop_engine)

    def _stop_engine(self):
        if self._process.poll() is None:
            self._process.terminate()


def _pump(stream, sink):
    for line in stream:
        sink(line.rstrip("\n"))


def run_settings(settings):
    """The scene settings a job needs, as plain values."""
    return dict(prompt=settings.prompt, negative_prompt=settings.negative_prompt, preset=settings.preset,
                steps=settings.steps, guidance_scale=settings.guidance_scale, seed=settings.seed,
                window=settings.window, mode=settings.mode,
                weights={"depth": settings.depth_weight, "softedge": settings.softedge_weight})
