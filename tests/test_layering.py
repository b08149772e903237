"""The layering of the README's "Layout" table, read from the README and checked on the source:
every shipped module imports only what its row allows."""

import ast
import re
import sys
from pathlib import Path

import pytest

PACKAGE_ROOT = Path(__file__).resolve().parent.parent
BLENDER_MODULES = {"bpy", "bmesh", "mathutils", "addon_utils", "bl_ui", "bpy_extras", "gpu"}
UNSHIPPED = {"testing", "tools", "bench", "docs", "tests"}
LAYOUT_MARKER = "<!-- layering: tests/test_layering.py reads the table that follows this line -->"


def layout_table(readme=PACKAGE_ROOT / "README.md"):
    """{layer: (allowed names, any library allowed)} from the README's layout table; a layer is
    a top-level folder or module of the package ('operators', 'contract')."""
    text = readme.read_text()
    table = text[text.index(LAYOUT_MARKER):].split("\n", 1)[1].split("\n\n")[0]
    layers = {}
    for row in table.splitlines()[2:]:
        first, _, allowed = [cell.strip() for cell in row.strip("|").split("|")]
        names = set(re.findall(r"`([\w.]+)`", allowed))
        for layer in re.findall(r"`([\w.]+)/?`", first):
            layers[layer.removesuffix(".py")] = (names, "any library" in allowed or allowed == "anything")
    return layers


def imported_modules(path, tree=None):
    """(top-level module, is_relative) of every import statement in a file, at any depth. For a
    relative import, the top-level name is the package's own layer it reaches ('' for a module
    of the importing file's own folder)."""
    tree = tree or ast.parse(path.read_text(), filename=str(path))
    package = path.relative_to(PACKAGE_ROOT).parts[:-1]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from ((alias.name.split(".")[0], False) for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            yield (node.module or "").split(".")[0], False
        elif isinstance(node, ast.ImportFrom):
            base = package[:len(package) - node.level + 1]
            targets = [node.module] if node.module else [alias.name for alias in node.names]
            for target in targets:
                parts = [*base, *target.split(".")]
                yield (parts[0] if parts[0] != (package[:1] or [None])[0] else ""), True


def layer_of(path):
    relative = path.relative_to(PACKAGE_ROOT)
    return relative.parts[0] if len(relative.parts) > 1 else relative.stem


def violations(path, layers, tree=None):
    """Imports of ``path`` that its layer's row does not allow."""
    allowed, any_library = layers[layer_of(path)]
    problems = []
    for name, relative in imported_modules(path, tree):
        if relative:
            if name and name not in allowed:
                problems.append(f"imports the package's {name}")
        elif name in BLENDER_MODULES:
            if "bpy" not in allowed:
                problems.append(f"imports Blender's {name}")
        elif name == "diffsynth_render":
            # Blender loads the extension as bl_ext.<repo>.diffsynth_render: absolute self-imports break.
            problems.append("imports diffsynth_render absolutely")
        elif name not in sys.stdlib_module_names and not any_library and name not in allowed:
            problems.append(f"imports the library {name}")
    return problems


def shipped_sources():
    """The package's modules: top-level .py files and the packages beside them, less the unshipped."""
    sources = []
    for entry in sorted(PACKAGE_ROOT.iterdir()):
        if entry.name in UNSHIPPED:
            continue
        if entry.suffix == ".py":
            sources.append(entry)
        elif (entry / "__init__.py").is_file():
            sources += sorted(entry.rglob("*.py"))
    return sources


LAYERS = layout_table()


@pytest.mark.parametrize("path", shipped_sources(), ids=lambda p: str(p.relative_to(PACKAGE_ROOT)))
def test_imports_follow_the_readme_layout(path):
    assert layer_of(path) in LAYERS, f"{layer_of(path)} has no row in the README's layout table"
    assert violations(path, LAYERS) == []


def test_the_table_has_the_layers_the_architecture_names():
    assert {"contract", "operators", "panels", "core", "blender_state", "engine", "shot", "kernels"} <= set(LAYERS)
    assert LAYERS["engine"][0] >= {"contract", "shot", "kernels"} and "bpy" not in LAYERS["engine"][0]
    assert LAYERS["contract"] == (set(), False)


@pytest.mark.parametrize("layer, source, problem", [
    ("operators", "from ..panels import preferences\n", "imports the package's panels"),
    ("panels", "def draw():\n    from ..operators.stylize import blender_steps\n", "imports the package's operators"),
    ("engine", "import bpy\n", "imports Blender's bpy"),
    ("core", "import numpy as np\n", "imports the library numpy"),
    ("shot", "from ..engine import passes\n", "imports the package's engine"),
    ("contract", "import numpy\n", "imports the library numpy"),
    ("operators", "import diffsynth_render.contract\n", "imports diffsynth_render absolutely"),
])
def test_the_checker_catches_a_forbidden_import(layer, source, problem):
    path = PACKAGE_ROOT / (f"{layer}.py" if LAYERS.get(layer) and (PACKAGE_ROOT / f"{layer}.py").exists()
                           else f"{layer}/probe.py")
    assert problem in violations(path, LAYERS, ast.parse(source))


def test_the_checker_allows_what_a_row_lists():
    assert violations(PACKAGE_ROOT / "operators/probe.py", LAYERS,
                      ast.parse("import bpy\nfrom . import vse_strip\nfrom ..core.request import RequestError\n")) == []
    assert violations(PACKAGE_ROOT / "engine/deflicker/probe.py", LAYERS,
                      ast.parse("import torch\nfrom ...kernels import remap\nfrom .windows import frame_plan\n")) == []


def test_a_new_paragraph_above_the_table_changes_nothing(tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text((PACKAGE_ROOT / "README.md").read_text().replace(
        "### Layout\n", "### Layout\n\nA paragraph someone added.\n\nAnd another.\n", 1))
    assert layout_table(readme) == LAYERS and len(LAYERS) > 10
