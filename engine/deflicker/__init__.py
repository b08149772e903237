"""Patch-blending deflicker (DiffSynth §3.3): ``PatchBlender`` and its ``BlendSettings``.

Loaded on first use, so the engine's command line starts without importing torch.
"""

from importlib import import_module

_PUBLIC = {"PatchBlender": ".blender", "BlendSettings": ".settings"}
__all__ = list(_PUBLIC)


def __getattr__(name):
    if name not in _PUBLIC:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(import_module(_PUBLIC[name], __name__), name)
