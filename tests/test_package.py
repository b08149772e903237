"""The installable zip: Blender's validator accepts it, and it installs and works as an extension."""

import json
import os
import re
import zipfile

import pytest
from conftest import run_python

from diffsynth_render.tools.extension_cli import REPO_ROOT, build_package, manifest, validate

pytestmark = pytest.mark.blender  # Blender's own extension builder


@pytest.fixture(scope="module")
def package(tmp_path_factory):
    return build_package(tmp_path_factory.mktemp("dist"))


def test_manifest_fields():
    meta = manifest()
    assert meta["schema_version"] == "1.0.0" and meta["id"] == "diffsynth_render"
    assert meta["type"] == "add-on" and meta["blender_version_min"] == "4.2.0"
    assert re.fullmatch(r"\d+\.\d+\.\d+", meta["version"])
    assert len(meta["tagline"]) < 64 and meta["tagline"][-1].isalnum()
    assert all(license.startswith("SPDX:") for license in meta["license"])
    assert set(meta["permissions"]) == {"files", "network"}
    assert "download" in meta["permissions"]["network"]


def test_validator_accepts_the_source_tree():
    assert "Success" in validate(REPO_ROOT)


def test_validator_rejects_a_broken_manifest(tmp_path):
    broken = manifest_text().replace('type = "add-on"', 'type = "plugin"')
    (tmp_path / "blender_manifest.toml").write_text(broken)
    with pytest.raises(RuntimeError, match="rejected"):
        validate(tmp_path)


def manifest_text():
    return (REPO_ROOT / "blender_manifest.toml").read_text()


def test_zip_holds_the_extension_and_no_development_files(package):
    names = zipfile.ZipFile(package).namelist()
    assert {"blender_manifest.toml", "__init__.py", "engine/__main__.py", "kernels/__init__.py",
            "assets/styles/style_19.png"} <= set(names)  # the style picker's thumbnails ship
    assert any(name.startswith("operators/") for name in names)
    assert any(name.startswith("panels/") for name in names)
    development = ("tests/", "tools/", "bench/", ".venv/", ".git/", ".ci/", "build/", "dist/", "demo_out/",
                   "Makefile")
    assert not [name for name in names if name.startswith(development) or "__pycache__" in name]


INSTALL_AND_USE = """
import json, sys, bpy
bpy.ops.wm.read_factory_settings(use_empty=True)
bpy.ops.extensions.package_install_files(filepath=sys.argv[1], repo="user_default", enable_on_install=True)
module = "bl_ext.user_default.diffsynth_render"
enabled = [addon.module for addon in bpy.context.preferences.addons]
ops = sorted(name for name in dir(bpy.types) if name.startswith("DIFFSYNTH_"))
engine_source = sys.modules[module + ".core.engine_process"].PACKAGE_DIR
check = bpy.ops.diffsynth.check_engine() if module in enabled else None
status = bpy.context.window_manager.diffsynth_engine_status
bpy.ops.preferences.addon_disable(module=module)
left = sorted(name for name in dir(bpy.types) if name.startswith("DIFFSYNTH_"))
print(json.dumps(dict(enabled=module in enabled, ops=ops, check=sorted(check or []), status=status,
                      engine_source=str(engine_source), left=left)))
"""


def test_zip_installs_registers_and_runs_the_engine(package, tmp_path):
    env = dict(os.environ, BLENDER_USER_RESOURCES=str(tmp_path / "user"))
    result = run_python(INSTALL_AND_USE, args=[str(package)], env=env, timeout=300)
    assert result.returncode == 0, result.stderr
    outcome = json.loads(result.stdout.strip().splitlines()[-1])
    assert outcome["enabled"], result.stdout + result.stderr
    assert {"DIFFSYNTH_OT_check_engine", "DIFFSYNTH_OT_stylize", "DIFFSYNTH_PT_render"} <= set(outcome["ops"])
    assert outcome["engine_source"].startswith(str(tmp_path / "user"))  # the installed copy, not the checkout
    assert outcome["check"] == ["FINISHED"] and "torch" in outcome["status"]
    assert outcome["left"] == []
