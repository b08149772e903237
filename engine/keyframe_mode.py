"""A job in keyframe mode: its keyframes painted as a shot of their own (blended with each other
over the same reach in time as the job's window), then carried to every frame."""

import dataclasses
import math

from ..shot.guides import surfaces
from .deflicker import BlendSettings
from .deflicker.keyframes import KeyframeCarrier
from .deflicker.motion import keyframe_flows


def keyframe_shot(guides, flows, keyframes):
    """(guides, flows) of the shot made of the keyframes alone, frame sequences made when asked;
    flows None without flows."""
    keys = list(keyframes)
    return guides[keys], None if flows is None else keyframe_flows(flows, keys)


def keyframe_blend(blend: BlendSettings, keyframes) -> BlendSettings:
    """``blend`` for the keyframes' own shot: its window counted in keyframes, reaching about as
    many frames as the job's window (at least one keyframe on each side)."""
    spacing = (keyframes[-1] - keyframes[0]) / max(len(keyframes) - 1, 1)
    return dataclasses.replace(blend, window=max(1, math.ceil(blend.window / max(spacing, 1))))


def carry_keyframes(guides, flows, keyframes, painted, blend, progress=None):
    """Every frame of the shot in order, as (index, (H, W, 3) tensor), from its ``painted``
    keyframes (a sequence of K frames, asked for as needed), through the shot's guides and flows
    (``KeyframeCarrier``)."""
    carrier = KeyframeCarrier(guides, keyframes, blend, flows, surfaces(guides), keep_fields=False)
    return carrier.stream(painted, progress)
