"""Test harness: a private Blender user folder, and the extension enabled on factory settings.

``BLENDER_USER_RESOURCES`` must be set before anything imports ``bpy``, so it is set here, at
collection time, for this process and every subprocess the tests start.
"""

import hashlib
import math
import os
import re
import shutil
import subprocess
import sys
import tempfile
import warnings
import zipfile
from pathlib import Path

import pytest

_USER_RESOURCES = tempfile.mkdtemp(prefix="diffsynth-blender-user-")
os.environ["BLENDER_USER_RESOURCES"] = _USER_RESOURCES

_EXIT_STATUS = pytest.StashKey[int]()
ADDON_MODULE = "diffsynth_render"  # the repository root, importable from .venv (see Makefile)
# The Python with the engine's packages; the bpy 4.2/4.5 venvs of the smoke suite have none of them.
ENGINE_PYTHON = os.environ.get("DIFFSYNTH_ENGINE_PYTHON", sys.executable)


def pytest_report_header(config):
    from importlib.metadata import PackageNotFoundError, version

    try:
        blender = f"the bpy {version('bpy')} wheel"
    except PackageNotFoundError:
        blender = "none here (run the tests not marked blender)"
    return f"Blender: {blender}; the engine's Python: {ENGINE_PYTHON}"


def pytest_sessionfinish(session, exitstatus):
    shutil.rmtree(_USER_RESOURCES, ignore_errors=True)
    session.config.stash[_EXIT_STATUS] = int(exitstatus)


def pytest_unconfigure(config):
    """The last hook: on bpy 4.2/4.3 (the smoke suite), end here, before bpy's crash at exit."""
    if "bpy" in sys.modules and _EXIT_STATUS in config.stash:
        from diffsynth_render.bpy_exit import end_before_exit_crash

        end_before_exit_crash(config.stash[_EXIT_STATUS])


def pytest_collection_modifyitems(items):
    """A test that uses the ``blender`` fixture needs Blender: marked ``blender``."""
    for item in items:
        if "blender" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.blender)


@pytest.fixture(autouse=True)
def no_deprecated_api():
    """Blender's API moves, and we hear it first: a DeprecationWarning raised from the extension's
    own code (installed as an extension or imported from the checkout) fails the test; other
    warnings go on to pytest's summary."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", DeprecationWarning)
        yield
    ours = [warning for warning in caught if issubclass(warning.category, DeprecationWarning)
            and any(Path(warning.filename).is_relative_to(folder) for folder in _extension_folders())]
    for warning in caught:
        if warning not in ours:
            warnings.warn_explicit(warning.message, warning.category, warning.filename, warning.lineno)
    assert not ours, "deprecated API used by the extension:\n" + "\n".join(
        f"{warning.filename}:{warning.lineno}: {warning.message}" for warning in ours)


def _extension_folders():
    """The folders of the extension's modules loaded in this process."""
    return {Path(module.__file__).parent for name, module in list(sys.modules.items())
            if re.fullmatch(r"(bl_ext\.[^.]+\.)?diffsynth_render", name) and getattr(module, "__file__", None)}


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


def make_wheel(folder, tag="py3-none-any"):
    """A minimal wheel of the module ``dstest_pkg`` (``VALUE = 42``), made by hand, for ``tag``."""
    path = folder / f"dstest_pkg-0.1-{tag}.whl"
    info = "dstest_pkg-0.1.dist-info"
    files = {"dstest_pkg.py": "VALUE = 42\n",
             f"{info}/METADATA": "Metadata-Version: 2.1\nName: dstest-pkg\nVersion: 0.1\n",
             f"{info}/WHEEL": f"Wheel-Version: 1.0\nGenerator: hand\nRoot-Is-Purelib: true\nTag: {tag}\n"}
    files[f"{info}/RECORD"] = "".join(f"{name},,\n" for name in [*files, f"{info}/RECORD"])
    with zipfile.ZipFile(path, "w") as archive:
        for name, text in files.items():
            archive.writestr(name, text)
    return path


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


FRAMES, SIZE = 4, 64  # the small shot's length and size
CLI = [sys.executable, "-m", "diffsynth_render.cli"]


def build_shot(bpy, output):
    """A small animated shot at 64×64, frames 5–8 (a cube turning on a plane, a sun, a camera),
    its DiffSynth output in ``output``; on the empty file the fixtures leave."""
    scene = bpy.context.scene
    scene.render.resolution_x = scene.render.resolution_y = SIZE
    scene.render.resolution_percentage = 100
    scene.frame_start, scene.frame_end = 5, 4 + FRAMES
    bpy.ops.mesh.primitive_plane_add(size=20)
    bpy.ops.mesh.primitive_cube_add(size=2, location=(0, 0, 1))
    cube = bpy.context.object
    cube.keyframe_insert("rotation_euler", frame=5)
    cube.rotation_euler.z = math.radians(40)
    cube.keyframe_insert("rotation_euler", frame=8)
    bpy.ops.object.light_add(type="SUN")
    bpy.ops.object.camera_add(location=(0, -8, 5), rotation=(math.radians(60), 0, 0))
    scene.camera = bpy.context.object
    scene.diffsynth.output_dir = str(output)
    return scene


FOOTAGE_CODE = """
import sys
from pathlib import Path

import cv2
import numpy as np

from diffsynth_render.testing.synthetic_sequences import moving_shot

folder, count, size, movie = Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4] == "movie"
frames = (moving_shot(count, size, 3, seed=4, step=(1, 2))[0] * 255).round().astype(np.uint8)[..., ::-1]
folder.mkdir(parents=True, exist_ok=True)
if movie:
    writer = cv2.VideoWriter(str(folder / "clip.avi"), cv2.VideoWriter_fourcc(*"MJPG"), 24, (size, size))
    for frame in frames:
        writer.write(frame)
    writer.release()
else:
    (folder / "pictures").mkdir()
    for index, frame in enumerate(frames):
        cv2.imwrite(str(folder / "pictures" / f"shot_{index:02d}.png"), frame)
"""


def write_footage(folder, count=6, movie=True):
    """Footage of ``count`` frames of moving texture at SIZE², written by the engine's Python (it
    has OpenCV): an MJPG AVI ``folder/clip.avi`` (``movie``) or PNG files
    ``folder/pictures/shot_##.png``; returns its path."""
    done = subprocess.run([ENGINE_PYTHON, "-c", FOOTAGE_CODE, str(folder), str(count), str(SIZE),
                           "movie" if movie else "pictures"], capture_output=True, text=True,
                          env=dict(os.environ, PYTHONSAFEPATH="1"))
    assert done.returncode == 0, done.stderr
    return folder / "clip.avi" if movie else folder / "pictures"


def add_footage_strip(scene, path, channel=2, frame_start=10):
    """A movie strip of the file ``path``, or an image strip of the pictures in the folder ``path``."""
    editor = scene.sequence_editor or scene.sequence_editor_create()
    new = strips_of(editor)
    if path.is_dir():
        files = sorted(path.iterdir())
        strip = new.new_image(name="pictures", filepath=str(files[0]), channel=channel, frame_start=frame_start)
        for file in files[1:]:
            strip.elements.append(file.name)
        return strip
    return new.new_movie(name="clip", filepath=str(path), channel=channel, frame_start=frame_start)


def trim_start(strip, frames):
    """Hide the strip's first ``frames`` frames: ``left_handle_offset`` in Blender 5.1+,
    ``frame_offset_start`` before."""
    setattr(strip, "left_handle_offset" if hasattr(strip, "left_handle_offset") else "frame_offset_start", frames)


def strips_of(editor):
    """The editor's top-level strips collection, under each release's name for it."""
    from diffsynth_render.operators.vse_strip import strips_of

    return strips_of(editor)


def strips(scene):
    """The scene's top-level VSE strips, under each release's name for them."""
    editor = scene.sequence_editor
    return [] if editor is None else list(strips_of(editor))


def first_and_length(strip):
    """The strip's first frame and how many frames it shows, under each release's names for them."""
    from diffsynth_render.operators.vse_strip import span

    first, end = span(strip)
    return first, end - first


@pytest.fixture
def project(blender, tmp_path):
    """tmp_path/project/shot.blend: the conftest's shot (frames 5–8, 64 px), saved."""
    folder = tmp_path / "project"
    folder.mkdir()
    build_shot(blender, folder / "unused")
    blender.ops.wm.save_as_mainfile(filepath=str(folder / "shot.blend"))
    return folder


def cli_run(*args, **kwargs):
    """``python -m diffsynth_render.cli ARGS`` in this Python, its output captured as text."""
    return subprocess.run([*CLI, *map(str, args)], capture_output=True, text=True, timeout=300, **kwargs)


def files_state(root, new=None):
    """Every file and folder under ``root`` (but the run's own new folder ``new``), files hashed."""
    return {str(path.relative_to(root)): hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else "dir"
            for path in root.rglob("*") if new is None or (path != new and new not in path.parents)}


def refused(done, message, status=2):
    """The command exited ``status`` with ``message`` in the first line of stderr and no traceback."""
    assert done.returncode == status, done.stderr
    first = (done.stderr.splitlines() or [""])[0]
    assert message in first, done.stderr
    assert "Traceback" not in done.stdout + done.stderr
