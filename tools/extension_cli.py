"""Blender's own extension command-line tool, as bundled in the ``bpy`` wheel."""

import importlib.util
import subprocess
import sys
import tomllib
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent


def blender_ext_script():
    """Path of ``blender_ext.py`` inside the installed ``bpy`` wheel (found without importing bpy)."""
    spec = importlib.util.find_spec("bpy")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("the bpy wheel is not installed in this Python")
    bpy_dir = Path(next(iter(spec.submodule_search_locations)))
    found = sorted(bpy_dir.glob("*/scripts/addons_core/bl_pkg/cli/blender_ext.py"))
    if not found:
        raise FileNotFoundError(f"blender_ext.py not found under {bpy_dir}")
    return found[-1]


def run_blender_ext(*args):
    """Run ``blender_ext.py ARGS``; returns the CompletedProcess (text output captured)."""
    command = [sys.executable, str(blender_ext_script()), *map(str, args)]
    return subprocess.run(command, capture_output=True, text=True)


def manifest(source=REPO_ROOT):
    """The parsed ``blender_manifest.toml`` of ``source``."""
    with open(Path(source) / "blender_manifest.toml", "rb") as file:
        return tomllib.load(file)


def validate(path):
    """Run Blender's validator on a source folder or a zip; raises RuntimeError with its output."""
    result = run_blender_ext("validate", path)
    if result.returncode != 0:
        raise RuntimeError(f"Blender's validator rejected {path}:\n{result.stdout}{result.stderr}")
    return result.stdout


def build_package(output_dir, source=REPO_ROOT):
    """Build ``<id>-<version>.zip`` into ``output_dir`` with Blender's builder, validate it, return its path."""
    meta = manifest(source)
    output = Path(output_dir) / f"{meta['id']}-{meta['version']}.zip"
    output.parent.mkdir(parents=True, exist_ok=True)
    output.unlink(missing_ok=True)
    result = run_blender_ext("build", "--source-dir", source, "--output-filepath", output)
    if result.returncode != 0 or not output.is_file():
        raise RuntimeError(f"Blender's builder failed:\n{result.stdout}{result.stderr}")
    validate(output)
    return output
