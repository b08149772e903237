"""The engine's packages for Blender's Python: Install Dependencies, and the message with the
button when they are missing."""

import subprocess
import tarfile
import venv

import pytest
from conftest import ADDON_MODULE, build_shot, make_wheel, strips


def _preferences(bpy):
    return bpy.context.preferences.addons[ADDON_MODULE].preferences


def test_install_dependencies_fills_the_packages_folder_the_engine_imports_from(blender, tmp_path):
    from diffsynth_render.core.engine_process import engine_command

    target = tmp_path / "site-packages"
    _preferences(blender).packages_dir = str(target)
    result = blender.ops.diffsynth.install_dependencies(packages=str(make_wheel(tmp_path)), offline=True)
    assert result == {"FINISHED"}
    assert (target / "dstest_pkg.py").is_file()
    assert "installed" in blender.context.window_manager.diffsynth_engine_status
    _, env = engine_command("python3", "info", packages=str(target))
    probe = subprocess.run(["python3", "-c", "import dstest_pkg; print(dstest_pkg.VALUE)"], env=env,
                           capture_output=True, text=True)
    assert probe.stdout.strip() == "42", probe.stderr


def test_install_dependencies_reports_pip_failure(blender, tmp_path):
    _preferences(blender).packages_dir = str(tmp_path / "site-packages")
    with pytest.raises(RuntimeError, match="pip failed"):
        blender.ops.diffsynth.install_dependencies(packages=str(tmp_path / "missing.whl"), offline=True)


@pytest.mark.blender  # the operator's module imports bpy
def test_install_dependencies_never_builds_from_source(tmp_path):
    """A package found only as a source archive is refused: Blender on Windows and macOS has no
    compiler, and the engine's requirements all resolve to wheels (tools/wheel_check.py)."""
    from diffsynth_render.operators.install_dependencies import pip_command

    links = tmp_path / "links"
    (links / "dstest_src-0.1").mkdir(parents=True)
    (links / "dstest_src-0.1" / "pyproject.toml").write_text('[project]\nname = "dstest-src"\nversion = "0.1"\n')
    with tarfile.open(links / "dstest_src-0.1.tar.gz", "w:gz") as archive:
        archive.add(links / "dstest_src-0.1", arcname="dstest_src-0.1")
    command = pip_command(tmp_path / "site-packages", ["--find-links", str(links), "dstest-src"], offline=True)
    done = subprocess.run(command, capture_output=True, text=True)
    assert done.returncode != 0 and "No matching distribution found for dstest-src" in done.stderr, done.stderr
    assert "build dependencies" not in done.stdout + done.stderr


def test_stylize_without_engine_packages_says_what_to_install(blender, tmp_path):
    venv.create(tmp_path / "bare", with_pip=False)
    _preferences(blender).engine_python = str(tmp_path / "bare" / "bin" / "python")
    scene = build_shot(blender, tmp_path / "out")
    with pytest.raises(RuntimeError, match="lacks (torch|cv2|numpy): install the engine's dependencies"):
        blender.ops.diffsynth.stylize()
    assert blender.context.window_manager.diffsynth_error_kind == "missing-packages"
    assert strips(scene) == []
