"""The NNFs of a shot's guide frames, estimated once and kept compactly.

Guides do not change while a shot is denoised, so every NNF (and the weight of each remapped
pixel: its confidence, zero where the pixel is hidden in the source) is estimated on first need
and reused by every later call. With flows, an NNF is the chained flow itself (refined by a
local search only if ``flow_iterations`` asks); without, a full PatchMatch search on the guides.
Entries are int16 (row, col) plus float16 weights: 1.5 MiB per pair at 512², kept in one
array allocated up front (thousands of small long-lived arrays between the search's large
temporaries fragment the heap: measured 4 GiB instead of 0.5 GiB). Entries beyond the memory
limit go to a temporary folder, removed with the store.
"""

import shutil
import tempfile
import weakref
from pathlib import Path

import numpy as np
import torch

from ...kernels import estimate_nnf, patch_distance, remap
from .margins import add_margin, crop_margin
from .motion import chained_flow, visible


class FieldStore:
    """NNFs from guide frame ``source`` to guide frame ``target``, keyed by (target, source)."""

    def __init__(self, guides, settings, backend, device, flows=None, surfaces=None, texture=None):
        """``guides`` (N, H, W, C), ``flows``, ``surfaces`` and ``texture`` (see ``PatchBlender``)
        without margin; NNFs are stored with it."""
        self.guides, self.settings, self.backend, self.device = guides, settings, backend, device
        self.flows, self.surfaces = flows, surfaces
        self.searched = guides if texture is None else torch.cat([guides, texture.to(guides.device)], dim=-1)
        self.margin = settings.patch_size - 1  # see margins
        # Flow NNFs carry each pixel exactly: voting over overlapping patches would only mix in the
        # neighbours' matches (blur, and wrong content at motion edges). Searched NNFs need the vote.
        self.vote_size = 1 if flows is not None else settings.patch_size
        self.estimations = 0
        self._slots, self._on_disk = {}, set()  # pair → index in the arrays below; pairs in files
        self._nnfs = self._weights = self._folder = None

    def __contains__(self, pair):
        return pair in self._slots or pair in self._on_disk

    def missing(self, pairs):
        """The pairs not estimated yet."""
        return [pair for pair in pairs if pair not in self]

    def estimate(self, pairs, on_batch=None):
        """Estimate the NNFs of ``pairs`` not stored yet, ``batch_size`` at a time."""
        pairs = self.missing(pairs)
        if self._nnfs is None:
            self._allocate(len(pairs))
        size = self.settings.batch_size
        for start in range(0, len(pairs), size):
            batch = pairs[start: start + size]
            self._estimate_batch(batch)
            self.estimations += len(batch)
            if on_batch:
                on_batch(len(batch))

    @property
    def weighted(self):
        """Whether remapped pixels carry weights (confidence, or visibility from flows and surfaces)."""
        return self.settings.weighting == "confidence" or (self.flows is not None and self.surfaces is not None)

    def get(self, target, source):
        """(NNF int32 (H, W, 2), weight float32 (H, W) or None) on the store's device."""
        slot = self._slots.get((target, source))
        if slot is not None:
            nnf, weight = self._nnfs[slot], None if self._weights is None else self._weights[slot]
        else:
            with np.load(self._path(target, source)) as stored:
                nnf, weight = stored["nnf"], stored["weight"] if "weight" in stored else None
        nnf = torch.from_numpy(nnf).to(self.device).int()
        return nnf, None if weight is None else torch.from_numpy(weight).to(self.device).float()

    def unit(self, image):
        """``image`` (H, W, C) as (image, weight 1) with the margin on the store's device: what
        ``carry`` carries and blends add up."""
        image = add_margin(image.to(self.device), self.margin)
        return torch.cat([image, torch.ones_like(image[..., :1])], dim=-1)

    def carry(self, weighted, target, source, use_weights=True):
        """``weighted`` (image, weight) of frame ``source`` rebuilt in frame ``target`` through
        their NNF, multiplied by the NNF's weights (unless ``use_weights`` is false)."""
        nnf, weight = self.get(target, source)
        carried = remap(weighted, nnf, self.vote_size)
        if weight is not None and use_weights:
            carried *= weight.unsqueeze(-1)
        return carried

    def _estimate_batch(self, batch):
        s = self.settings
        targets = add_margin(self.searched[[target for target, _ in batch]].to(self.device), self.margin)
        sources = add_margin(self.searched[[source for _, source in batch]].to(self.device), self.margin)
        search = dict(patch_size=s.patch_size, iterations=s.iterations)
        if self.flows is not None:  # the motion itself; a local search at full size only if asked
            init = torch.stack([chained_flow(self.flows, target, source) for target, source in batch])
            init = add_margin(init, self.margin, "replicate").to(self.device)
            search.update(iterations=s.flow_iterations, levels=1, search_radius=s.flow_radius, init=init)
        nnf = estimate_nnf(sources, targets, **search, backend=self.backend, device=self.device)
        weight = self._weight(batch, sources, targets, nnf) if self.weighted else None
        nnf = nnf.short().cpu().numpy()
        for index, pair in enumerate(batch):
            self._keep(pair, nnf[index], None if weight is None else weight[index])

    def _weight(self, batch, sources, targets, nnf):
        """(B, H, W) float16 weights of the batch's remapped pixels (with margin). With flows and
        surfaces: 1 where the target pixel is seen in the source, 0 where hidden (a flow NNF is
        right or has no answer; patch distances add nothing: bench/RESULTS.md). Otherwise, under
        confidence weighting, exp(−d / (C · scale)), d the patch distance on C guide channels."""
        s = self.settings
        if self.flows is None or self.surfaces is None:
            guide = slice(0, self.guides.shape[-1])  # the texture channels are for the search only
            distance = patch_distance(sources[..., guide].contiguous(), targets[..., guide].contiguous(), nnf,
                                      s.patch_size)
            return torch.exp(-distance / (s.confidence_scale * self.guides.shape[-1])).half().cpu().numpy()
        weight = torch.empty(nnf.shape[:3], device=self.device)
        for index, (target, source) in enumerate(batch):
            matched = crop_margin(nnf[index].float().cpu(), self.margin) - self.margin  # unmargined pixels
            seen = visible(self.surfaces[source], self.surfaces[target], matched - _pixels(matched.shape[:2]))
            weight[index] = add_margin(seen[..., None].float(), self.margin, "replicate")[..., 0].to(self.device)
        return weight.half().cpu().numpy()

    def _allocate(self, count):
        """Arrays for up to ``count`` entries, as many as the memory limit allows."""
        height, width = (side + 2 * self.margin for side in self.guides.shape[1:3])
        entry_bytes = height * width * (4 + (2 if self.weighted else 0))
        capacity = min(count, int(self.settings.memory_limit_mb * 2 ** 20 // entry_bytes))
        self._nnfs = np.empty((capacity, height, width, 2), np.int16)
        self._weights = np.empty((capacity, height, width), np.float16) if self.weighted else None

    def _keep(self, pair, nnf, weight):
        slot = len(self._slots)
        if slot < len(self._nnfs):
            self._nnfs[slot] = nnf
            if weight is not None:
                self._weights[slot] = weight
            self._slots[pair] = slot
            return
        arrays = {"nnf": nnf} if weight is None else {"nnf": nnf, "weight": weight}
        np.savez(self._path(*pair), **arrays)
        self._on_disk.add(pair)

    def _path(self, target, source):
        if self._folder is None:
            self._folder = Path(tempfile.mkdtemp(prefix="diffsynth-nnf-"))
            weakref.finalize(self, shutil.rmtree, self._folder, True)
        return self._folder / f"{target}-{source}.npz"


def _pixels(size):
    """(H, W, 2) float (row, col) of every pixel of an image of ``size``."""
    rows, cols = torch.meshgrid(torch.arange(size[0]), torch.arange(size[1]), indexing="ij")
    return torch.stack([rows, cols], dim=-1).float()
