"""The NNFs of a shot's guide frames, estimated when first needed and kept compactly or let go.

Guides do not change while a shot is denoised, so every NNF (and the weight of each remapped
pixel: its confidence, zero where the pixel is hidden in the source) is estimated on first need
and, for a blender called again and again (``keep``), reused by every later call; a blender
called once lets each go after its last use. With flows, an NNF is the chained flow itself
(refined by a local search only if ``flow_iterations`` asks), its pixels weighted by whether the
surfaces say they are seen, or by the trust estimated motion carries; without, a full PatchMatch
search on the guides. A flow NNF keeps where each pixel lands to a fraction of a pixel (float32),
and a frame is carried by reading it there (``motion.resampled``); a searched NNF is whole pixels
(int16). Kept entries, with float16 weights, are 1.5 MiB per searched pair at 512² (2.5 MiB from
flows), in one array allocated up front (thousands of small long-lived arrays between the
search's large temporaries fragment the heap: measured 4 GiB instead of 0.5 GiB). Entries
beyond the memory limit go to a temporary folder, removed with the store.

Guides, flows, surfaces and texture are frame sequences (``shot.frames``) read when needed; the
store keeps only the frames of about one window.
"""

import collections
import shutil
import tempfile
import weakref
from pathlib import Path

import numpy as np
import torch

from ...kernels import estimate_nnf, patch_distance, vote
from ...kernels.pyramid import clamp_centres
from .margins import add_margin, crop_margin
from .motion import pixels, resampled, tensor_frames, trusted, visible_at, walk

WALKS_KEPT = 4  # chains of flows kept to walk on from: a block's frames come in order of distance


class FieldStore:
    """NNFs from guide frame ``source`` to guide frame ``target``, keyed by (target, source)."""

    def __init__(self, guides, settings, backend, device, flows=None, surfaces=None, texture=None, keep=True):
        """``guides`` (N, H, W, C), ``flows``, ``surfaces`` and ``texture`` (see ``PatchBlender``)
        without margin, as frame sequences; NNFs are stored with it. ``keep``: NNFs stay for
        later calls (else ``release`` lets one go)."""
        self.settings, self.backend, self.device, self.keep = settings, backend, device, keep
        self.count, self.height, self.width, self.channels = guides.shape
        span = 2 * settings.window + 3  # the frames of one window, and one more on each side
        self.guides = tensor_frames(guides, span, device)
        self.trusted = trusted(flows)  # estimated motion, which says where its steps hold
        self.flows = None if flows is None else tensor_frames(flows, span)
        # Surface coordinates in [0, 1] compared within SAME_SURFACE: half precision holds them
        # (the derived guides are float16 on disk), at half the memory of a window of them.
        self.surfaces = None if surfaces is None else tensor_frames(surfaces, span, dtype=torch.float16)
        self.texture = None if texture is None else tensor_frames(texture, span, device)
        self.margin = settings.patch_size - 1  # see margins
        # Flow NNFs carry each pixel exactly: voting over overlapping patches would only mix in the
        # neighbours' matches (blur, and wrong content at motion edges). Searched NNFs need the vote.
        self.vote_size = 1 if flows is not None else settings.patch_size
        self.fractional = flows is not None and settings.flow_iterations == 0  # NNFs are the motion itself
        self.estimations = 0
        self.on_estimate = None  # called with the number of NNFs each time some are estimated
        self._slots, self._on_disk, self._loose = {}, set(), {}  # pair → slot; pairs in files; pair → entry
        self._nnfs = self._weights = self._folder = None
        self._walks = collections.OrderedDict()  # (target, direction) → (frame reached, positions, trust)
        # Every pixel's (row, col), without and with the margin: made once, not for every NNF.
        self._grid = pixels(self.height, self.width)
        self._margined_grid = pixels(self.height + 2 * self.margin, self.width + 2 * self.margin)

    @property
    def shape(self):
        """(N, H, W) of the guides."""
        return self.count, self.height, self.width

    def __contains__(self, pair):
        return pair in self._slots or pair in self._on_disk or pair in self._loose

    def missing(self, pairs):
        """The pairs not estimated yet."""
        return [pair for pair in dict.fromkeys(pairs) if pair not in self]

    def estimate(self, pairs):
        """Estimate the NNFs of ``pairs`` not stored yet, ``batch_size`` at a time."""
        pairs = self.missing(pairs)
        if self.keep and self._nnfs is None:
            self._allocate(len(pairs))
        size = self.settings.batch_size
        for start in range(0, len(pairs), size):
            batch = pairs[start: start + size]
            self._estimate_batch(batch)
            self.estimations += len(batch)
            if self.on_estimate:
                self.on_estimate(len(batch))

    @property
    def weighted(self):
        """Whether remapped pixels carry weights (confidence, or visibility from flows and surfaces
        or from the flows' trust)."""
        return self.settings.weighting == "confidence" or (self.flows is not None and
                                                           (self.surfaces is not None or self.trusted))

    def get(self, target, source):
        """(NNF (H, W, 2): float32 positions from flows, else int64, weight float32 (H, W) or
        None) on the store's device, estimated now if it was not."""
        if (target, source) not in self:
            self.estimate([(target, source)])
        if (target, source) in self._loose:
            nnf, weight = self._loose[(target, source)]
        elif (target, source) in self._slots:
            slot = self._slots[(target, source)]
            nnf, weight = self._nnfs[slot], None if self._weights is None else self._weights[slot]
        else:
            with np.load(self._path(target, source)) as stored:
                nnf, weight = stored["nnf"], stored["weight"] if "weight" in stored else None
        nnf = torch.as_tensor(nnf).to(self.device)
        nnf = nnf.float() if self.fractional else nnf.long()
        return nnf, None if weight is None else torch.as_tensor(weight).to(self.device).float()

    def release(self, pair):
        """Let the NNF of ``pair`` go (a store that does not ``keep``)."""
        self._loose.pop(pair, None)

    def unit(self, image):
        """``image`` (H, W, C) as (image, weight 1) with the margin on the store's device: what
        ``carry`` carries and blends add up."""
        image = add_margin(torch.as_tensor(image).to(self.device), self.margin)
        return torch.cat([image, torch.ones_like(image[..., :1])], dim=-1)

    def carry(self, weighted, target, source, use_weights=True):
        """``weighted`` (image, weight) of frame ``source`` rebuilt in frame ``target`` through
        their NNF, multiplied by the NNF's weights (unless ``use_weights`` is false)."""
        nnf, weight = self.get(target, source)
        if self.fractional:
            carried = resampled(weighted, nnf)
            carried[..., -1].clamp_(min=0)  # the interpolation's overshoot at the edge of a hidden area
        else:
            carried = vote(weighted.unsqueeze(0), nnf.unsqueeze(0), self.vote_size)[0]
        if weight is not None and use_weights:
            carried *= weight.unsqueeze(-1)
        return carried

    def _searched(self, frame):
        """Guide frame ``frame`` with the margin, and the texture channels a search also matches."""
        guide = self.guides[frame]
        if self.texture is not None:
            guide = torch.cat([guide, self.texture[frame]], dim=-1)
        return add_margin(guide, self.margin)

    def _estimate_batch(self, batch):
        s = self.settings
        searched = self.flows is None or s.flow_iterations > 0
        # Patch distances weigh the matches unless surfaces, or the trust of estimated motion, say
        # what each pixel sees.
        targets = sources = trusts = None
        if searched or (self.weighted and self.surfaces is None and not self.trusted):
            targets = torch.stack([self._searched(target) for target, _ in batch])
            sources = torch.stack([self._searched(source) for _, source in batch])
        if not searched:  # the motion itself, nothing to search
            chains = [self._chained(*pair) for pair in batch]
            nnf = torch.stack([self._flow_nnf(displacement) for displacement, _ in chains])
            trusts = [trust for _, trust in chains] if self.trusted else None
        else:
            search = dict(patch_size=s.patch_size, iterations=s.iterations)
            if self.flows is not None:  # a local search at full size around the motion
                init = torch.stack([self._chained(*pair)[0] for pair in batch])
                init = add_margin(init, self.margin, "replicate").to(self.device)
                search.update(iterations=s.flow_iterations, levels=1, search_radius=s.flow_radius, init=init)
            nnf = estimate_nnf(sources, targets, **search, backend=self.backend, device=self.device).long()
        weight = self._weight(batch, sources, targets, nnf, trusts) if self.weighted else None
        for index, pair in enumerate(batch):
            self._keep(pair, nnf[index], None if weight is None else weight[index])

    def _flow_nnf(self, displacement):
        """The NNF (with margin) a chained flow's ``displacement`` is: each pixel's landing point,
        kept a patch radius inside (as ``estimate_nnf`` starts a search from a flow)."""
        flow = add_margin(displacement.unsqueeze(0), self.margin, "replicate")[0]
        height, width = flow.shape[:2]
        return clamp_centres(self._margined_grid + flow, height, width, self.settings.patch_size // 2).to(self.device)

    def _chained(self, target, source):
        """(``motion.chained_flow`` from ``target`` to ``source``, its trust (H, W) or None for
        flows without), walked on from the last chain from ``target`` in that direction where it
        stopped short of ``source``."""
        direction = 1 if source > target else -1
        grid = self._grid
        start = (target, grid, torch.ones(grid.shape[:2]) if self.trusted else None)
        frame, position, trust = self._walks.pop((target, direction), start)
        if (source - frame) * direction < 0:  # walked past it: from the start
            frame, position, trust = start
        walked = walk(self.flows, frame, source, position, trust)
        position, trust = walked if self.trusted else (walked, None)
        self._walks[(target, direction)] = (source, position, trust)
        if len(self._walks) > WALKS_KEPT:
            self._walks.popitem(last=False)
        return position - grid, trust

    def _weight(self, batch, sources, targets, nnf, trusts=None):
        """(B, H, W) weights of the batch's remapped pixels (with margin). With flows and
        surfaces: 1 where the target pixel is seen in the source, 0 where hidden (a flow NNF is
        right or has no answer; patch distances add nothing: bench/RESULTS.md). With estimated
        motion, the ``trusts`` of its chained flows. Otherwise, under confidence weighting,
        exp(−d / (C · scale)), d the patch distance on C guide channels."""
        s = self.settings
        if trusts is not None and self.surfaces is None:
            return torch.stack([add_margin(trust[..., None], self.margin, "replicate")[..., 0] for trust in trusts]
                               ).to(self.device)
        if self.flows is None or self.surfaces is None:
            guide = slice(0, self.channels)  # the texture channels are for the search only
            distance = patch_distance(sources[..., guide].contiguous(), targets[..., guide].contiguous(),
                                      nnf.round().long(), s.patch_size)
            return torch.exp(-distance / (s.confidence_scale * self.channels))
        weight = torch.empty(nnf.shape[:3], device=self.device)
        for index, (target, source) in enumerate(batch):
            matched = crop_margin(nnf[index].cpu(), self.margin).round().long() - self.margin  # unmargined pixels
            seen = visible_at(self.surfaces[source].float(), self.surfaces[target].float(), matched[..., 0],
                              matched[..., 1])
            weight[index] = add_margin(seen[..., None].float(), self.margin, "replicate")[..., 0].to(self.device)
        return weight

    def _allocate(self, count):
        """Arrays for up to ``count`` entries, as many as the memory limit allows."""
        height, width = (side + 2 * self.margin for side in (self.height, self.width))
        kind = np.float32 if self.fractional else np.int16
        entry_bytes = height * width * (2 * np.dtype(kind).itemsize + (2 if self.weighted else 0))
        capacity = min(count, int(self.settings.memory_limit_mb * 2 ** 20 // entry_bytes))
        self._nnfs = np.empty((capacity, height, width, 2), kind)
        self._weights = np.empty((capacity, height, width), np.float16) if self.weighted else None

    def _keep(self, pair, nnf, weight):
        """Store an entry as ``get`` gives it back: positions float32 (a searched NNF int16), weights
        float16, either way."""
        nnf = nnf.float() if self.fractional else nnf.short()
        weight = None if weight is None else weight.half()
        if not self.keep:
            self._loose[pair] = (nnf, weight)
            return
        slot = len(self._slots)
        if slot < len(self._nnfs):
            self._nnfs[slot] = nnf.cpu().numpy()
            if weight is not None:
                self._weights[slot] = weight.cpu().numpy()
            self._slots[pair] = slot
            return
        arrays = {"nnf": nnf.cpu().numpy()}
        if weight is not None:
            arrays["weight"] = weight.cpu().numpy()
        np.savez(self._path(*pair), **arrays)
        self._on_disk.add(pair)

    def _path(self, target, source):
        if self._folder is None:
            self._folder = Path(tempfile.mkdtemp(prefix="diffsynth-nnf-"))
            weakref.finalize(self, shutil.rmtree, self._folder, True)
        return self._folder / f"{target}-{source}.npz"
