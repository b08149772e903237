"""A long shot split into chunks that render independently (a render farm's tasks) and still agree.

Chunk k starts ``chunk_frames`` frames after chunk k−1 and runs ``overlap`` frames past the next
one's start, so neighbours share ``overlap`` frames; the last chunk ends with the shot. The
overlap must reach at least the blending window (the frames blended on each side), so the
stitch can blend the seam with whole windows of both chunks' frames. Folder names of the chunks'
and the stitched frames are here too: the engine writes them, the farm template names them.
Standard library only, like ``contract``.
"""

import dataclasses
import math

from .contract import WHOLE_SHOT

CHUNKS_FOLDER = "chunks"  # in the job's output folder: chunk_001, chunk_002, ...
FINAL_FOLDER = "final"  # in the job's output folder: the stitched shot


@dataclasses.dataclass(frozen=True)
class Chunk:
    """Chunk ``number`` (from 1) of ``count``: shot frame indices ``start`` to ``stop`` (excluded)."""

    number: int
    count: int
    start: int
    stop: int

    @property
    def frames(self):
        return range(self.start, self.stop)

    @property
    def folder_name(self):
        return f"chunk_{self.number:03d}"


def plan_chunks(frames: int, chunk_frames: int, overlap: int, window: int | str) -> list[Chunk]:
    """The chunks of a shot of ``frames`` frames; raises ValueError saying what to change."""
    if window == WHOLE_SHOT:
        raise ValueError("a smoothing window over the whole shot cannot be split into chunks: give a window in "
                         "frames (--window N)")
    for name, value, low in (("chunk frames", chunk_frames, 1), ("overlap", overlap, 0)):
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise ValueError(f"{name} must be a whole number ≥ {low}, not {value!r}")
    if overlap < window:
        raise ValueError(f"an overlap of {overlap} frames is below the blending window of {window}: chunks must "
                         f"overlap by at least the frames blended on each side (--overlap {window} or more)")
    if chunk_frames + overlap > frames:
        raise ValueError(f"chunks of {chunk_frames} frames and an overlap of {overlap} are longer than the shot's "
                         f"{frames} frames: render it whole, or use smaller chunks")
    count = math.ceil((frames - overlap) / chunk_frames)
    return [Chunk(number + 1, count, number * chunk_frames,
                  frames if number == count - 1 else (number + 1) * chunk_frames + overlap)
            for number in range(count)]


def parse_chunk(text: str) -> tuple[int, int]:
    """'2/3' → (2, 3); raises ValueError for anything else."""
    number, _, count = text.partition("/")
    try:
        number, count = int(number), int(count)
    except ValueError:
        raise ValueError(f"{text!r} is not a chunk like 2/3 (the second of three)") from None
    if not 1 <= number <= count:
        raise ValueError(f"chunk {text}: the number must be from 1 to {count}")
    return number, count


def frame_ranges(first: int, last: int, size: int) -> list[str]:
    """Frame numbers ``first``–``last`` as ranges of ``size`` frames: ['1-48', '49-96', '97-100']."""
    return [f"{start}-{min(start + size - 1, last)}" for start in range(first, last + 1, size)]
