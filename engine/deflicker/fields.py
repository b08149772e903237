"""The NNFs of a shot's guide frames, estimated once and kept compactly.

Guides do not change while a shot is denoised, so every NNF (and, for confidence weighting,
its per-pixel patch distance) is estimated on first need and reused by every later call.
Entries are int16 (row, col) plus float16 distances: 1.5 MiB per pair at 512², kept in one
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

from ...kernels import estimate_nnf, patch_distance
from .margins import add_margin
from .motion import chained_flow


class FieldStore:
    """NNFs from guide frame ``source`` to guide frame ``target``, keyed by (target, source)."""

    def __init__(self, guides, settings, backend, device, flows=None):
        """``guides`` (N, H, W, C) and ``flows`` without margin; NNFs are stored with it."""
        self.guides, self.settings, self.backend, self.device, self.flows = guides, settings, backend, device, flows
        self.margin = settings.patch_size // 2
        self.estimations = 0
        self._slots, self._on_disk = {}, set()  # pair → index in the arrays below; pairs in files
        self._nnfs = self._distances = self._folder = None

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

    def get(self, target, source):
        """(NNF int32 (H, W, 2), distance float32 (H, W) or None) on the store's device."""
        slot = self._slots.get((target, source))
        if slot is not None:
            nnf, distance = self._nnfs[slot], None if self._distances is None else self._distances[slot]
        else:
            with np.load(self._path(target, source)) as stored:
                nnf, distance = stored["nnf"], stored["distance"] if "distance" in stored else None
        nnf = torch.from_numpy(nnf).to(self.device).int()
        return nnf, None if distance is None else torch.from_numpy(distance).to(self.device).float()

    def _estimate_batch(self, batch):
        s = self.settings
        targets = add_margin(self.guides[[target for target, _ in batch]].to(self.device), self.margin)
        sources = add_margin(self.guides[[source for _, source in batch]].to(self.device), self.margin)
        init = None
        if self.flows is not None:
            init = torch.stack([chained_flow(self.flows, target, source) for target, source in batch])
            init = add_margin(init, self.margin, "replicate").to(self.device)
        nnf = estimate_nnf(sources, targets, patch_size=s.patch_size, iterations=s.iterations, init=init,
                           backend=self.backend, device=self.device)
        distance = None
        if s.weighting == "confidence":
            distance = patch_distance(sources, targets, nnf, s.patch_size).half().cpu().numpy()
        nnf = nnf.short().cpu().numpy()
        for index, pair in enumerate(batch):
            self._keep(pair, nnf[index], None if distance is None else distance[index])

    def _allocate(self, count):
        """Arrays for up to ``count`` entries, as many as the memory limit allows."""
        height, width = (side + 2 * self.margin for side in self.guides.shape[1:3])
        confidence = self.settings.weighting == "confidence"
        entry_bytes = height * width * (4 + (2 if confidence else 0))
        capacity = min(count, int(self.settings.memory_limit_mb * 2 ** 20 // entry_bytes))
        self._nnfs = np.empty((capacity, height, width, 2), np.int16)
        self._distances = np.empty((capacity, height, width), np.float16) if confidence else None

    def _keep(self, pair, nnf, distance):
        slot = len(self._slots)
        if slot < len(self._nnfs):
            self._nnfs[slot] = nnf
            if distance is not None:
                self._distances[slot] = distance
            self._slots[pair] = slot
            return
        arrays = {"nnf": nnf} if distance is None else {"nnf": nnf, "distance": distance}
        np.savez(self._path(*pair), **arrays)
        self._on_disk.add(pair)

    def _path(self, target, source):
        if self._folder is None:
            self._folder = Path(tempfile.mkdtemp(prefix="diffsynth-nnf-"))
            weakref.finalize(self, shutil.rmtree, self._folder, True)
        return self._folder / f"{target}-{source}.npz"
