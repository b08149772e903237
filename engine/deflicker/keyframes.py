"""Keyframe mode (Ebsynth, FastBlend's *interpolate*): only the keyframes are painted, and every
frame between is rebuilt from the keyframes around it, its texture carried, not re-invented.

A frame between keyframes a and b takes each of them through its NNF (the chained exact flow
where the shot's motion is known, else a PatchMatch search on the guides with patch voting),
weighted by nearness in time — (b − t)/(b − a) for a — and by the NNF's weight (visibility from
the surface coordinates, or patch confidence). Frames before the first keyframe or after the
last take the one keyframe they have. Pixels that neither keyframe shows (hidden in both) are
filled from the further keyframes, nearest first; the few no keyframe shows (anti-aliased
silhouettes whose surface coordinates are a mix, content entering the picture) take the nearest
keyframe's NNF regardless. The carried paint keeps its strokes: where two keyframes are mixed,
the mix's fine detail is brought back to the keyframes' strength (``detail``). Keyframes come
out as given.
"""

import torch

from ...kernels import like_input
from ...shot.frames import Frames, Recent, as_frames
from .detail import BANDS, detail_energy, restore_detail
from .margins import crop_margin
from .patch_blender import ProgressCounter, sequence_tensor, shot_fields
from .settings import BlendSettings

NEAREST_KEPT = 4  # keyframes kept at once, painted and carried: the two a frame is made of, and one more each side
HOLE = 1e-3  # a pixel whose carried weight stays below this has no keyframe showing it yet


class KeyframeCarrier:
    """Rebuilds a shot of fixed ``guides`` (N, H, W, C) from its painted ``keyframes`` (ascending
    frame indices). ``settings``, ``flows`` and ``surfaces`` as for ``PatchBlender`` (its window
    and mode are not used here)."""

    def __init__(self, guides, keyframes, settings=None, flows=None, surfaces=None, keep_fields=True):
        self.settings = settings or BlendSettings()
        self.fields = shot_fields(guides, self.settings, flows, surfaces, keep=keep_fields)
        self.keyframes = check_keyframes(keyframes, self.fields.count)
        self.pairs = [(frame, key) for frame in range(self.fields.count) for key, _ in self.sources(frame)]

    def sources(self, frame):
        """[(keyframe, weight in time)] that frame ``frame`` is made from: itself for a keyframe,
        else the nearest keyframe on each side (or the one it has)."""
        if frame in self.keyframes:
            return []
        before = [key for key in self.keyframes if key < frame]
        after = [key for key in self.keyframes if key > frame]
        if before and after:
            first, last = before[-1], after[0]
            return [(first, (last - frame) / (last - first)), (last, (frame - first) / (last - first))]
        return [(before[-1] if before else after[0], 1.0)]

    def __call__(self, keyframes, progress=None):
        """The whole shot (N, H, W, C) from the painted ``keyframes`` (K, H, W, C) float32, one
        per keyframe index; same kind and device as ``keyframes``. ``progress(done, total)`` as
        for ``PatchBlender``."""
        painted = sequence_tensor(keyframes, "keyframes")
        result = torch.empty((self.fields.count, *painted.shape[1:]), dtype=painted.dtype, device=painted.device)
        for frame, image in self.stream(painted, progress):
            result[frame] = image.to(result.device)
        return like_input(result, keyframes)

    def stream(self, keyframes, progress=None):
        """Each frame of the shot in order, as (index, (H, W, C) tensor), from the painted
        ``keyframes`` (any sequence of K frames, one per keyframe index: an array, a tensor,
        ``Frames``), each keyframe asked for when a frame needs it (the few nearest kept)."""
        count, height, width = self.fields.shape
        if len(keyframes) != len(self.keyframes) or tuple(keyframes.shape[1:3]) != (height, width):
            raise ValueError(f"keyframes {tuple(keyframes.shape[:3])} must be {len(self.keyframes)} frames of the "
                             f"guides' size {height}x{width}")
        counter = ProgressCounter(progress, len(self.fields.missing(self.pairs)) + count)
        self.fields.on_estimate = counter.add
        painted = Recent(as_frames(keyframes), NEAREST_KEPT,
                         lambda image: torch.as_tensor(image).float().to(self.fields.device))
        carried = Recent(Frames(len(self.keyframes), (), lambda index: self._carried_unit(painted[index])),
                         NEAREST_KEPT)
        try:
            for frame in range(count):
                if frame in self.keyframes:
                    image = painted[self.keyframes.index(frame)]
                else:
                    image = self._rebuilt(frame, carried)
                for key, _ in self.sources(frame):
                    self.fields.release((frame, key))
                counter.add(1)
                yield frame, image
        finally:
            self.fields.on_estimate = None

    def _carried_unit(self, image):
        """A keyframe as what is carried: (image, its detail bands' energies, weight 1) with the margin."""
        return self.fields.unit(torch.cat([image, detail_energy(image)], dim=-1))

    def _rebuilt(self, frame, carried):
        """Frame ``frame`` from its keyframes' ``carried`` units (by keyframe position)."""
        position = {key: index for index, key in enumerate(self.keyframes)}
        sources = self.sources(frame)
        total = sum(weight * self.fields.carry(carried[position[key]], frame, key) for key, weight in sources)
        by_distance = sorted(self.keyframes, key=lambda key: abs(key - frame))
        for key in by_distance:  # pixels hidden from both: the further keyframes, nearest first
            if not _holes(total).any():
                break
            if key not in dict(sources):
                _fill(total, self.fields, frame, key, carried[position[key]])
        if _holes(total).any():  # none shows them (silhouettes, the picture's edge): the nearest's NNF
            nearest = by_distance[0]
            _fill(total, self.fields, frame, nearest, carried[position[nearest]], use_weights=False)
        unit = crop_margin(total[..., :-1] / total[..., -1:].clamp_min(HOLE), self.fields.margin)
        image, energy = unit[..., :-len(BANDS)], unit[..., -len(BANDS):]
        return restore_detail(image, energy) if self.settings.keep_detail else image


def _holes(total):
    """(H, W, 1) bool: the pixels no keyframe has given weight yet."""
    return total[..., -1:] < HOLE


def _fill(total, fields, frame, key, unit, use_weights=True):
    """Add keyframe ``key`` (its carried ``unit``), carried to ``frame`` by ``fields``, where
    ``total`` has no weight yet."""
    holes = _holes(total)
    total += fields.carry(unit, frame, key, use_weights) * holes
    if not fields.keep:
        fields.release((frame, key))


def check_keyframes(keyframes, count):
    """``keyframes`` as an ascending list of distinct frame indices of a shot of ``count`` frames."""
    keys = sorted(set(int(key) for key in keyframes))
    if not keys:
        raise ValueError("keyframes: at least one keyframe is needed")
    if keys[0] < 0 or keys[-1] >= count:
        raise ValueError(f"keyframes: {keys[0] if keys[0] < 0 else keys[-1]} is not a frame of this "
                         f"{count}-frame shot (0 to {count - 1})")
    return keys
