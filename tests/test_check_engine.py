"""Check Engine: the Blender operator starts the engine process and reports what it found."""

import json
import subprocess
import sys
import venv

import pytest
from conftest import ADDON_MODULE, run_python


def set_engine_python(bpy, path):
    bpy.context.preferences.addons[ADDON_MODULE].preferences.engine_python = str(path)


def test_engine_info_reports_libraries_and_backends():
    result = run_python("from diffsynth_render.engine.__main__ import main; raise SystemExit(main(['info', '--json']))")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["missing"] == []
    assert report["libraries"]["torch"].startswith("2.")
    assert "cpu" in report["backends"]["torch"]


def test_check_engine_with_this_python(blender):
    set_engine_python(blender, sys.executable)
    assert blender.ops.diffsynth.check_engine() == {"FINISHED"}
    import torch

    status = blender.context.window_manager.diffsynth_engine_status
    assert f"torch {torch.__version__}" in status and "cpu" in status


def test_check_engine_names_a_missing_interpreter(blender, tmp_path):
    missing = tmp_path / "no-such-python"
    set_engine_python(blender, missing)
    with pytest.raises(RuntimeError, match=f"Engine Python not found: '{missing}'"):
        blender.ops.diffsynth.check_engine()


def test_check_engine_names_missing_libraries(blender, tmp_path):
    venv.create(tmp_path / "bare", with_pip=False)
    bare_python = tmp_path / "bare" / "bin" / "python"
    assert subprocess.run([bare_python, "-c", "import torch"], capture_output=True).returncode != 0
    set_engine_python(blender, bare_python)
    with pytest.raises(RuntimeError, match="lacks: torch, diffusers, transformers"):
        blender.ops.diffsynth.check_engine()
    assert "lacks: torch" in blender.context.window_manager.diffsynth_engine_status
