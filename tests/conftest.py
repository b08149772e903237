"""Test harness: a private Blender user folder, and the extension enabled on factory settings.

``BLENDER_USER_RESOURCES`` must be set before anything imports ``bpy``, so it is set here, at
collection time, for this process and every subprocess the tests start.
"""

import os
import shutil
import subprocess
import sys
import tempfile

import pytest

_USER_RESOURCES = tempfile.mkdtemp(prefix="diffsynth-blender-user-")
os.environ["BLENDER_USER_RESOURCES"] = _USER_RESOURCES

ADDON_MODULE = "diffsynth_render"  # the repository root, importable from .venv (see Makefile)


def pytest_sessionfinish(session, exitstatus):
    shutil.rmtree(_USER_RESOURCES, ignore_errors=True)


@pytest.fixture
def blender():
    """bpy on factory settings with the extension enabled; disabled again afterwards."""
    import bpy

    import addon_utils  # importable only once bpy is

    bpy.ops.wm.read_factory_settings(use_empty=True)
    addon_utils.enable(ADDON_MODULE, default_set=True, handle_error=_raise)
    yield bpy
    addon_utils.disable(ADDON_MODULE, default_set=True, handle_error=_raise)


def _raise(error):
    raise error


def run_python(code, args=(), **kwargs):
    """Run ``code`` with ``args`` in a fresh interpreter of this environment; returns the CompletedProcess."""
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, **kwargs)


def engine_command(job):
    """The engine worker's command line for the job file ``job``, progress as JSON lines."""
    return [sys.executable, "-m", "diffsynth_render.engine", "run", str(job), "--progress", "jsonl"]


def run_engine(job):
    """Run the engine worker on ``job``; returns (exit status, its events)."""
    import json

    done = subprocess.run(engine_command(job), capture_output=True, text=True, timeout=300)
    return done.returncode, [json.loads(line) for line in done.stdout.splitlines()]
