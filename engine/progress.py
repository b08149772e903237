"""Progress of engine commands on stderr: a bar on a terminal, plain lines in a log."""

import sys
import time


class ProgressBar:
    """Callable as ``progress(done, total)``. On a terminal, one line redrawn at most ten times a
    second; elsewhere (a farm's or CI's log) a plain line at each further tenth done."""

    def __init__(self, label, stream=None, width=30):
        self.label, self.stream, self.width = label, stream or sys.stderr, width
        self.terminal = self.stream.isatty()
        self._start, self._drawn, self._tenths = time.monotonic(), 0.0, 0

    def __call__(self, done, total):
        now = time.monotonic()
        tenths = 10 * done // max(total, 1)
        if self.terminal and done < total and now - self._drawn < 0.1:
            return
        if not self.terminal and tenths <= self._tenths:
            return
        self._drawn, self._tenths = now, tenths
        elapsed = now - self._start
        eta = f"{elapsed / done * (total - done):5.0f} s left" if 0 < done < total else ""
        if self.terminal:
            filled = self.width * done // max(total, 1)
            self.stream.write(f"\r{self.label} [{'#' * filled}{'.' * (self.width - filled)}] {done}/{total} {eta}" +
                              ("\n" if done >= total else ""))
        else:
            self.stream.write(f"{self.label}: {10 * tenths}% ({elapsed:.0f} s{', ' + eta.strip() if eta else ''})\n")
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

