"""``PatchBlender``: the video deflickering of DiffSynth (paper §3.3, eq. 3) by patch blending.

Every frame is rebuilt from the frames of its window, each carried into its geometry by patch
voting through an NNF computed on the guides, and the results are averaged, each remapped pixel
optionally weighted by how well its patch matched. Frames are processed in order with only the
blocks of the current windows held (see ``windows``), so memory does not grow with the shot and
no chunk seams exist: every frame sees its whole window.
"""

import torch

from ...kernels import like_input, remap, resolve_backend, to_torch
from .fields import FieldStore
from .margins import add_margin, crop_margin
from .motion import check_flows
from .settings import BlendSettings
from .windows import field_pairs, frame_plan, last_use

MAX_SIDE = 32767  # NNFs are stored as int16


class PatchBlender:
    """Deflickers sequences of frames made for fixed ``guides`` (N, H, W, C) float32 in [0, 1].

    ``flows`` (optional, (N, H, W, 2 or 4), see ``motion``): the exact motion; each NNF is then
    the chained flow instead of a full search (see ``BlendSettings.flow_iterations``). ``surfaces`` (optional, with
    flows, (N, H, W, K)): what surface point each pixel sees (surface coordinates); a
    remapped pixel hidden in its source frame gets no weight. NNFs are estimated on the first
    call (or ``prepare``) and reused by every later call.
    """

    def __init__(self, guides, settings=None, flows=None, surfaces=None):
        self.settings = settings or BlendSettings()
        self.guides = _sequence(guides, "guides")
        count, height, width = self.guides.shape[:3]
        if max(height, width) > MAX_SIDE:
            raise ValueError(f"guides are {height}x{width}; at most {MAX_SIDE} pixels a side")
        if min(height, width) < self.settings.patch_size:
            raise ValueError(f"guides are {height}x{width}, smaller than one {self.settings.patch_size}-pixel patch")
        self.backend, self.device = resolve_backend(self.settings.backend, self.settings.device, guides)
        flows = None if flows is None else check_flows(flows, (count, height, width))
        if surfaces is not None:
            surfaces = _sequence(surfaces, "surfaces").cpu()
            if surfaces.shape[:3] != self.guides.shape[:3]:
                raise ValueError(f"surfaces {tuple(surfaces.shape[:3])} must match the guides' frames and size "
                                 f"{tuple(self.guides.shape[:3])}")
        self.plan = frame_plan(count, self.settings.window, self.settings.mode)
        self.pairs = field_pairs(self.plan)
        self.fields = FieldStore(self.guides, self.settings, self.backend, self.device, flows, surfaces)
        # Flow NNFs carry each pixel exactly: voting over overlapping patches would only mix in the
        # neighbours' matches (blur, and wrong content at motion edges). Searched NNFs need the vote.
        self.vote_size = 1 if flows is not None else self.settings.patch_size

    @property
    def estimations(self):
        """NNFs estimated so far by this blender."""
        return self.fields.estimations

    def prepare(self, progress=None):
        """Estimate every NNF the blending needs (the first call does it otherwise)."""
        missing = len(self.fields.missing(self.pairs))
        self.fields.estimate(self.pairs, _Counter(progress, missing).add)

    def __call__(self, frames, progress=None):
        """``frames`` (N, H, W, C) float32 deflickered; same shape, kind and device.

        ``progress(done, total)`` is called as NNFs are estimated and frames blended; an
        exception raised there cancels the call, and the NNFs estimated so far are kept, so the
        next call resumes.
        """
        tensor = _sequence(frames, "frames")
        if tensor.shape[:3] != self.guides.shape[:3]:
            raise ValueError(f"frames {tuple(tensor.shape[:3])} must match the guides' frames and size "
                             f"{tuple(self.guides.shape[:3])}")
        counter = _Counter(progress, len(self.fields.missing(self.pairs)) + len(self.plan))
        self.fields.estimate(self.pairs, counter.add)
        result = torch.empty_like(tensor)
        blends, expiry = {}, last_use(self.plan)
        for index, blocks in enumerate(self.plan):
            total = self._weighted(tensor[index])
            for block in blocks:
                if block not in blends:
                    blends[block] = self._block_blend(tensor, block)
                total += self._warped(blends[block], index, block.anchor)
                if expiry[block] == index:
                    del blends[block]
            result[index] = crop_margin(total[..., :-1] / total[..., -1:], self.fields.margin).to(result.device)
            counter.add(1)
        return like_input(result, frames)

    def _weighted(self, frame):
        """A frame as (image, weight 1) on the working device: the unit of blending."""
        frame = add_margin(frame.to(self.device), self.fields.margin)
        return torch.cat([frame, torch.ones_like(frame[..., :1])], dim=-1)

    def _block_blend(self, frames, block):
        """Sum of the block's frames (with weights) carried to the anchor's geometry."""
        total = self._weighted(frames[block.anchor])
        for frame in block.frames:
            if frame != block.anchor:
                total += self._warped(self._weighted(frames[frame]), block.anchor, frame)
        return total

    def _warped(self, weighted, target, source):
        """(image, weight) of frame ``source`` rebuilt in frame ``target``, weighted by the NNF's weights."""
        nnf, weight = self.fields.get(target, source)
        warped = remap(weighted, nnf, self.vote_size)
        if weight is not None:
            warped *= weight.unsqueeze(-1)
        return warped


class _Counter:
    """Calls ``progress(done, total)`` as work is done."""

    def __init__(self, progress, total):
        self.progress, self.total, self.done = progress, total, 0

    def add(self, amount):
        self.done += amount
        if self.progress:
            self.progress(self.done, self.total)


def _sequence(array, name):
    """A float32 (N, H, W, C) sequence as a torch tensor (on its own device), checked."""
    try:
        tensor = to_torch(array)
    except ValueError as error:
        raise ValueError(f"{name}: {error}") from None
    if tensor.dtype != torch.float32:
        raise ValueError(f"{name} must be float32, got {array.dtype}")
    if tensor.ndim != 4 or 0 in tensor.shape:
        raise ValueError(f"{name} must be a non-empty (N, H, W, C) sequence, got shape {tuple(tensor.shape)}")
    if not bool(torch.isfinite(tensor).all()):
        raise ValueError(f"{name} contain NaN or infinite values")
    return tensor
