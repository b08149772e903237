"""Smoke suite for every Blender the manifest promises, on the built zip installed as an extension
the way a user installs it.

``make test`` runs this file in the bpy 4.2 LTS and 4.5 LTS venvs (see the Makefile), which hold
bpy and pytest only; the main suite runs it on bpy 5.0. The engine runs in
``DIFFSYNTH_ENGINE_PYTHON`` (default: this Python), which has the engine's packages.
"""

import os
import subprocess
import sys
import venv
from pathlib import Path

import pytest
from conftest import (
    ENGINE_PYTHON,
    FRAMES,
    add_footage_strip,
    build_shot,
    first_and_length,
    make_wheel,
    strips,
    trim_start,
    write_footage,
)

EXTENSION = "bl_ext.user_default.diffsynth_render"
BUILD = "import sys; from diffsynth_render.tools.extension_cli import build_package; print(build_package(sys.argv[1]))"
TYPES = {"DIFFSYNTH_OT_stylize", "DIFFSYNTH_OT_render_passes", "DIFFSYNTH_OT_import_strip", "DIFFSYNTH_PT_render"}


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """The zip, built by Blender's builder in the engine's Python, installed into the user_default
    repository (not enabled: the ``blender`` fixture enables it for each test); its module name."""
    import bpy

    built = subprocess.run([ENGINE_PYTHON, "-c", BUILD, str(tmp_path_factory.mktemp("dist"))], capture_output=True,
                           text=True, env=dict(os.environ, PYTHONSAFEPATH="1"))
    assert built.returncode == 0, built.stderr
    bpy.ops.wm.read_factory_settings(use_empty=True)
    result = bpy.ops.extensions.package_install_files(filepath=built.stdout.split()[-1], repo="user_default",
                                                      enable_on_install=False)
    assert result == {"FINISHED"}
    return EXTENSION


@pytest.fixture
def blender(installed):
    """bpy on factory settings, the installed extension enabled with its engine in ENGINE_PYTHON."""
    import bpy

    import addon_utils  # importable only once bpy is

    bpy.ops.wm.read_factory_settings(use_empty=True)
    addon_utils.enable(installed, default_set=True, handle_error=_raise)
    bpy.context.preferences.addons[installed].preferences.engine_python = ENGINE_PYTHON
    yield bpy
    addon_utils.disable(installed, default_set=True, handle_error=_raise)


def _raise(error):
    raise error


@pytest.fixture
def shot(blender, tmp_path):
    """The small shot, with the defaults a user sees: the style painter."""
    return blender, build_shot(blender, tmp_path / "out"), tmp_path


def _types(bpy):
    return {name for name in dir(bpy.types) if name.startswith("DIFFSYNTH_")}


def test_installed_extension_registers_and_unregisters_twice(blender):
    import addon_utils

    assert TYPES <= _types(blender) and blender.context.scene.diffsynth.painter == "style"
    for _ in range(2):
        addon_utils.disable(EXTENSION, default_set=True, handle_error=_raise)
        assert _types(blender) == set() and not hasattr(blender.types.Scene, "diffsynth")
        assert not hasattr(blender.types.WindowManager, "diffsynth_running")
        addon_utils.enable(EXTENSION, default_set=True, handle_error=_raise)
        assert TYPES <= _types(blender) and hasattr(blender.types.Scene, "diffsynth")


@pytest.mark.parametrize("base", ["normals", "scene"])
def test_render_passes_writes_an_exr_per_frame_and_caches_them(shot, base):
    bpy, scene, tmp_path = shot
    scene.diffsynth.base_image = base
    assert bpy.ops.diffsynth.render_passes() == {"FINISHED"}
    folder = tmp_path / "out" / "Scene" / "passes" / "exr"
    assert len(list(folder.glob("frame_*.exr"))) == FRAMES
    assert len(list(folder.glob("frame_*.look.png"))) == (FRAMES if base == "scene" else 0)  # the scene's look
    written = {path: path.stat().st_mtime_ns for path in folder.iterdir()}
    assert bpy.ops.diffsynth.render_passes() == {"FINISHED"}
    assert {path: path.stat().st_mtime_ns for path in folder.iterdir()} == written  # nothing rendered again


def test_style_stylize_strip_survives_save_and_reload_and_imports_again(shot):
    bpy, scene, tmp_path = shot
    assert bpy.ops.diffsynth.stylize() == {"FINISHED"}
    (strip,) = strips(scene)
    assert strip.name == "Scene: style 19 v001"
    assert (*first_and_length(strip), len(strip.elements)) == (5, FRAMES, FRAMES)
    folder = scene.diffsynth.last_output
    assert len(list(Path(folder).glob("frame_*.png"))) == FRAMES
    blend = tmp_path / "shot.blend"
    bpy.ops.wm.save_as_mainfile(filepath=str(blend))
    bpy.ops.wm.open_mainfile(filepath=str(blend))
    scene = bpy.context.scene
    (strip,) = strips(scene)
    assert strip.name == "Scene: style 19 v001" and len(strip.elements) == FRAMES
    assert bpy.ops.diffsynth.import_strip(directory=folder) == {"FINISHED"}
    again = max(strips(scene), key=lambda s: s.channel)
    assert (again.name, again.channel, *first_and_length(again), len(again.elements)) == ("stylized_v001", 2, 5, FRAMES,
                                                                                     FRAMES)


@pytest.mark.parametrize("movie", [True, False], ids=["movie", "pictures"])
def test_stylize_strip_puts_a_strip_of_the_same_length_and_start_above_it(shot, movie):
    bpy, scene, tmp_path = shot
    source = add_footage_strip(scene, write_footage(tmp_path / "media", FRAMES, movie), channel=2, frame_start=3)
    trim_start(source, 1)
    assert bpy.ops.diffsynth.stylize_strip(strip=source.name) == {"FINISHED"}
    (added,) = [strip for strip in strips(scene) if strip != source]
    assert first_and_length(added) == first_and_length(source) == (4, FRAMES - 1) and added.channel == 3
    with pytest.raises(RuntimeError, match="No strip is selected"):
        scene.sequence_editor.active_strip = None
        bpy.ops.diffsynth.stylize_strip()


def test_no_camera_is_a_clear_error_that_changes_nothing(shot):
    bpy, scene, _ = shot
    scene.camera = None
    objects = len(bpy.data.objects)
    with pytest.raises(RuntimeError, match="no active camera"):
        bpy.ops.diffsynth.stylize()
    assert strips(scene) == [] and len(bpy.data.objects) == objects
    assert not bpy.context.window_manager.diffsynth_running


def test_install_dependencies_installs_for_this_blenders_python(blender, tmp_path):
    """pip runs in the running Blender's Python: a wheel built for that Python alone installs, one
    for the other Python Blender ships is refused (offline, from the files given)."""
    preferences = blender.context.preferences.addons[EXTENSION].preferences
    preferences.packages_dir = str(tmp_path / "site-packages")
    running = f"cp{sys.version_info.major}{sys.version_info.minor}"
    other = {"cp311": "cp313"}.get(running, "cp311")
    ours = make_wheel(tmp_path, f"{running}-none-any")
    assert blender.ops.diffsynth.install_dependencies(packages=str(ours), offline=True) == {"FINISHED"}
    assert (tmp_path / "site-packages" / "dstest_pkg.py").is_file()
    with pytest.raises(RuntimeError, match="pip failed: .*not a supported wheel"):
        blender.ops.diffsynth.install_dependencies(packages=str(make_wheel(tmp_path, f"{other}-none-any")),
                                                   offline=True)


def test_headless_cli_from_this_python_with_the_engine_in_another(shot):
    """The CLI run by this (Blender-only) Python from the installed extension's folder."""
    bpy, scene, tmp_path = shot
    source, copy = tmp_path / "shot.blend", tmp_path / "with_strip.blend"
    bpy.ops.wm.save_as_mainfile(filepath=str(source))
    arguments = [str(source), "--out", str(tmp_path / "farm"), "--frames", "6-7", "--style", "4", "--save-blend",
                 str(copy)]

    done = _cli(*arguments, "--engine-python", ENGINE_PYTHON)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "changed on disk" not in done.stdout + done.stderr
    bpy.ops.wm.open_mainfile(filepath=str(copy))
    (strip,) = strips(bpy.context.scene)
    assert (strip.name, *first_and_length(strip), len(strip.elements)) == ("Scene: style 4 v001", 6, 2, 2)

    wrong = _cli(*arguments, "--engine-python", str(tmp_path / "no-python"))
    assert wrong.returncode == 2 and "no-python is not an executable file" in wrong.stderr
    venv.create(tmp_path / "bare", with_pip=False)
    bare = _cli(*arguments, "--engine-python", str(tmp_path / "bare" / "bin" / "python"))
    assert bare.returncode == 5 and "lacks" in bare.stderr and "--engine-python" in bare.stderr  # missing packages


def _cli(*arguments):
    """``python -m diffsynth_render.cli stylize ARGUMENTS`` in this Python, from the installed extension,
    deprecation warnings shown; fails on one raised from the extension's code."""
    extension_folder = Path(sys.modules[EXTENSION].__file__).parent
    env = dict(os.environ, PYTHONPATH=str(extension_folder.parent), PYTHONSAFEPATH="1")
    done = subprocess.run([sys.executable, "-W", "always::DeprecationWarning", "-m", "diffsynth_render.cli", "stylize",
                           *arguments], env=env, capture_output=True, text=True, timeout=300)
    ours = [line for line in done.stderr.splitlines()
            if line.startswith(str(extension_folder)) and "DeprecationWarning" in line]
    assert not ours, "deprecated API used by the extension:\n" + "\n".join(ours)
    return done
