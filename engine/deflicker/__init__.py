"""Patch-blending deflicker (DiffSynth §3.3): ``PatchBlender`` and its ``BlendSettings``.

Importing it imports torch; the engine's command line imports it only inside the commands that
blend, so it starts without torch.
"""

from .patch_blender import PatchBlender
from .settings import BlendSettings

__all__ = ["BlendSettings", "PatchBlender"]
