"""Motion estimated between the frames of footage, which has no vector pass: OpenCV's DIS optical
flow, each step checked forward–backward and against the colours it joins.

The flows come in the engine's layout (``deflicker.motion``) with the trust of each step: frame
i's field (H, W, 6) moves its pixels to frame i+1 (channels 0–1) and to frame i−1 (2–3), in
(row, col) pixels, and says whether each step can be trusted (4: to i+1, 5: to i−1): 1 where the
step lands inside the picture, on the pixel's own colour (within ``COLOUR_TOLERANCE``, both a
little blurred), and the other frame's step back returns to within ``RETURN_PX`` and a share of
the motion; 0 elsewhere. That stands in for the visibility the passes give exactly: a pixel
hidden in the other frame lands on what hides it (the colour tells, where the two differ), or on
a spot whose own motion does not lead back (the step back tells, where they look alike). The
step back is allowed more than the half pixel the benchmarks measure with: held to that, it
distrusts a third of the benchmark footage's pixels and leaves more flicker (bench/RESULTS.md,
"Footage").
"""

import collections
import concurrent.futures

import cv2
import numpy as np

from ..shot.frames import Frames
from ..shot.video_quality import warp_from_next

FLOW_CHANNELS = 6
# DIS's medium preset, refined down to the finest scale, on the frames at half size with a long
# variational refinement (it settles the motion of flat areas, which patches alone cannot tell),
# then the motion refined once more at full size: 0.64 px mean error against 1.67 with DIS at full
# size and its usual refinement, in about twice the time (bench/RESULTS.md, "Footage").
DIS_SETTINGS = {"PatchSize": 8, "PatchStride": 3, "FinestScale": 0, "GradientDescentIterations": 25,
                "VariationalRefinementIterations": 300, "VariationalRefinementAlpha": 50,
                "UseSpatialPropagation": True}
REFINEMENT = {"Alpha": 50, "FixedPointIterations": 10, "SorIterations": 10}  # at full size
PAIRS_KEPT = 3  # frame pairs whose flows are kept: a shot read in order estimates each pair once
COLOUR_TOLERANCE = 0.12  # largest difference on any channel of one point seen in two frames
COLOUR_BLUR = 1.0  # pixels: grain and a fraction of a pixel's misplacement do not count
RETURN_PX, RETURN_SHARE = 1.0, 0.05  # how far a step back may miss: pixels, and a share of the step


class EstimatedMotion:
    """The flows of ``frames`` (``Frames`` (N, H, W, C) in [0, 1]: colour or grey), estimated
    when a frame's field is asked for (``flows``)."""

    def __init__(self, frames):
        self.frames = frames
        self._pairs = collections.OrderedDict()  # i → (forward i→i+1, backward i+1→i), (row, col)

    @property
    def flows(self):
        """``Frames`` (N, H, W, 6) of each frame's field."""
        return Frames(len(self.frames), (*self.frames.shape[1:3], FLOW_CHANNELS), self.field)

    def field(self, index):
        """Frame ``index``'s field (H, W, 6), float32."""
        height, width = self.frames.shape[1:3]
        field = np.zeros((height, width, FLOW_CHANNELS), np.float32)
        if index + 1 < len(self.frames):
            forward, backward = self._pair(index)
            field[..., 0:2], field[..., 4] = forward, self._holds(index, index + 1, forward, backward)
        if index > 0:
            forward, backward = self._pair(index - 1)
            field[..., 2:4], field[..., 5] = backward, self._holds(index, index - 1, backward, forward)
        return field

    def _holds(self, frame, other, step, back):
        """(H, W) bool: where ``step`` from ``frame`` to ``other`` lands inside the picture on the
        colour it left, and ``other``'s step ``back`` leads back."""
        here, there = (cv2.GaussianBlur(np.asarray(self.frames[i], np.float32), (0, 0), COLOUR_BLUR)
                       for i in (frame, other))
        same = np.abs(warp_from_next(there.reshape(*there.shape[:2], -1), step)
                      - here.reshape(*here.shape[:2], -1)).max(axis=-1) <= COLOUR_TOLERANCE
        missed = np.linalg.norm(step + warp_from_next(back, step), axis=-1)
        returns = missed <= RETURN_PX + RETURN_SHARE * np.linalg.norm(step, axis=-1)
        height, width = step.shape[:2]
        rows, cols = np.mgrid[:height, :width]
        inside = (rows + step[..., 0] >= 0) & (rows + step[..., 0] <= height - 1) & \
            (cols + step[..., 1] >= 0) & (cols + step[..., 1] <= width - 1)
        return same & returns & inside

    def _pair(self, index):
        if index not in self._pairs:
            first, second = _grey(self.frames[index]), _grey(self.frames[index + 1])
            with concurrent.futures.ThreadPoolExecutor(2) as pool:  # OpenCV lets go of the GIL
                self._pairs[index] = tuple(pool.map(flow, (first, second), (second, first)))
            if len(self._pairs) > PAIRS_KEPT:
                self._pairs.popitem(last=False)
        self._pairs.move_to_end(index)
        return self._pairs[index]


def flow(first, second):
    """The motion (H, W, 2) float32, (row, col) pixels, from the 8-bit grey picture ``first`` to
    ``second``: DIS at half size (``DIS_SETTINGS``), refined at full size (``REFINEMENT``)."""
    dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
    for name, value in DIS_SETTINGS.items():
        getattr(dis, f"set{name}")(value)
    height, width = first.shape
    half = [cv2.resize(picture, (max(width // 2, 1), max(height // 2, 1)), interpolation=cv2.INTER_AREA)
            for picture in (first, second)]
    motion = cv2.resize(dis.calc(*half, None), (width, height), interpolation=cv2.INTER_LINEAR)
    motion *= (width / half[0].shape[1], height / half[0].shape[0])  # (x, y) in full-size pixels
    refinement = cv2.VariationalRefinement_create()
    for name, value in REFINEMENT.items():
        getattr(refinement, f"set{name}")(value)
    refinement.calc(first, second, motion)
    return motion[..., ::-1].copy()  # (x, y) → (row, col)


def _grey(frame):
    """A frame in [0, 1] (H, W, C) as the 8-bit grey picture DIS reads."""
    frame = np.asarray(frame, np.float32)
    pixels = np.clip(np.rint(frame[..., :3] * 255), 0, 255).astype(np.uint8)
    return pixels[..., 0] if pixels.shape[-1] == 1 else cv2.cvtColor(pixels, cv2.COLOR_RGB2GRAY)
