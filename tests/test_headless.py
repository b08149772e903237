"""Headless use as a render farm or a script sees it: ``cli stylize`` refuses bad arguments before
any work (exit 2, one line, no traceback, nothing changed), Ctrl-C and SIGTERM stop every stage
cleanly (exit 130) with no engine left running, and a failed or cancelled run leaves nothing that
looks like a result. Real bpy, the style painter or the tiny model, 64 px."""

import hashlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import conftest
import pytest
from conftest import CLI, cli_run, files_state, refused

ENGINE_GONE_S = 10  # an engine must end this soon after the CLI does


ARGUMENTS = [
    (["--size", "32x32"], "32x32: each side must be from 64 to 4096 pixels"),
    (["--size", "8192x64"], "8192x64: each side must be from 64 to 4096 pixels"),
    (["--steps", "-2"], "argument --steps: '-2' is not a whole number from 1 to 150"),
    (["--seed", "2147483648"], "argument --seed: '2147483648' is not a whole number from 0 to 2147483647"),
    (["--window", "501"], "'501' is not a whole number from 0 to 500"),
    (["--frames", "9-3"], "argument --frames: 9-3 is empty"),
    (["--model", "models/sd15.safetensors"], "models/sd15.safetensors does not exist"),
    (["--model", "./my-model"], "./my-model does not exist"),
    (["--save-blend", "{root}/missing/copy.blend"], "the folder {root}/missing does not exist"),
    (["--save-blend", "{root}/project"], "is a folder: name the .blend file to write"),
    (["--save-blend", "{root}/project/../project/shot.blend"], "is the file being read"),
    (["--save-blend", "{root}/link.blend"], "is the file being read"),
    (["--out", "{root}/project/shot.blend"], "is a file, not a folder"),
    (["--style", "3:inf,12:1"], "style 3's weight inf must be above 0 and at most 1000"),
    (["--style", "3:1e308,12:1e308"], "style 3's weight 1e+308 must be above 0 and at most 1000"),
    (["--image-strength", "2"], "argument --image-strength: '2' is not a number from 0 to 1"),
    (["--style-image", "{root}/project/shot.blend"], "shot.blend is not a picture (PNG, JPEG, GIF, BMP, TIFF, WebP)"),
]


@pytest.mark.parametrize("args, message", ARGUMENTS, ids=[" ".join(a) for a, _ in ARGUMENTS])
def test_bad_arguments_are_refused_before_blender_opens_the_file(project, args, message):
    root = project.parent
    (root / "link.blend").symlink_to(project / "shot.blend")
    before = files_state(root)
    args = [arg.format(root=root) for arg in args]
    done = cli_run("stylize", project / "shot.blend", "--out", root / "out", "--painter", "style", *args)
    refused(done, message.format(root=root))
    assert "Read blend" not in done.stdout  # refused before Blender read the file
    assert files_state(root) == before


def test_a_file_that_is_not_a_blend_is_refused(project):
    notes = project / "notes.blend"
    notes.write_text("a text file named like a .blend")
    refused(cli_run("stylize", notes, "--out", project.parent / "out"), f"{notes} is not a .blend file")
    cut = project / "cut.blend"
    cut.write_bytes((project / "shot.blend").read_bytes()[:2000])
    before = files_state(project.parent)
    refused(cli_run("stylize", cut, "--out", project.parent / "out"), f"{cut} cannot be opened by Blender")
    assert files_state(project.parent) == before


def _save(bpy, project, change):
    """Change the scene of project/shot.blend and save it again."""
    bpy.ops.wm.open_mainfile(filepath=str(project / "shot.blend"))
    change(bpy.context.scene)
    bpy.ops.wm.save_mainfile()


@pytest.mark.parametrize("change, message", [
    (lambda scene: setattr(scene, "camera", None),
     "cli: The scene has no active camera: add a camera and make it the scene camera"),
    (lambda scene: setattr(scene.render, "resolution_percentage", 50),
     "cli: The resolution 32x32 is too small: each side needs at least 64 px (--size)"),
], ids=["no camera", "too small"])
def test_a_bad_setting_in_the_file_exits_2_naming_the_option(blender, project, change, message):
    _save(blender, project, change)
    out = project.parent / "out"
    before = files_state(project.parent)
    refused(cli_run("stylize", project / "shot.blend", "--out", out, "--painter", "style"), message)
    assert files_state(project.parent, new=out) == before and not list(out.rglob("*.*"))  # at most empty folders


def test_a_failed_run_leaves_no_result_folder_and_the_engine_status(project, tmp_path):
    empty = tmp_path / "empty_model"
    empty.mkdir()
    before = files_state(project)
    done = cli_run("stylize", project / "shot.blend", "--out", tmp_path / "out", "--model", empty, "--steps", "2")
    refused(done, "cli: ", status=3)  # the engine's status for a model that cannot be loaded
    assert "cannot load" in done.stderr
    shot = tmp_path / "out" / "Scene"
    assert sorted(p.name for p in shot.iterdir()) == ["jobs", "passes"]  # no stylized_v001
    assert files_state(project) == before


def _engines(marker):
    """Pids of engine processes whose command line names ``marker`` (a test's folder)."""
    pids = []
    for entry in Path("/proc").iterdir():
        try:
            command = (entry / "cmdline").read_bytes().decode(errors="replace")
        except OSError:
            continue
        if entry.name.isdigit() and "engine\0run" in command and marker in command:
            pids.append(int(entry.name))
    return pids


def _start(args, marker):
    """The CLI started in a session of its own, once its stdout printed a line with ``marker``."""
    process = subprocess.Popen([*CLI, *map(str, args)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               start_new_session=True)
    seen = []
    for line in process.stdout:
        seen.append(line)
        if marker in line:
            return process
    pytest.fail(f"the CLI ended before {marker!r}: {''.join(seen)}{process.stderr.read()}")


def _gone_within(seconds, marker):
    deadline = time.monotonic() + seconds
    while _engines(marker) and time.monotonic() < deadline:
        time.sleep(0.2)
    return not _engines(marker)


SLOW_JOB = ["--model", "tiny", "--preset", "paper-3d", "--steps", "120"]  # 15 s to a minute of denoising on 2 cores
IN_THE_LOOP = " step "  # any stage of a denoising step: the CLI prints the stage every 2 s, whichever it is then


@pytest.mark.parametrize("how", ["SIGTERM", "SIGINT", "SIGKILL"])
def test_no_engine_outlives_the_cli(project, tmp_path, how):
    out = tmp_path / "out"
    process = _start(["stylize", project / "shot.blend", "--out", out, *SLOW_JOB], IN_THE_LOOP)
    assert _engines(str(out))
    os.kill(process.pid, getattr(signal, how))  # the CLI alone, as a scheduler or `timeout` does
    assert _gone_within(ENGINE_GONE_S, str(out)), "the engine outlived the CLI"
    _, errors = process.communicate(timeout=60)
    if how != "SIGKILL":
        assert process.returncode == 130 and errors.splitlines() == ["cli: cancelled; the output folder is as it was"]
    shot = out / "Scene"
    assert sorted(p.name for p in shot.iterdir()) == ["jobs", "passes"]  # no result folder, not even an empty one
    assert [p.name for p in (shot / "jobs").iterdir()] == ["job_v001.json"]  # and no cancel file


def test_ctrl_c_stops_the_passes_and_keeps_the_cache_valid(project, tmp_path):
    out = tmp_path / "out"
    process = _start(["stylize", project / "shot.blend", "--out", out, "--painter", "style", "--frames", "1-40",
                      "--size", "512x512"], "DiffSynth: Passes")
    os.killpg(process.pid, signal.SIGINT)  # Ctrl-C in a terminal reaches the whole process group
    _, errors = process.communicate(timeout=60)
    assert process.returncode == 130, errors
    assert errors.splitlines() == ["cli: Cancelled while rendering passes (rendered frames stay cached)"]
    exrs = out / "Scene" / "passes" / "exr"
    cached = sorted(p.stem for p in exrs.glob("*.exr"))
    assert sorted(p.name for p in (out / "Scene").iterdir()) == ["passes"]  # the engine never started
    assert 1 <= len(cached) < 40 and sorted(p.stem for p in exrs.iterdir() if p.suffix == ".json") == cached
    assert not list(exrs.glob(".*"))  # no partial EXR
    first = cached[0].removeprefix("frame_").lstrip("0")
    done = cli_run("passes", project / "shot.blend", "--out", out / "Scene", "--frames", f"{first}-{first}",
                "--size", "512x512")
    assert done.returncode == 0 and "(0 rendered)" in done.stdout, done.stderr  # the cache is used as it is


def test_ctrl_c_in_the_engine_stage_is_one_line(project, tmp_path):
    out = tmp_path / "out"
    process = _start(["stylize", project / "shot.blend", "--out", out, *SLOW_JOB], IN_THE_LOOP)
    os.killpg(process.pid, signal.SIGINT)
    _, errors = process.communicate(timeout=60)
    assert process.returncode == 130 and errors.splitlines() == ["cli: cancelled; the output folder is as it was"]
    assert _gone_within(ENGINE_GONE_S, str(out))
    assert not list((out / "Scene").glob("*stylized*"))


def test_a_saved_copy_never_replaces_the_source_and_a_rerun_adds_a_version(project, tmp_path):
    source = project / "shot.blend"
    digest = hashlib.sha256(source.read_bytes()).hexdigest()
    out, copy = tmp_path / "out", tmp_path / "copy.blend"
    for version in (1, 2):
        done = cli_run("stylize", source, "--out", out, "--painter", "style", "--frames", "5-6", "--save-blend", copy)
        assert done.returncode == 0, done.stderr
        assert f"stylized_v00{version}" in done.stdout and copy.is_file()
    assert hashlib.sha256(source.read_bytes()).hexdigest() == digest


@pytest.fixture
def style_job(tmp_path):
    """A style job (64 px, frames 1–``n``) over the EXRs of a sliding box: ``write(n)`` → its path."""
    import json

    from diffsynth_render.contract import frame_name
    from diffsynth_render.testing.synthetic_passes import box_passes, write_pass_exr

    (tmp_path / "exr").mkdir()

    def write(frames, **fields):
        exrs = [str(write_pass_exr(tmp_path / "exr" / frame_name(f, ".exr"), box_passes(f, size=64)))
                for f in range(1, frames + 1)]
        raw = {"schema": 1, "output": "out", "size": [64, 64], "painter": "style",
               "passes": {"frames": exrs, "derived": "derived"}, "smoothing": {"window": 2}, **fields}
        path = tmp_path / "job.json"
        path.write_text(json.dumps(raw))
        return path

    return write


@pytest.mark.parametrize("output, message", [
    ("job.json/out", "job.json/out cannot be written (Not a directory)"),
    ("job.json", "job.json is a file, not a folder"),
    (".", "holds files that DiffSynth Render did not write (exr, job.json): choose a new or empty folder"),
], ids=["under a file", "a file", "not a result"])
def test_engine_run_refuses_an_output_folder_before_any_work(style_job, output, message):
    path = style_job(3, output=output)
    before = files_state(path.parent)
    status, events = conftest.run_engine(path)
    assert status == 2 and [e["event"] for e in events] == ["error"]  # no progress: nothing derived or loaded
    assert events[0]["kind"] == "job" and any(message in problem for problem in events[0]["problems"]), events
    assert files_state(path.parent) == before


def test_a_shorter_run_replaces_an_older_longer_result_whole(style_job):
    status, _ = conftest.run_engine(style_job(6))
    out = style_job(6).parent / "out"
    assert status == 0 and len(list(out.glob("frame_*.png"))) == 6
    status, _ = conftest.run_engine(style_job(3))
    assert status == 0
    assert sorted(p.name for p in out.iterdir()) == ["frame_0001.png", "frame_0002.png", "frame_0003.png",
                                                     "result.json"]
    assert sorted(p.name for p in out.parent.iterdir() if p.name.startswith(".")) == []  # no partial left


STUCK = """
import sys, time
from pathlib import Path
from diffsynth_render.engine.process_control import Events, StopRequest
folder = Path(sys.argv[1])
folder.mkdir()
stop = StopRequest(Events(jsonl=True), folder.with_suffix(".cancel"), folder)
print("ready", flush=True)
time.sleep(120)  # work that never reaches a check (a model load, one long computation)
"""


STOPPING = """
import os, signal, sys, time
from pathlib import Path
from diffsynth_render.engine.process_control import Events, StopRequest, guarded
folder = Path(sys.argv[1])
folder.mkdir()
events = Events(jsonl=True)
stop = StopRequest(events, folder.with_suffix(".cancel"), folder)
report = events.error
def report_interrupted(*arguments):  # the CLI's SIGTERM comes while the cancel is being reported
    os.kill(os.getpid(), signal.SIGTERM)
    time.sleep(0.2)
    return report(*arguments)
events.error = report_interrupted
def work():
    os.kill(os.getpid(), signal.SIGINT)  # Ctrl-C
    time.sleep(0.2)
    stop.check()
sys.exit(guarded(events, stop, work))
"""


def test_a_second_signal_while_stopping_does_not_cut_the_report_short(tmp_path):
    import json

    folder = tmp_path / ".out.partial"
    done = subprocess.run([sys.executable, "-c", STOPPING, str(folder)], capture_output=True, text=True, timeout=60)
    last = json.loads(done.stdout.splitlines()[-1])
    assert done.returncode == 130 and last["event"] == "error" and last["kind"] == "cancelled", done.stderr
    assert not folder.exists()


def test_a_job_that_reaches_no_check_still_ends_soon_after_sigterm(tmp_path):
    import json

    from diffsynth_render.contract import STOP_GRACE_S

    folder = tmp_path / ".out.partial"
    process = subprocess.Popen([sys.executable, "-c", STUCK, str(folder)], stdout=subprocess.PIPE, text=True)
    assert process.stdout.readline() == "ready\n"
    signalled = time.monotonic()
    process.send_signal(signal.SIGTERM)
    last = json.loads(process.stdout.readline())
    assert process.wait(timeout=STOP_GRACE_S + 10) == 130 and time.monotonic() - signalled < STOP_GRACE_S + 5
    assert last["event"] == "error" and last["kind"] == "cancelled" and not folder.exists()
