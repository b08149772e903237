"""Start the engine in its own Python process (no bpy needed to build the command)."""

import os
import subprocess
from pathlib import Path

# The extension's folder; its name is the package name the engine is run under.
PACKAGE_DIR = Path(__file__).absolute().parent.parent


def engine_command(python, *args, packages=None):
    """Command line and environment that run ``python -m <package>.engine ARGS``, importing also
    from the ``packages`` folder (where Install Dependencies puts torch and diffusers)."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(PACKAGE_DIR.parent), packages, env.get("PYTHONPATH")]))
    # Never the working folder on sys.path: inside the extension's folder, its sub-packages would
    # pass for libraries of the same name (diffusers probes for a top-level ``kernels``).
    env["PYTHONSAFEPATH"] = "1"
    return [python, "-m", f"{PACKAGE_DIR.name}.engine", *args], env


def start_engine(python, *args, packages=None):
    """Popen of the engine with stdin a pipe (for ``--stop-with-stdin``), stdout/stderr captured
    as text.

    Raises ``FileNotFoundError`` with the interpreter's path when it does not exist.
    """
    if not Path(python).is_file():
        raise FileNotFoundError(f"Engine Python not found: {python!r}")
    command, env = engine_command(python, *args, packages=packages)
    return subprocess.Popen(command, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
