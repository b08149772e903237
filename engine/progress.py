"""Progress of engine commands on stderr: a bar on a terminal, plain lines in a log."""

import contextlib
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


class StageClock:
    """Seconds spent in each stage of a render whose stages interleave and nest (a blend asks
    for a frame to be painted, a write takes each frame as it comes): time goes to the stage
    innermost at the moment. Stages are marked by ``with clock(stage)``, by ``charged`` for the
    steps of an iterator, or by ``mark(stage)`` (the time since the previous mark or boundary:
    for a loop that reports after each piece of work). ``seconds`` by stage."""

    def __init__(self):
        self.seconds, self._stack, self._cursor = {}, [], time.perf_counter()

    def _charge(self, stage):
        now = time.perf_counter()
        if stage is not None:
            self.seconds[stage] = self.seconds.get(stage, 0.0) + now - self._cursor
        self._cursor = now

    @contextlib.contextmanager
    def __call__(self, stage):
        self._charge(self._stack[-1] if self._stack else None)
        self._stack.append(stage)
        try:
            yield
        finally:
            self._charge(self._stack.pop())

    def mark(self, stage, *ignored):
        """Charge the time since the previous mark or boundary to ``stage`` (the extra arguments
        let it stand as a render's ``progress(stage, step, steps, done, total)``)."""
        self._charge(stage)

    def charged(self, iterator, stage=None):
        """``iterator``'s items, the time to make each charged to ``stage`` (None: left to the
        marks the iterator makes itself)."""
        iterator = iter(iterator)
        while True:
            with self(stage) if stage else contextlib.nullcontext():
                try:
                    item = next(iterator)
                except StopIteration:
                    return
            yield item
