"""DiffSynth Render: stylize an untextured, animated Blender shot into a flicker-free video.

This file only registers the Blender side. The Blender modules (``operators``, ``panels``)
are imported inside :func:`register`, so ``engine`` and ``kernels`` import in a Python
that has no ``bpy``.
"""

_BLENDER_MODULES = ("panels", "operators")


def _blender_modules():
    import importlib

    return [importlib.import_module(f".{name}", __package__) for name in _BLENDER_MODULES]


def register():
    """Register every Blender class of the extension (called by Blender on enable)."""
    for module in _blender_modules():
        module.register()


def unregister():
    """Unregister in reverse order (called by Blender on disable)."""
    for module in reversed(_blender_modules()):
        module.unregister()
