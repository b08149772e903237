"""The parts of a job about the shot's frames: the keyframes painted (``Keyframes``), the
deflicker (``Smoothing``), a farm's chunks (``ChunkPlan``), and what the engine derives its
inputs from: the pass EXRs (``Passes``) or footage (``Footage``)."""

import dataclasses
import json
from typing import ClassVar

from ..chunking import plan_chunks
from ..contract import BLEND_MODES, MAX_WINDOW, WEIGHTINGS, WHOLE_SHOT
from .fields import choice, custom, flag, limits, set_fields, text, whole


@dataclasses.dataclass(frozen=True)
class Keyframes:
    """The frames painted, the rest carried from them: ``every`` K-th frame from the first (and
    the last), or the frame numbers ``frames``."""

    every: int | None = None
    frames: tuple = ()

    HELP: ClassVar[str] = ("paint only these frames and carry their paint to the frames between: every:K (every "
                           "K-th frame and the last) or frame numbers like 1,13,24; empty: paint every frame")

    @classmethod
    def parse(cls, typed: str) -> "Keyframes | None":
        """The keyframes a user typed: 'every:4', '1,13,24', or '' (None: every frame painted);
        raises ValueError saying what is wrong."""
        typed = typed.strip()
        if not typed:
            return None
        kind, _, value = typed.partition(":")
        try:
            if kind.strip() == "every" and value:
                if int(value) < 1:
                    raise ValueError
                return cls(every=int(value))
            return cls(frames=tuple(sorted({int(part) for part in typed.split(",")})))
        except ValueError:
            raise ValueError(f"keyframes {typed!r}: write every:K (K ≥ 1) or frame numbers like 1,13,24") from None

    def text(self) -> str:
        """As a user types it (``parse`` reads it back)."""
        return f"every:{self.every}" if self.every else ",".join(map(str, self.frames))

    def indices(self, first_frame: int, count: int) -> list[int]:
        """Ascending indices of the keyframes in a shot of ``count`` frames numbered from
        ``first_frame``; raises ValueError naming a frame outside the shot."""
        if self.every:
            return sorted({*range(0, count, self.every), count - 1})
        outside = [number for number in self.frames if not first_frame <= number < first_frame + count]
        if outside:
            raise ValueError(f"keyframe {outside[0]} is not in the shot's frames {first_frame}–"
                             f"{first_frame + count - 1}")
        return sorted({number - first_frame for number in self.frames})

    def to_json(self):
        return {"every": self.every} if self.every else list(self.frames)

    @classmethod
    def read(cls, reader):
        value = reader.get("keyframes", (dict, list))
        if isinstance(value, dict):
            reader.read.add("keyframes.every")
            every = value.get("every")
            if isinstance(every, bool) or not isinstance(every, int) or every < 1 or len(value) != 1:
                reader.problem("keyframes", "must be {\"every\": K} with K ≥ 1 or a list of frame numbers, not "
                               f"{json.dumps(value)}")
                return None
            return cls(every=every)
        if value is None:
            return None
        if not value or not all(isinstance(n, int) and not isinstance(n, bool) for n in value):
            reader.problem("keyframes", f"must list frame numbers, not {json.dumps(value)}")
            return None
        return cls(frames=tuple(value))


@dataclasses.dataclass(frozen=True)
class Smoothing:
    """The patch-blending deflicker. ``window``: frames blended on each side, or ``WHOLE_SHOT``;
    None: the painter's own (``JobSpec.window``). ``steps`` and ``final`` (the diffusion
    painter's smoothing steps, and whether the frames are blended at the end): None, the
    preset's."""

    window: int | str | None = custom(low=1, high=MAX_WINDOW)
    mode: str = choice("fast", BLEND_MODES)
    weighting: str = choice("confidence", WEIGHTINGS)
    iterations: int = whole(5, 0, 50)
    patch_size: int = whole(5, 1, 31)
    keep_detail: bool = flag(True)
    steps: tuple | None = custom()
    final: bool | None = flag(None)

    @classmethod
    def read(cls, reader):
        within = reader.object("smoothing")
        values = reader.fields(cls, within, "smoothing.")
        window, (low, high) = reader.get("smoothing.window", (int, str), within=within), limits(cls, "window").values()
        if window is not None and window != WHOLE_SHOT and (isinstance(window, str) or not low <= window <= high):
            reader.problem("smoothing.window", f"must be a number of frames from {low} to {high} or "
                           f"\"{WHOLE_SHOT}\", not {json.dumps(window)}")
            window = None
        steps = reader.get("smoothing.steps", (list,), within=within)
        if steps is not None and not all(isinstance(s, int) and not isinstance(s, bool) for s in steps):
            reader.problem("smoothing.steps", f"must list step numbers, not {json.dumps(steps)}")
            steps = []
        return cls(window=window, steps=None if steps is None else tuple(steps), **values)

    def to_json(self):
        fields = set_fields(self)
        if self.steps is not None:
            fields["steps"] = list(self.steps)
        return fields


@dataclasses.dataclass(frozen=True)
class ChunkPlan:
    """A shot split for a farm: chunks of ``frames`` frames sharing ``overlap`` with the next;
    ``anchor``: the frame every chunk's cross-frame attention also sees (None: the first)."""

    frames: int = whole(None, 1)
    overlap: int = whole(None, 0)
    anchor: int | None = whole(None, 0)

    def plan(self, count, window):
        """The ``chunking.Chunk``s of a shot of ``count`` frames blended over ``window`` (a number
        of frames or ``WHOLE_SHOT``); raises ValueError when they cannot be made."""
        return tuple(plan_chunks(count, self.frames, self.overlap, window))

    @classmethod
    def read(cls, reader):
        within = reader.get("chunks", (dict,))
        if within is None:
            return None
        values = reader.fields(cls, within, "chunks.")
        for name in ("frames", "overlap"):
            if values[name] is None and not any(p.startswith(f"chunks.{name}") for p in reader.problems):
                reader.problem(f"chunks.{name}", "is missing")
        return None if None in (values["frames"], values["overlap"]) else cls(**values)


@dataclasses.dataclass(frozen=True)
class Passes:
    """The shot's pass EXRs (files in frame order, or a folder) and the folder the engine derives
    its controls, guides and flows into."""

    frames: tuple | str = custom(())
    derived: str = text("", required=True)

    key: ClassVar[str] = "passes"  # its object in the job

    @classmethod
    def read(cls, reader):
        within = reader.get(cls.key, (dict,))
        if within is None:
            return None
        frames = reader.get(f"{cls.key}.frames", (str, list), (), required=True, within=within)
        if isinstance(frames, list) and not (frames and all(isinstance(item, str) for item in frames)):
            reader.problem(f"{cls.key}.frames", "must be a folder or a list of frame files")
        return cls(frames=tuple(frames) if isinstance(frames, list) else frames,
                   **reader.fields(cls, within, f"{cls.key}."))

    def to_json(self):
        return {"frames": self.frames if isinstance(self.frames, str) else list(self.frames), "derived": self.derived}


@dataclasses.dataclass(frozen=True)
class Footage(Passes):
    """Footage to stylize, a video's or a strip's frames (PNG files in frame order, or a folder),
    and the folder the engine derives its motion and soft-edge control into: the frames are their
    own guides and base images."""

    key: ClassVar[str] = "footage"
