"""A clean exit from the bpy 4.2 and 4.3 wheels, which crash on the way out."""

import os
import sys


def end_before_exit_crash(status):
    """End the process now with ``status`` where bpy would crash on the way out, else return.

    The bpy 4.2 and 4.3 wheels crash (SIGSEGV) in their C++ static destructors at exit once a
    property with Python callbacks has been registered, as every add-on's are: there, Python's exit
    functions (Blender's own among them) run, Blender's emptied session folder is removed, and the
    process ends before those destructors.
    """
    bpy = sys.modules.get("bpy")
    if bpy is None or bpy.app.version >= (4, 4):
        return
    import atexit
    import shutil

    session_folder = bpy.app.tempdir
    atexit._run_exitfuncs()
    shutil.rmtree(session_folder, ignore_errors=True)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(status)
