"""The engine's packages for Blender's Python: Install Dependencies, and the message with the
button when they are missing."""

import subprocess
import venv
import zipfile

import pytest
from conftest import ADDON_MODULE, build_shot, strips


def _preferences(bpy):
    return bpy.context.preferences.addons[ADDON_MODULE].preferences


def _wheel(folder):
    """A minimal pure-Python wheel (no dependencies), made by hand."""
    path = folder / "dstest_pkg-0.1-py3-none-any.whl"
    info = "dstest_pkg-0.1.dist-info"
    files = {"dstest_pkg.py": "VALUE = 42\n",
             f"{info}/METADATA": "Metadata-Version: 2.1\nName: dstest-pkg\nVersion: 0.1\n",
             f"{info}/WHEEL": "Wheel-Version: 1.0\nGenerator: hand\nRoot-Is-Purelib: true\nTag: py3-none-any\n"}
    files[f"{info}/RECORD"] = "".join(f"{name},,\n" for name in [*files, f"{info}/RECORD"])
    with zipfile.ZipFile(path, "w") as archive:
        for name, text in files.items():
            archive.writestr(name, text)
    return path


def test_install_dependencies_fills_the_packages_folder_the_engine_imports_from(blender, tmp_path):
    from diffsynth_render.core.engine_process import engine_command

    target = tmp_path / "site-packages"
    _preferences(blender).packages_dir = str(target)
    result = blender.ops.diffsynth.install_dependencies(packages=str(_wheel(tmp_path)), offline=True)
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


def test_stylize_without_engine_packages_says_what_to_install(blender, tmp_path):
    venv.create(tmp_path / "bare", with_pip=False)
    _preferences(blender).engine_python = str(tmp_path / "bare" / "bin" / "python")
    scene = build_shot(blender, tmp_path / "out")
    with pytest.raises(RuntimeError, match="lacks (torch|cv2|numpy): install the engine's dependencies"):
        blender.ops.diffsynth.stylize()
    assert blender.context.window_manager.diffsynth_error_kind == "missing-packages"
    assert strips(scene) == []
