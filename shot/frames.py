"""Frame sequences made one frame at a time, so that no stage holds a whole shot.

A ``Frames`` has a length, a ``shape`` (N, H, W, C) and gives frame i when asked: read from its
file, painted, decoded, carried along the motion. Nothing is kept by it: a stage that walks a
shot in order keeps the few frames its window needs (``Recent``), so memory is bounded by the
window, never by the shot's length.
"""

import collections
import operator

import numpy as np


class Frames:
    """``count`` frames of ``frame_shape`` (H, W, C); ``make(i)`` makes frame i (a float32 array
    or tensor of that shape) each time it is asked for."""

    def __init__(self, count, frame_shape, make):
        self.count, self.frame_shape, self._make = int(count), tuple(frame_shape), make

    def __len__(self):
        return self.count

    @property
    def shape(self):
        """(N, H, W, C), like an array's."""
        return (self.count, *self.frame_shape)

    def __getitem__(self, index):
        if isinstance(index, slice):
            return self.subset(range(self.count)[index])
        if isinstance(index, (list, range)):
            return self.subset(index)
        index = operator.index(index)
        if not -self.count <= index < self.count:
            raise IndexError(f"frame {index} of a {self.count}-frame sequence")
        return self._make(index % self.count)

    def __iter__(self):
        return (self[index] for index in range(self.count))

    def subset(self, indices):
        """The frames ``indices`` (any sequence of indices) as a sequence of their own."""
        indices = [operator.index(index) % self.count for index in indices]
        return Frames(len(indices), self.frame_shape, lambda i: self._make(indices[i]))

    def map(self, function, channels):
        """Each frame passed through ``function`` (frame → (H, W, ``channels``)), when asked."""
        return Frames(self.count, (*self.frame_shape[:2], channels), lambda i: function(self[i]))


def as_frames(sequence):
    """``sequence`` (a ``Frames``, or an (N, H, W, C) array or tensor) as ``Frames``."""
    if isinstance(sequence, Frames):
        return sequence
    return Frames(len(sequence), tuple(sequence.shape[1:]), sequence.__getitem__)


def stacked(sequences):
    """``Frames`` whose frame i is frame i of every one of ``sequences`` (of one length and size),
    their channels side by side."""
    sequences = [as_frames(sequence) for sequence in sequences]
    if len(sequences) == 1:
        return sequences[0]
    first = sequences[0]
    channels = sum(sequence.frame_shape[-1] for sequence in sequences)
    return Frames(len(first), (*first.frame_shape[:2], channels),
                  lambda i: np.concatenate([np.asarray(sequence[i]) for sequence in sequences], axis=-1))


class Recent:
    """Frame i of ``frames`` passed through ``convert``, the ``capacity`` most recently used kept:
    a stage that walks a shot in order reads each frame about once."""

    def __init__(self, frames, capacity, convert=lambda frame: frame):
        self.frames, self.capacity, self.convert = frames, max(1, capacity), convert
        self._kept = collections.OrderedDict()

    def __getitem__(self, index):
        if index in self._kept:
            self._kept.move_to_end(index)
            return self._kept[index]
        frame = self._kept[index] = self.convert(self.frames[index])
        if len(self._kept) > self.capacity:
            self._kept.popitem(last=False)
        return frame


def spilled(stream, count, frame_shape, folder):
    """``Frames`` of what ``stream`` (an iterator of (index, frame), indices in order) yields,
    each frame written to ``folder`` (float32 ``.npy``) as it comes and read from there when
    asked: a later stage may ask for any frame in any order, and the stream runs once, only as
    far as the frames asked for."""
    folder.mkdir(parents=True, exist_ok=True)
    made = set()

    def make(index):
        while index not in made:
            done, frame = next(stream)
            np.save(folder / f"{done}.npy", np.asarray(frame, np.float32))
            made.add(done)
        return np.load(folder / f"{index}.npy")

    return Frames(count, frame_shape, make)


def joined(first, then):
    """``Frames`` of the frames of ``first`` followed by those of ``then`` (of one frame shape)."""
    first, then = as_frames(first), as_frames(then)
    return Frames(len(first) + len(then), first.frame_shape,
                  lambda i: first[i] if i < len(first) else then[i - len(first)])
