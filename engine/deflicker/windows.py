"""Which frames blend into which: each frame's window, cut into blocks.

A block is a run of consecutive frames blended in the geometry of one of them, its anchor.
The fast mode cuts each side of a window into aligned blocks of 2^L frames (at most about
2·log2(w) of them), anchored at the block's frame nearest to the blended frame, so a frame
reaches the blended frame in at most two hops (frame → anchor → blended frame). Aligned
blocks are shared by neighbouring windows, which is what keeps the NNF count at O(n log n).
The balanced mode uses blocks of one frame: every window frame is remapped directly.
"""

from dataclasses import dataclass


@dataclass(frozen=True)
class Block:
    """Frames ``first``..``last`` blended in the geometry of frame ``anchor``."""

    first: int
    last: int
    anchor: int

    @property
    def frames(self):
        return range(self.first, self.last + 1)


def aligned_runs(first, last):
    """The aligned runs of 2^L frames (start divisible by 2^L) that exactly cover first..last."""
    runs = []
    while first <= last:
        size = 1
        while first % (2 * size) == 0 and first + 2 * size - 1 <= last:
            size *= 2
        runs.append((first, first + size - 1))
        first += size
    return runs


def window_blocks(index, count, window, mode):
    """The blocks blended into frame ``index`` (frame ``index`` itself excluded)."""
    sides = ((max(0, index - window), index - 1, "left"), (index + 1, min(count - 1, index + window), "right"))
    blocks = []
    for first, last, side in sides:
        runs = aligned_runs(first, last) if mode == "fast" else [(frame, frame) for frame in range(first, last + 1)]
        blocks += [Block(a, b, b if side == "left" else a) for a, b in runs]
    return blocks


def frame_plan(count, window, mode):
    """``plan[i]``: the blocks of frame i, for every frame of a shot of ``count`` frames."""
    return [window_blocks(index, count, window, mode) for index in range(count)]


def _uses(plan):
    """(frame index, (target, source)) for every use of an NNF in the plan, in order."""
    for index, blocks in enumerate(plan):
        for block in blocks:
            for frame in block.frames:
                if frame != block.anchor:
                    yield index, (block.anchor, frame)
            yield index, (index, block.anchor)


def field_pairs(plan):
    """Every (target, source) NNF the plan needs, in the order they are first used."""
    return list(dict.fromkeys(pair for _, pair in _uses(plan)))


def pair_last_use(plan):
    """{frame index: the NNF pairs whose last use is in that frame's blend}."""
    last = {pair: index for index, pair in _uses(plan)}
    expiry = {}
    for pair, index in last.items():
        expiry.setdefault(index, []).append(pair)
    return expiry


def last_use(plan):
    """For each block, the last frame index whose blend uses it (when it can be dropped)."""
    last = {}
    for index, blocks in enumerate(plan):
        for block in blocks:
            last[block] = index
    return last
