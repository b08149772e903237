"""How much of a render is done and how long the rest will take, from what each stage costs.

A render's work is a set of (stage, step) items of known size (frames, or patch matches and
frames for a blend), declared up front by the worker and corrected as progress reports their
real totals. A stage's cost per unit is what this run measured for it (the stage clock's seconds
over the units done); a stage not started yet costs its prior share (``PRIOR_SECONDS``) scaled by
how fast this run is going on the stages already measured. So the estimate weighs each stage by
its cost, not by a fixed share of a bar, and the time left falls steadily to zero whichever
stage is the slow one on this machine, at this size.
"""

# Seconds per unit of each stage, as ratios (measured at 720p on 2 cores, bench/RESULTS.md):
# only the relations between stages matter before a run has measured its own.
PRIOR_SECONDS = {"derive": 0.35, "paint": 0.5, "denoise": 1.0, "decode": 0.3, "blend": 0.2, "encode": 0.3,
                 "carry": 0.15, "write": 0.04}


class Estimate:
    """The work of one render: ``expect`` declares items, ``report`` records progress;
    ``fraction`` and ``seconds_left`` read off what is done and what remains. ``clock``: the
    render's ``progress.StageClock`` (seconds by stage)."""

    def __init__(self, clock=None):
        self.clock, self._items = clock, {}  # (stage, step) → [done, total]

    def expect(self, stage, total, step=0):
        """Declare ``total`` units of ``stage`` at ``step`` (replacing an earlier declaration)."""
        done = self._items.get((stage, step), [0, 0])[0]
        self._items[(stage, step)] = [min(done, total), total]

    def settle(self, stage):
        """``stage`` is over: what it did is all it had to do."""
        for (name, _), item in self._items.items():
            if name == stage:
                item[1] = item[0]

    def report(self, stage, step, done, total):
        """``done`` of ``total`` units of ``stage`` at ``step`` are done."""
        self._items[(stage, step)] = [done, max(total, done)]

    def seconds_left(self):
        """Seconds the rest of the declared work should take; None before anything is measured."""
        rates = self._rates()
        if rates is None:
            return None
        return sum((total - done) * rates[stage] for (stage, _), (done, total) in self._items.items())

    def fraction(self, elapsed):
        """The share of the work done, after ``elapsed`` seconds of it."""
        left = self.seconds_left()
        if left is None:
            return 0.0
        return elapsed / (elapsed + left) if elapsed + left > 0 else 1.0

    def _rates(self):
        """{stage: seconds per unit}: measured where units were done, else the prior scaled."""
        seconds = self.clock.seconds if self.clock else {}
        done = {}
        for (stage, _), (units, _) in self._items.items():
            done[stage] = done.get(stage, 0) + units
        measured = {stage: seconds[stage] / units for stage, units in done.items() if units and seconds.get(stage)}
        if not measured:
            return None
        speed = sum(seconds[stage] for stage in measured) / sum(done[stage] * PRIOR_SECONDS.get(stage, 1.0)
                                                                for stage in measured)
        return {stage: measured.get(stage, PRIOR_SECONDS.get(stage, 1.0) * speed) for stage, _ in self._items}
