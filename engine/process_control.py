"""The engine commands' process control (``run``, ``stitch``, ``deflicker``): progress and the
outcome as events (``Events``), stopping on a signal, a cancel file or stdin closing
(``StopRequest``), and every failure turned into one error event with its exit status
(``guarded``).
"""

import os
import shutil
import signal
import socket
import sys
import threading
import time

from ..contract import (
    ERROR_KINDS,
    LOW_SPACE,
    STOP_GRACE_S,
    DiskFull,
    Done,
    Exit,
    Failure,
    Progress,
    StepPreview,
    event_line,
    first_line,
    free_space,
)

# Bytes per pixel a run writes: float16 guides (10 channels, shot/guides.py), a float32 flow (2),
# two 16-bit controls and a PNG frame (about 4, compressed).
BYTES_PER_PIXEL = 10 * 2 + 2 * 4 + 2 * 2 + 4


def guarded(events, stop, work, space=None, output="the output folder"):
    """``work()``'s exit status, or any failure reported as one error event (with its status);
    ``stop`` is released however it ends, and its folder removed unless the work put it in place.
    ``space``: (folder, bytes the work needs there): a write failing where the disk has next to
    no space left is reported as a full disk. ``output``: what a cancel says is as it was."""
    from .job import JobError

    try:
        return work()
    except Cancelled:
        return events.error("cancelled", f"cancelled; {output} is as it was")
    except JobError as error:
        return events.error("input", "an input frame is not usable", error.problems)
    except OSError as error:
        if space is not None and free_space(space[0]) < LOW_SPACE:
            return events.error("disk-full", first_line(DiskFull(*space)))
        return failure(events, error)
    except Exception as error:  # the one place that turns any failure into an error event
        return failure(events, error)
    finally:
        stop.release()


def space_needed(job, count):
    """About how many bytes a job's run writes: its derived inputs and its frames (a chunk's
    run: ``count`` frames)."""
    width, height = job.size
    return count * width * height * BYTES_PER_PIXEL


def failure(events, error):
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


class Cancelled(Exception):
    """The job was asked to stop."""


class StopRequest:
    """SIGTERM, SIGINT, the cancel file or (``watch_stdin``) stdin closing; ``check()`` raises
    ``Cancelled`` once one came. Work that reaches no check within ``STOP_GRACE_S`` of a signal
    (inside a model load or a long computation), or a second signal, ends the process at once,
    as cancelled; a signal that comes once the job is stopping changes nothing (Ctrl-C reaches the
    engine and the CLI, which then stops the engine too: that second signal must not cut the
    cancel's own report short). ``folder``, the run's temporary output, and the cancel file are removed when the
    job ends, however it ends; ``events`` reports an ending at once."""

    SIGNALS = (signal.SIGTERM, signal.SIGINT)

    def __init__(self, events, cancel_file, folder=None, watch_stdin=False):
        # A cancel file that is already there counts: it may have been written while this
        # process was still starting.
        self.events, self.cancel_file, self.folder, self.requested = events, cancel_file, folder, False
        self.stopping = False  # Cancelled was raised: the job is on its way out
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
        if self.requested and not self.stopping:
            self.stopping = True
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
            self.stopping = True
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

    def step_preview(self, picture, step, steps):
        """Say a step preview is in ``picture`` (JSON lines only: a program shows it)."""
        if self.jsonl:
            self._emit(StepPreview(str(picture), step, steps))

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
