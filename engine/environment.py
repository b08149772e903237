"""What the engine's Python has: library versions and kernel backends."""

import importlib.metadata
import platform
import re
import sys

from ..contract import engine_packages

REQUIRED = tuple(re.split(r"[<>=!~;\[ ]", requirement)[0] for requirement in engine_packages())
OPTIONAL = ("cupy",)  # the CUDA kernels; without it the torch path runs


def library_versions(names=REQUIRED + OPTIONAL):
    """Installed version of each library, or None where it is missing (nothing is imported)."""
    versions = {}
    for name in names:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = _cupy_wheel_version() if name == "cupy" else None
    return versions


def _cupy_wheel_version():
    # CuPy ships as cupy-cuda12x, cupy-cuda13x, ...: report whichever is installed.
    for dist in importlib.metadata.distributions():
        if (dist.metadata["Name"] or "").lower().startswith("cupy-"):
            return dist.version
    return None


def describe():
    """A JSON-ready report of this Python for the `info` command and the Blender UI."""
    versions = library_versions()
    return {
        "python": sys.version.split()[0],
        "executable": sys.executable,
        "platform": platform.platform(),
        "libraries": versions,
        "backends": _backends() if versions["torch"] else {},
        "missing": [name for name in REQUIRED if not versions[name]],
    }


def _backends():
    from ..kernels import available_backends  # imports torch

    return available_backends()
