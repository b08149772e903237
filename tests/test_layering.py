"""The code-placement invariants of ARCHITECTURE.md, checked on the source."""

import ast
from pathlib import Path

import pytest

PACKAGE_ROOT = Path(__file__).resolve().parent.parent
BLENDER_MODULES = {"bpy", "bmesh", "mathutils", "addon_utils", "bl_ui", "bpy_extras", "gpu"}
SHIPPED_FOLDERS = ("engine", "kernels", "shot", "operators", "panels")


def imported_modules(path):
    """(top-level module, is_relative) of every import statement in a file, at any depth."""
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            yield from ((alias.name.split(".")[0], False) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            yield (node.module or "").split(".")[0], node.level > 0


def sources(*folders):
    return [path for folder in folders for path in sorted((PACKAGE_ROOT / folder).rglob("*.py"))]


@pytest.mark.parametrize("path", sources("engine", "kernels", "shot"), ids=lambda p: str(p.relative_to(PACKAGE_ROOT)))
def test_engine_kernels_and_shot_never_import_blender(path):
    blender = {name for name, relative in imported_modules(path) if not relative and name in BLENDER_MODULES}
    assert not blender, f"{path.name} imports {blender}"


@pytest.mark.parametrize(
    "path", [PACKAGE_ROOT / "__init__.py", *sources(*SHIPPED_FOLDERS)], ids=lambda p: str(p.relative_to(PACKAGE_ROOT))
)
def test_package_imports_itself_relatively(path):
    # Blender loads the extension as bl_ext.<repo>.diffsynth_render: absolute self-imports would break.
    absolute = [name for name, relative in imported_modules(path) if not relative and name == "diffsynth_render"]
    assert not absolute, f"{path.name} imports diffsynth_render absolutely"


def test_the_checker_sees_an_import_inside_a_function(tmp_path):
    probe = tmp_path / "probe.py"
    probe.write_text("def f():\n    from bpy import context\n    from . import x\n")
    assert list(imported_modules(probe)) == [("bpy", False), ("", True)]
