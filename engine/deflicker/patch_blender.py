"""``PatchBlender``: the video deflickering of DiffSynth (paper §3.3, eq. 3) by patch blending.

Every frame is rebuilt from the frames of its window, each carried into its geometry by patch
voting through an NNF computed on the guides, and the results are averaged, each remapped pixel
optionally weighted by how well its patch matched; the blend's fine detail is then brought back
to each frame's own strength (``detail``). Frames are processed in order with only the
blocks of the current windows held (see ``windows``), so memory does not grow with the shot and
no chunk seams exist: every frame sees its whole window.
"""

import torch

from ...kernels import like_input, resolve_backend, to_torch
from .detail import detail_energy, restore_detail
from .fields import FieldStore
from .margins import crop_margin
from .motion import check_flows
from .settings import BlendSettings
from .windows import field_pairs, frame_plan, last_use

MAX_SIDE = 32767  # NNFs are stored as int16


class PatchBlender:
    """Deflickers sequences of frames made for fixed ``guides`` (N, H, W, C) float32 in [0, 1].

    ``flows`` (optional, (N, H, W, 2 or 4), see ``motion``): the exact motion; each NNF is then
    the chained flow instead of a full search (see ``BlendSettings.flow_iterations``). ``surfaces`` (optional, with
    flows, (N, H, W, K)): what surface point each pixel sees (surface coordinates); a
    remapped pixel hidden in its source frame gets no weight. ``texture`` (optional, (N, H, W,
    K)): channels a search matches on beside the guides, which confidence does not weigh, e.g.
    ``detail.frame_detail`` of the frames where they are known before the search. NNFs are
    estimated on the first call (or ``prepare``) and reused by every later call.
    """

    def __init__(self, guides, settings=None, flows=None, surfaces=None, texture=None):
        self.settings = settings or BlendSettings()
        self.fields = shot_fields(guides, self.settings, flows, surfaces, texture)
        self.plan = frame_plan(len(self.fields.guides), self.settings.window, self.settings.mode)
        self.pairs = field_pairs(self.plan)

    @property
    def estimations(self):
        """NNFs estimated so far by this blender."""
        return self.fields.estimations

    def prepare(self, progress=None):
        """Estimate every NNF the blending needs (the first call does it otherwise)."""
        missing = len(self.fields.missing(self.pairs))
        self.fields.estimate(self.pairs, ProgressCounter(progress, missing).add)

    def __call__(self, frames, progress=None):
        """``frames`` (N, H, W, C) float32 deflickered; same shape, kind and device.

        ``progress(done, total)`` is called as NNFs are estimated and frames blended; an
        exception raised there cancels the call, and the NNFs estimated so far are kept, so the
        next call resumes.
        """
        tensor = matching_frames(frames, self.fields.guides)
        counter = ProgressCounter(progress, len(self.fields.missing(self.pairs)) + len(self.plan))
        self.fields.estimate(self.pairs, counter.add)
        result = torch.empty_like(tensor)
        blends, expiry = {}, last_use(self.plan)
        for index, blocks in enumerate(self.plan):
            total = self.fields.unit(tensor[index])
            for block in blocks:
                if block not in blends:
                    blends[block] = self._block_blend(tensor, block)
                total += self.fields.carry(blends[block], index, block.anchor)
                if expiry[block] == index:
                    del blends[block]
            blend = crop_margin(total[..., :-1] / total[..., -1:], self.fields.margin)
            if self.settings.keep_detail:
                blend = restore_detail(blend, detail_energy(tensor[index].to(self.fields.device)))
            result[index] = blend.to(result.device)
            counter.add(1)
        return like_input(result, frames)

    def _block_blend(self, frames, block):
        """Sum of the block's frames (with weights) carried to the anchor's geometry."""
        total = self.fields.unit(frames[block.anchor])
        for frame in block.frames:
            if frame != block.anchor:
                total += self.fields.carry(self.fields.unit(frames[frame]), block.anchor, frame)
        return total


def shot_fields(guides, settings, flows=None, surfaces=None, texture=None):
    """The ``FieldStore`` of a shot's ``guides``, ``flows``, ``surfaces`` and ``texture`` (see
    ``PatchBlender``), each checked: ValueError says what is wrong."""
    guides = sequence_tensor(guides, "guides")
    count, height, width = guides.shape[:3]
    if max(height, width) > MAX_SIDE:
        raise ValueError(f"guides are {height}x{width}; at most {MAX_SIDE} pixels a side")
    if min(height, width) < settings.patch_size:
        raise ValueError(f"guides are {height}x{width}, smaller than one {settings.patch_size}-pixel patch")
    backend, device = resolve_backend(settings.backend, settings.device, guides)
    flows = None if flows is None else check_flows(flows, (count, height, width))
    if surfaces is not None:
        surfaces = matching_frames(surfaces, guides, "surfaces").cpu()
    if texture is not None:
        texture = matching_frames(texture, guides, "texture")
    return FieldStore(guides, settings, backend, device, flows, surfaces, texture)


def matching_frames(frames, guides, name="frames"):
    """``frames`` as a checked tensor with the guides' frame count and size."""
    tensor = sequence_tensor(frames, name)
    if tensor.shape[:3] != guides.shape[:3]:
        raise ValueError(f"{name} {tuple(tensor.shape[:3])} must match the guides' frames and size "
                         f"{tuple(guides.shape[:3])}")
    return tensor


class ProgressCounter:
    """Calls ``progress(done, total)`` as work is done."""

    def __init__(self, progress, total):
        self.progress, self.total, self.done = progress, total, 0

    def add(self, amount):
        self.done += amount
        if self.progress:
            self.progress(self.done, self.total)


def sequence_tensor(array, name):
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
