"""The time left of a render, from what each of its stages costs."""

import types

from diffsynth_render.engine.estimate import PRIOR_SECONDS, Estimate


def _render(costs, frames=20):
    """The ETAs an ``Estimate`` gives along a style render whose stages cost ``costs`` seconds a
    frame (a fake clock: seconds charged as the work is done), with the true time left at each."""
    clock = types.SimpleNamespace(seconds={})
    estimate = Estimate(clock)
    work = [("derive", 0), ("paint", 0), ("blend", 1), ("write", 1)]
    for stage, step in work:
        estimate.expect(stage, frames, step)
    total, elapsed, seen = frames * sum(costs.values()), 0.0, []
    for stage, step in work:
        for done in range(1, frames + 1):
            clock.seconds[stage] = clock.seconds.get(stage, 0.0) + costs[stage]
            elapsed += costs[stage]
            estimate.report(stage, step, done, frames)
            seen.append((estimate.seconds_left(), total - elapsed, estimate.fraction(elapsed)))
    return seen


def test_the_time_left_follows_each_stage_s_measured_cost_down_to_zero():
    """A blend 10× dearer than its prior: once it has been measured the time left never rises
    while every stage keeps its pace, and once every stage has been measured it is exact, as is
    the fraction done (the share of the time)."""
    costs = {"derive": 0.3, "paint": 0.5, "blend": 10 * PRIOR_SECONDS["blend"], "write": 0.04}
    seen = _render(costs)
    lefts = [left for left, _, _ in seen]
    blending, writing = 2 * 20, 3 * 20  # the first blend frame, the first frame written
    assert lefts[-1] == 0 and all(a >= b - 1e-9 for a, b in zip(lefts[blending:], lefts[blending + 1:]))
    assert all(abs(left - truth) < 1e-6 for left, truth, _ in seen[writing:])
    total = 20 * sum(costs.values())
    assert all(abs(fraction - (total - truth) / total) < 1e-6 for _, truth, fraction in seen[writing:])


def test_before_a_stage_is_measured_it_costs_its_prior_at_this_run_s_speed():
    """A machine twice as slow as the priors at deriving: the stages not started yet are
    expected twice as slow too."""
    costs = {stage: 2 * PRIOR_SECONDS[stage] for stage in ("derive", "paint", "blend", "write")}
    left, truth, _ = _render(costs)[0]
    assert abs(left - truth) < 1e-6
