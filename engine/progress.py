"""A text progress bar for engine commands: ``bar(done, total)`` redraws one line on stderr."""

import sys
import time


class ProgressBar:
    """Callable as ``progress(done, total)``; draws at most ten times a second, and at the end."""

    def __init__(self, label, stream=None, width=30):
        self.label, self.stream, self.width = label, stream or sys.stderr, width
        self._start, self._drawn = time.monotonic(), 0.0

    def __call__(self, done, total):
        now = time.monotonic()
        if done < total and now - self._drawn < 0.1:
            return
        self._drawn = now
        filled = self.width * done // max(total, 1)
        elapsed = now - self._start
        eta = f"{elapsed / done * (total - done):5.0f} s left" if done else ""
        line = f"\r{self.label} [{'#' * filled}{'.' * (self.width - filled)}] {done}/{total} {eta}"
        self.stream.write(line + ("\n" if done >= total else ""))
        self.stream.flush()


class StageTimer:
    """A render ``progress`` callback that charges the time since its previous call to the stage
    just reported (the pipeline reports after each piece of work); ``seconds`` by stage."""

    def __init__(self):
        self.seconds = {}
        self._last = time.perf_counter()

    def __call__(self, stage, *ignored):
        now = time.perf_counter()
        self.seconds[stage] = self.seconds.get(stage, 0.0) + now - self._last
        self._last = now

