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
from ...shot.frames import Frames
from .detail import detail_energy, restore_detail
from .fields import FieldStore
from .margins import crop_margin
from .motion import check_flows
from .settings import BlendSettings
from .windows import field_pairs, frame_plan, last_use, pair_last_use

MAX_SIDE = 32767  # NNFs are stored as int16


class PatchBlender:
    """Deflickers sequences of frames made for fixed ``guides`` (N, H, W, C) float32 in [0, 1].

    ``flows`` (optional, (N, H, W, 2 or 4), see ``motion``): the exact motion; each NNF is then
    the chained flow instead of a full search (see ``BlendSettings.flow_iterations``). ``surfaces`` (optional, with
    flows, (N, H, W, K)): what surface point each pixel sees (surface coordinates); a
    remapped pixel hidden in its source frame gets no weight. ``texture`` (optional, (N, H, W,
    K)): channels a search matches on beside the guides, which confidence does not weigh, e.g.
    ``detail.frame_detail`` of the frames where they are known before the search. Each may be an
    array, a tensor or ``shot.frames.Frames`` read when needed. NNFs are estimated when first
    needed (or by ``prepare``) and, with ``keep_fields``, reused by every later call; without,
    each is let go after its last use (a blender called once holds no NNFs beyond its window).
    """

    def __init__(self, guides, settings=None, flows=None, surfaces=None, texture=None, keep_fields=True):
        self.settings = settings or BlendSettings()
        self.fields = shot_fields(guides, self.settings, flows, surfaces, texture, keep_fields)
        self.plan = frame_plan(self.fields.count, self.settings.window, self.settings.mode)
        self.pairs = field_pairs(self.plan)
        self._pair_expiry = pair_last_use(self.plan)

    @classmethod
    def for_shot(cls, guides, settings, flows=None, keep_fields=True):
        """The blender of a rendered shot: its ``guides`` (N, H, W, C) and exact ``flows``, with the
        visible surfaces read from the guides."""
        from ...shot.guides import surfaces

        return cls(guides, settings, flows, surfaces(guides), keep_fields=keep_fields)

    @property
    def estimations(self):
        """NNFs estimated so far by this blender."""
        return self.fields.estimations

    def prepare(self, progress=None):
        """Estimate every NNF the blending needs (the first call does it otherwise)."""
        counter = ProgressCounter(progress, len(self.fields.missing(self.pairs)))
        self.fields.on_estimate = counter.add
        try:
            self.fields.estimate(self.pairs)
        finally:
            self.fields.on_estimate = None

    def __call__(self, frames, progress=None):
        """``frames`` (N, H, W, C) float32 array or tensor deflickered; same shape, kind and device.

        ``progress(done, total)`` is called as NNFs are estimated and frames blended; an
        exception raised there cancels the call, and the NNFs estimated so far are kept (with
        ``keep_fields``), so the next call resumes.
        """
        tensor = matching_frames(frames, self.fields)
        result = torch.empty_like(tensor)
        for index, blend in self.stream(tensor, progress):
            result[index] = blend.to(result.device)
        return like_input(result, frames)

    def stream(self, frames, progress=None):
        """Each frame of ``frames`` deflickered, in order, as (index, (H, W, C) float32 tensor on
        the blender's device). ``frames``: any sequence of (H, W, C) frames (``Frames``, an
        array, a tensor), each asked for once while the frames of one window are held: a
        sequence that paints or decodes its frames when asked is never held whole.
        ``progress`` as for ``__call__``."""
        counter = ProgressCounter(progress, len(self.fields.missing(self.pairs)) + len(self.plan))
        window = Window(frames, self.settings.window, lambda frame: torch.as_tensor(frame).float().to(
            self.fields.device))
        self.fields.on_estimate = counter.add
        blends, expiry = {}, last_use(self.plan)
        try:
            for index, blocks in enumerate(self.plan):
                window.move_to(index)
                total = self.fields.unit(window[index])
                for block in blocks:
                    if block not in blends:
                        blends[block] = self._block_blend(window, block)
                    total += self.fields.carry(blends[block], index, block.anchor)
                    if expiry[block] == index:
                        del blends[block]
                blend = crop_margin(total[..., :-1] / total[..., -1:], self.fields.margin)
                if self.settings.keep_detail:
                    blend = restore_detail(blend, detail_energy(window[index]))
                self._release_fields(index)
                counter.add(1)
                yield index, blend
        finally:
            self.fields.on_estimate = None

    def _block_blend(self, frames, block):
        """Sum of the block's frames (with weights) carried to the anchor's geometry."""
        total = self.fields.unit(frames[block.anchor])
        for frame in block.frames:
            if frame != block.anchor:
                total += self.fields.carry(self.fields.unit(frames[frame]), block.anchor, frame)
        return total

    def _release_fields(self, index):
        if not self.fields.keep:
            for pair in self._pair_expiry.get(index, ()):
                self.fields.release(pair)


class Window:
    """Frame i of ``frames`` through ``convert``, each made once while it lies within ``reach``
    frames of the frame being blended (``move_to``), and let go after."""

    def __init__(self, frames, reach, convert):
        self.frames, self.reach, self.convert, self._held, self._low = frames, reach, convert, {}, 0

    def move_to(self, index):
        self._low = index - self.reach
        for frame in [frame for frame in self._held if frame < self._low]:
            del self._held[frame]

    def __getitem__(self, index):
        if index < self._low:
            raise IndexError(f"frame {index} was let go (the window starts at {self._low})")
        if index not in self._held:
            self._held[index] = self.convert(self.frames[index])
        return self._held[index]


def shot_fields(guides, settings, flows=None, surfaces=None, texture=None, keep=True):
    """The ``FieldStore`` of a shot's ``guides``, ``flows``, ``surfaces`` and ``texture`` (see
    ``PatchBlender``), each checked: ValueError says what is wrong. Arrays and tensors are
    checked whole here; ``Frames`` by their shape (their reader checks each frame)."""
    guides = sequence(guides, "guides")
    count, height, width = guides.shape[:3]
    if max(height, width) > MAX_SIDE:
        raise ValueError(f"guides are {height}x{width}; at most {MAX_SIDE} pixels a side")
    if min(height, width) < settings.patch_size:
        raise ValueError(f"guides are {height}x{width}, smaller than one {settings.patch_size}-pixel patch")
    backend, device = resolve_backend(settings.backend, settings.device, guides if torch.is_tensor(guides) else
                                      torch.empty(0))
    flows = None if flows is None else check_flows(flows, (count, height, width))
    if surfaces is not None:
        surfaces = matching_frames(surfaces, guides, "surfaces")
    if texture is not None:
        texture = matching_frames(texture, guides, "texture")
    return FieldStore(guides, settings, backend, device, flows, surfaces, texture, keep)


def matching_frames(frames, guides, name="frames"):
    """``frames`` checked (see ``sequence``) to have the guides' frame count and size."""
    checked = sequence(frames, name)
    if tuple(checked.shape[:3]) != tuple(guides.shape[:3]):
        raise ValueError(f"{name} {tuple(checked.shape[:3])} must match the guides' frames and size "
                         f"{tuple(guides.shape[:3])}")
    return checked


class ProgressCounter:
    """Calls ``progress(done, total)`` as work is done."""

    def __init__(self, progress, total):
        self.progress, self.total, self.done = progress, total, 0

    def add(self, amount):
        self.done += amount
        self.total = max(self.total, self.done)  # work found on the way (a keyframe's holes filled)
        if self.progress:
            self.progress(self.done, self.total)


def sequence(frames, name):
    """``frames`` as they are if ``Frames`` (checked by shape), else as a checked float32 (N, H,
    W, C) tensor (``sequence_tensor``)."""
    if isinstance(frames, Frames):
        if len(frames.shape) != 4 or 0 in frames.shape:
            raise ValueError(f"{name} must be a non-empty (N, H, W, C) sequence, got shape {frames.shape}")
        return frames
    return sequence_tensor(frames, name)


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
