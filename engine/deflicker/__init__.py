"""Patch-blending deflicker (DiffSynth §3.3): ``PatchBlender`` and its ``BlendSettings``.

``BlendSettings`` imports no torch; ``PatchBlender`` does, and is imported on first use
(PEP 562), so that what only reads settings (a job, a preview with no blending) starts without
torch.
"""

from .settings import BlendSettings

__all__ = ["BlendSettings", "PatchBlender"]


def __getattr__(name):
    if name == "PatchBlender":
        from .patch_blender import PatchBlender

        return PatchBlender
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
