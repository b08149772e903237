"""Do the engine's packages install from binary wheels alone, for every Python and platform
Blender ships? (``make test`` runs this.)

Install Dependencies runs pip in Blender's own Python with ``--only-binary=:all:``: Blender on
Windows and macOS has no compiler, so a package that resolves only to a source archive fails there
(numpy 1.26 has no wheel for Python 3.13). pip cannot answer the question for another platform: it
evaluates environment markers on the machine it runs on, so asked for Windows from Linux it wants
torch's Linux-only CUDA packages. uv's resolver takes the target's markers and tags, so this asks
it, once per (Python, platform) pair, for the same requirements the operator installs.

    python -m diffsynth_render.tools.wheel_check [--requirements FILE]

Exit status 0 when every pair resolves, or when the index cannot be reached (said, not failed);
1 when some pair has no binary-only solution.
"""

import argparse
import os
import shutil
import subprocess
import sys
import sysconfig
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from ..contract import ENGINE_REQUIREMENTS, requirement_lines

INDEX = "https://pypi.org/simple"
# The oldest macOS with onnxruntime wheels for Python 3.13 on arm64 (Blender 4.2 runs from 11.2).
MACOS = "13.0"
PYTHONS = {"3.11": "Blender 4.2-5.0", "3.13": "Blender 5.1+"}
# Blender's Linux builds need glibc 2.28; uv's names for the three platforms Blender ships for.
PLATFORMS = {"Linux x86-64": "x86_64-manylinux_2_28", "Windows x64": "x86_64-pc-windows-msvc",
             f"macOS {MACOS[:-2]}+ arm64": "aarch64-apple-darwin"}
SHOWN = ("torch", "numpy", "onnxruntime", "opencv-contrib-python-headless", "openexr")


@dataclass(frozen=True)
class Target:
    python: str  # "3.13"
    platform: str  # a key of PLATFORMS

    def __str__(self):
        return f"CPython {self.python} ({PYTHONS[self.python]}), {self.platform}"


TARGETS = tuple(Target(python, platform) for python in PYTHONS for platform in PLATFORMS)


def resolve_command(target, index=INDEX):
    """uv's command resolving requirements read from stdin for ``target``, binary wheels only."""
    uv = shutil.which("uv", path=sysconfig.get_path("scripts")) or shutil.which("uv")
    if uv is None:
        raise SystemExit("wheel check: uv is not installed (it comes with the development venv: make venv)")
    # --python names an interpreter only to spare uv a search of PATH; the target is what it resolves for.
    return [uv, "pip", "compile", "-", "--no-config", "--python", sys.executable, "--only-binary", ":all:",
            "--index-url", index, "--python-version", target.python, "--python-platform", PLATFORMS[target.platform],
            "--no-header", "--no-annotate", "--quiet"]


def resolve(target, requirements, index=INDEX):
    """(ok, the pinned versions or uv's explanation of why there is no solution)."""
    env = {name: value for name, value in os.environ.items() if not name.startswith(("UV_", "PIP_"))}
    done = subprocess.run(resolve_command(target, index), input="\n".join(requirements), capture_output=True,
                          text=True, env=dict(env, MACOSX_DEPLOYMENT_TARGET=MACOS), timeout=600)
    if done.returncode == 0:
        return True, done.stdout
    return False, done.stderr.strip()


def reachable(index=INDEX, timeout=15):
    """None when the index answers; otherwise why not."""
    try:
        with urllib.request.urlopen(f"{index}/pip/", timeout=timeout):
            return None
    except OSError as error:
        return str(getattr(error, "reason", error))


def summary(pins):
    """'torch 2.15.0, numpy 2.4.6, …' for the packages worth naming, from ``uv pip compile`` output."""
    versions = dict(line.split("==", 1) for line in pins.splitlines() if "==" in line)
    return ", ".join(f"{name} {versions[name]}" for name in SHOWN if name in versions)


def check(requirements, targets=TARGETS, index=INDEX, out=print):
    """Resolve ``requirements`` for every target, printing a line each; True when all resolve or
    the index cannot be reached."""
    why = reachable(index)
    if why is not None:
        out(f"wheel check skipped: the package index {index} cannot be reached ({why})")
        return True
    out(f"The engine's packages as binary wheels only ({index}):")
    failed = []
    with ThreadPoolExecutor(len(targets)) as pool:
        answers = list(pool.map(lambda target: resolve(target, requirements, index), targets))
    for target, (ok, text) in zip(targets, answers):
        out(f"  {str(target):<52} " + (summary(text) if ok else "NO BINARY-ONLY SOLUTION"))
        if not ok:
            failed.append(target)
            out("    " + text.replace("\n", "\n    "))
    if failed:
        out(f"{len(failed)} of {len(targets)} Python/platform pairs cannot install the engine without compiling")
    return not failed


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m diffsynth_render.tools.wheel_check", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requirements", type=Path, default=ENGINE_REQUIREMENTS,
                        help="a requirements file (default: the engine's, as Install Dependencies installs them)")
    args = parser.parse_args(argv)
    return 0 if check(requirement_lines(args.requirements)) else 1


if __name__ == "__main__":
    sys.exit(main())
