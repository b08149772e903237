"""The wheel check (tools/wheel_check.py, run by make test) fails where a requirement has no wheel
for a Python Blender ships, and says so, rather than failing, when the index cannot be reached."""

import pytest

pytest.importorskip("uv", reason="uv is a development tool of .venv")

from diffsynth_render.tools.wheel_check import PLATFORMS, TARGETS, check, reachable  # noqa: E402


def test_numpy_1_has_no_wheel_for_the_python_of_blender_5_1_and_later():
    if reachable() is not None:
        pytest.skip(f"the package index cannot be reached: {reachable()}")
    lines = []
    assert not check(["numpy>=1.26,<2"], out=lines.append)
    verdicts = {line.split(",")[0].strip(): line for line in lines if line.startswith("  CPython")}
    failed = [line for line in lines if "NO BINARY-ONLY SOLUTION" in line]
    assert len(failed) == len(PLATFORMS) and all("CPython 3.13" in line for line in failed)
    assert len(lines) > len(TARGETS) and "numpy 1.26.4" in verdicts["CPython 3.11 (Blender 4.2-5.0)"]
    assert lines[-1] == f"3 of {len(TARGETS)} Python/platform pairs cannot install the engine without compiling"
    assert check(["numpy>=1.26"], out=lines.append)


def test_an_unreachable_index_is_said_not_failed():
    lines = []
    assert check(["numpy>=1.26,<2"], index="http://127.0.0.1:9/simple", out=lines.append)
    assert lines[0].startswith("wheel check skipped: the package index http://127.0.0.1:9/simple cannot be reached")
