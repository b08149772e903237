"""Motion estimated between the frames of footage, which has no vector pass: OpenCV's DeepFlow
(a variational flow with a coarse-to-fine search, in its contrib modules), each step checked
forward–backward and against the colours it joins.

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

import cv2
import numpy as np

from ..shot.frames import Frames
from ..shot.video_quality import warp_from_next

FLOW_CHANNELS = 6
PAIRS_KEPT = 3  # frame pairs whose flows are kept: a shot read in order estimates each pair once
COLOUR_TOLERANCE = 0.08  # largest difference on any channel of one point seen in two frames (0.12 trusted
# half the background a moving square covers next; the benchmark footage is the same at either)
COLOUR_BLUR = 1.0  # pixels: grain and a fraction of a pixel's misplacement do not count
RETURN_PX, RETURN_SHARE = 1.0, 0.05  # how far a step back may miss: pixels, and a share of the step
# DeepFlow's coarsest level is 25 px: a smaller frame has no coarser level to find a move of a few
# pixels in (a 32 px frame's 2 px move came out as 0.7), so it is enlarged to this first.
SMALLEST_SIDE = 96


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
            self._pairs[index] = flow(first, second), flow(second, first)  # each uses every core
            if len(self._pairs) > PAIRS_KEPT:
                self._pairs.popitem(last=False)
        self._pairs.move_to_end(index)
        return self._pairs[index]


def flow(first, second):
    """The motion (H, W, 2) float32, (row, col) pixels, from the 8-bit grey picture ``first`` to
    ``second``, by DeepFlow: 0.46 px mean error on the benchmark footage, where OpenCV's DIS with
    a long variational refinement made 0.64 and left 40% more flicker (bench/RESULTS.md, "footage")."""
    try:
        deep_flow = cv2.optflow.createOptFlow_DeepFlow()
    except AttributeError:
        raise RuntimeError("estimating motion needs OpenCV's contrib modules (opencv-contrib-python-headless, in "
                           f"engine/requirements.txt); this Python's OpenCV {cv2.__version__} has none: install "
                           "the engine's packages again (Install Dependencies)") from None
    height, width = first.shape
    scale = -(-SMALLEST_SIDE // min(height, width))  # a whole factor, 1 for any frame that size or more
    if scale > 1:
        first, second = (cv2.resize(picture, None, fx=scale, fy=scale, interpolation=cv2.INTER_CUBIC)
                         for picture in (first, second))
    motion = deep_flow.calc(first, second, None)
    if scale > 1:
        motion = cv2.resize(motion, (width, height), interpolation=cv2.INTER_AREA) / scale
    return motion[..., ::-1].copy()  # (x, y) → (row, col)


def _grey(frame):
    """A frame in [0, 1] (H, W, C) as the 8-bit grey picture DeepFlow reads."""
    frame = np.asarray(frame, np.float32)
    pixels = np.clip(np.rint(frame[..., :3] * 255), 0, 255).astype(np.uint8)
    return pixels[..., 0] if pixels.shape[-1] == 1 else cv2.cvtColor(pixels, cv2.COLOR_RGB2GRAY)
