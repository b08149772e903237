"""Nothing lost: a pass cache that heals, folders the engine writes only when they are its own, a
full disk said as such, runs at the same time kept apart, and the inputs that used to pass the
checks. Each case asserts the exit status, one line on stderr, and everything outside the run's
own new folder unchanged."""

import json
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
from conftest import build_shot, cli_run, files_state, refused, run_engine, strips

from diffsynth_render import contract
from diffsynth_render.core.request import ModelChoice, RequestError, check_request
from diffsynth_render.exr_file import exr_is_whole
from diffsynth_render.job_spec import StyleSpec
from diffsynth_render.testing.synthetic_passes import box_passes, write_pass_exr

ENGINE = [sys.executable, "-m", "diffsynth_render.engine"]


def _engine(*args):
    return subprocess.run([*ENGINE, *map(str, args)], capture_output=True, text=True, timeout=300)


def _style_job(root, output="out", derived="derived", frames=3, **fields):
    """A style job over the EXRs of a sliding box at 64 px; returns its path."""
    exr = root / "exr"
    exr.mkdir(parents=True, exist_ok=True)
    files = [str(write_pass_exr(exr / contract.frame_name(f, ".exr"), box_passes(f))) for f in range(1, frames + 1)]
    job = {"schema": 1, "output": str(output), "size": [64, 64], "painter": "style",
           "passes": {"frames": files, "derived": str(derived)}, "style": {"builtin": 3},
           "smoothing": {"window": 1}, **fields}
    path = root / "job.json"
    path.write_text(json.dumps(job))
    return path


def _plates(folder, count=10):
    """The user's own frame_00NN.png plates (and a result.json of theirs): what must survive."""
    folder.mkdir(parents=True)
    for number in range(1, count + 1):
        (folder / contract.frame_name(number)).write_bytes(b"plate %d" % number)
    return folder


@pytest.fixture
def small_disk(tmp_path):
    """A 2 MB tmpfs at tmp_path/disk (needs root: skipped where the test cannot mount one)."""
    disk = tmp_path / "disk"
    disk.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(disk)], capture_output=True).returncode:
        pytest.skip("cannot mount a tmpfs here (not root?)")
    yield disk
    subprocess.run(["umount", "-l", str(disk)], check=True)


# ---- whole EXRs ---------------------------------------------------------------------------------

@pytest.mark.parametrize("one_part", [False, True], ids=["a part per pass (Blender 5)", "one part (Blender 4)"])
def test_an_exr_cut_anywhere_is_not_whole(tmp_path, one_part):
    path = write_pass_exr(tmp_path / "frame.exr", box_passes(1), one_part=one_part)
    data = path.read_bytes()
    assert exr_is_whole(path)
    cut = tmp_path / "cut.exr"
    for length in sorted({8, 100, len(data) // 3, len(data) // 2, len(data) - 100, len(data) - 1}):
        cut.write_bytes(data[:length])
        assert not exr_is_whole(cut), length
    zeroed = bytearray(data)
    table = _tables_start(path)
    zeroed[table:table + 8] = bytes(8)  # as an unfinished write leaves the offsets
    cut.write_bytes(bytes(zeroed))
    assert not exr_is_whole(cut)
    cut.write_text("not an exr")
    assert not exr_is_whole(cut) and not exr_is_whole(tmp_path / "missing.exr")


@pytest.mark.parametrize("layout", ["NO", "RLE", "ZIPS", "ZIP", "PIZ", "PXR24", "B44", "DWAA", "DWAB", "tiles"])
def test_every_compression_and_tiles_read_whole_and_cut_short_not(tmp_path, layout):
    import OpenEXR

    pixels = np.random.default_rng().random((37, 53, 3), dtype=np.float32)  # not a whole number of chunks
    header = {"compression": getattr(OpenEXR, f"{layout}_COMPRESSION", OpenEXR.ZIP_COMPRESSION),
              "type": OpenEXR.scanlineimage}
    if layout == "tiles":
        tiles = OpenEXR.TileDescription()
        tiles.xSize, tiles.ySize, tiles.mode = 16, 16, OpenEXR.ONE_LEVEL
        header.update(type=OpenEXR.tiledimage, tiles=tiles)
    path = tmp_path / "image.exr"
    with OpenEXR.File(header, {"RGB": pixels}) as image:
        image.write(str(path))
    data = path.read_bytes()
    assert exr_is_whole(path)
    cut = tmp_path / "cut.exr"
    for length in range(8, len(data), max(1, len(data) // 97)):
        cut.write_bytes(data[:length])
        assert not exr_is_whole(cut), length


def _tables_start(path):
    """Where an EXR's offset tables begin: after its header(s)."""
    import struct

    from diffsynth_render import exr_file

    with open(path, "rb") as file:
        version = struct.unpack("<ii", file.read(8))[1]
        while exr_file._header(file) and version & exr_file.MULTIPART:
            pass
        return file.tell()


def test_the_pass_cache_renders_a_damaged_exr_again_once_with_a_note(blender, tmp_path):
    from diffsynth_render.operators import scene_passes

    scene = build_shot(blender, tmp_path / "out")
    folder = tmp_path / "exr"
    paths, rendered = scene_passes.render_passes(scene, [5, 6], folder)
    assert rendered == 2 and all(map(exr_is_whole, paths))
    paths[0].write_bytes(paths[0].read_bytes()[:-500])  # a copy cut short
    notes = []
    again, rendered = scene_passes.render_passes(scene, [5, 6], folder, notes=notes)
    assert rendered == 1 and exr_is_whole(again[0])
    assert notes == ["the cached passes of frame 5 (frame_0005.exr) were damaged: rendered again"]
    assert scene_passes.render_passes(scene, [5, 6], folder, notes=notes)[1] == 0 and len(notes) == 1


def test_derived_inputs_that_were_damaged_are_derived_again(tmp_path):
    path = _style_job(tmp_path)
    assert run_engine(path)[0] == 0
    guide = next((tmp_path / "derived" / "guide").glob("*.npy"))
    guide.write_bytes(guide.read_bytes()[:-64])
    (tmp_path / "out" / "frame_0001.png").unlink()  # the earlier result is replaced whole either way
    status, events = run_engine(path)
    assert status == 0, events[-1]
    notes = json.loads((tmp_path / "out" / "result.json").read_text())["notes"]
    assert any("derived input files were damaged" in note for note in notes)
    assert np.load(guide).shape[:2] == (64, 64)


def test_an_exr_the_engine_cannot_read_is_rendered_again_next_time(tmp_path):
    path = _style_job(tmp_path)
    exr = tmp_path / "exr" / "frame_0002.exr"
    contract.pass_stamp(exr).write_text("{}")  # as Blender's cache keeps it
    exr.write_bytes(b"v/1\x01" + bytes(200))
    status, events = run_engine(path)
    assert status == 2 and "Blender renders it again on the next run" in json.dumps(events[-1])
    assert not contract.pass_stamp(exr).exists() and not (tmp_path / "out").exists()


# ---- our folders only ---------------------------------------------------------------------------

def test_run_refuses_an_output_folder_of_the_user_s_plates(tmp_path):
    plates = _plates(tmp_path / "plates")
    path = _style_job(tmp_path, output=plates)
    before = files_state(tmp_path)
    done = _engine("run", path)
    refused(done, "the output folder cannot take the frames")
    assert "DiffSynth Render did not write (frame_0001.png, frame_0002.png, frame_0003.png, …)" in done.stderr
    assert files_state(tmp_path) == before


def test_run_replaces_an_earlier_result_of_its_own(tmp_path):
    path = _style_job(tmp_path)
    assert run_engine(path)[0] == 0
    result = json.loads((tmp_path / "out" / "result.json").read_text())
    assert result["made_by"] == contract.MADE_BY
    assert run_engine(path)[0] == 0 and sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []


def test_a_derived_folder_that_is_not_the_engine_s_is_refused(tmp_path):
    mine = _plates(tmp_path / "mine", count=2)
    path = _style_job(tmp_path, derived=mine)
    before = files_state(tmp_path)
    done = _engine("run", path)
    refused(done, "the folder for derived inputs is not the engine's")
    assert files_state(tmp_path) == before and not (tmp_path / "out").exists()


def test_deflicker_and_stitch_refuse_folders_they_did_not_write(tmp_path):
    frames = tmp_path / "frames"
    frames.mkdir()
    from diffsynth_render.engine.image_sequences import write_png

    for index in range(3):
        write_png(frames / f"a_{index}.png", np.full((64, 64, 3), index / 4, np.float32))
    user = tmp_path / "user"
    user.mkdir()
    (user / "poster.png").write_bytes(b"the user's")
    before = files_state(tmp_path)
    done = _engine("deflicker", "--guide", frames, "--frames", frames, "--out", user, "--window", "1")
    refused(done, "deflicker: ")
    assert "did not write (poster.png)" in done.stderr and files_state(tmp_path) == before
    out = tmp_path / "smoothed"
    assert _engine("deflicker", "--guide", frames, "--frames", frames, "--out", out, "--window", "1").returncode == 0
    assert json.loads((out / "result.json").read_text())["made_by"] == contract.MADE_BY
    assert _engine("deflicker", "--guide", frames, "--frames", frames, "--out", out, "--window", "1").returncode == 0

    job = _style_job(tmp_path / "farm", frames=4, chunks={"frames": 2, "overlap": 1})
    from diffsynth_render.engine.job import read_job

    for chunk in read_job(job).chunks:
        assert _engine("run", job, "--chunk", f"{chunk.number}/{chunk.count}").returncode == 0
    before = files_state(tmp_path)
    done = _engine("stitch", job, "--out", user)
    refused(done, "cannot take the frames")
    assert files_state(tmp_path) == before
    assert _engine("stitch", job).returncode == 0


# ---- a full disk --------------------------------------------------------------------------------

def test_a_full_disk_in_the_engine_is_said_as_such_and_keeps_the_earlier_result(tmp_path, small_disk):
    path = _style_job(tmp_path, output=small_disk / "out", frames=24)
    earlier = small_disk / "out"
    earlier.mkdir()
    (earlier / contract.RESULT_FILE).write_text(json.dumps({"made_by": contract.MADE_BY, "frames": []}))
    (small_disk / "filler").write_bytes(bytes(1_950_000))
    done = _engine("run", path)
    assert done.returncode == contract.Exit.DISK_FULL and "Traceback" not in done.stderr, done.stderr
    last = done.stderr.strip().splitlines()[-1]  # after the progress bar's lines
    assert last.startswith(f"run: the disk holding {small_disk} is full") and "MB more are needed" in last
    assert sorted(p.name for p in earlier.iterdir()) == [contract.RESULT_FILE]
    assert sorted(p.name for p in small_disk.iterdir()) == ["filler", "out"]


def test_a_full_disk_while_rendering_passes_is_said_as_such(project, small_disk):
    import shutil

    (small_disk / "filler").write_bytes(bytes(shutil.disk_usage(small_disk).free - 12 * 1024))  # < one EXR
    done = cli_run("stylize", project / "shot.blend", "--out", small_disk / "shot", "--painter", "style")
    assert done.returncode == contract.Exit.DISK_FULL, done.stderr
    (line,) = done.stderr.strip().splitlines()
    assert line.startswith(f"cli: the disk holding {small_disk}") and "MB more are needed" in line
    assert not list((small_disk / "shot").rglob("frame_*.exr"))


# ---- runs at the same time ----------------------------------------------------------------------

def test_versions_are_reserved_once_each_when_runs_start_together(tmp_path):
    taken = []
    threads = [threading.Thread(target=lambda: taken.append(contract.reserve_version(tmp_path))) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(version for version, _ in taken) == list(range(1, 9))
    (tmp_path / "stylized_v011").mkdir()
    assert contract.reserve_version(tmp_path)[0] == 12


def test_two_stylize_runs_into_one_folder_keep_their_own_results(project):
    out = project.parent / "out"
    runs = [subprocess.Popen([sys.executable, "-m", "diffsynth_render.cli", "stylize", str(project / "shot.blend"),
                              "--out", str(out), "--painter", "style", "--style", str(style), "--save-blend",
                              str(project.parent / f"with_{style}.blend")],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for style in (4, 12)]
    results = [(run.wait(timeout=300), run.stderr.read()) for run in runs]
    assert [status for status, _ in results] == [0, 0], results
    import bpy

    versions = set()
    for style in (4, 12):
        bpy.ops.wm.open_mainfile(filepath=str(project.parent / f"with_{style}.blend"))
        (strip,) = strips(bpy.context.scene)
        folder = Path(bpy.path.abspath(strip.directory))
        result = json.loads((folder / contract.RESULT_FILE).read_text())
        assert f"style {style} " in strip.name + " " and result["style"] == f"style {style}"
        assert strip.directory.startswith("//")  # the saved .blend names its frames relative to itself
        versions.add(folder.name)
    assert len(versions) == 2


# ---- inputs that used to pass -------------------------------------------------------------------

@pytest.mark.parametrize("style", ["3:inf,12:1", "3:1e308,12:1e308", "3:nan", "3:1001"])
def test_absurd_style_weights_are_refused(style):
    with pytest.raises(ValueError, match="must be above 0 and at most 1000"):
        contract.style_weights(style)


def _request(tmp_path, **fields):
    return check_request(name="Shot", has_camera=True, frame_range=(1, 8), size=(64, 64), folder=tmp_path,
                         model=ModelChoice(kind="TINY"), python=sys.executable, packages=None, device="cpu",
                         painter=StyleSpec(), **fields)


def test_non_square_pixels_are_refused_and_frame_steps_and_missing_libraries_noted(tmp_path):
    with pytest.raises(RequestError, match="The scene's pixel aspect is 2:1: the passes need square pixels"):
        _request(tmp_path, pixel_aspect=(2.0, 1.0))
    request = _request(tmp_path, frame_step=2, missing_libraries=("//props.blend",))
    assert request.spec.notes == ("1 linked library is missing (//props.blend): what they hold is left out of every "
                             "frame", "the frame step 2 is not used: every frame of 1–8 is stylized (the deflicker "
                             "follows the motion from each frame to the next)")
    assert _request(tmp_path).spec.notes == ()


def test_notes_and_keyframes_reach_result_json_and_stderr(project):
    import bpy

    bpy.ops.wm.open_mainfile(filepath=str(project / "shot.blend"))
    bpy.context.scene.frame_step = 2
    bpy.context.scene.render.pixel_aspect_x = 1.0
    bpy.ops.wm.save_mainfile()
    done = cli_run("stylize", project / "shot.blend", "--out", project.parent / "out", "--painter", "style",
                   "--keyframes", "every:2")
    assert done.returncode == 0, done.stderr
    assert "cli: note: the frame step 2 is not used" in done.stderr
    result = json.loads(next((project.parent / "out").rglob(contract.RESULT_FILE)).read_text())
    assert result["keyframes"] == [5, 7, 8] and any("frame step 2" in note for note in result["notes"])


def test_pixel_aspect_is_refused_by_the_cli_in_one_line(project):
    import bpy

    bpy.ops.wm.open_mainfile(filepath=str(project / "shot.blend"))
    bpy.context.scene.render.pixel_aspect_x = 2.0
    bpy.ops.wm.save_mainfile()
    before = files_state(project.parent)
    done = cli_run("stylize", project / "shot.blend", "--out", project.parent / "out", "--painter", "style")
    refused(done, "pixel aspect is 2:1")
    assert files_state(project.parent) == before


def test_a_chunk_that_does_not_exist_is_one_line(tmp_path):
    done = _engine("run", _style_job(tmp_path), "--chunk", "4/3")
    refused(done, "--chunk")
    assert "usage:" not in done.stderr and len(done.stderr.strip().splitlines()) == 1


def test_frames_that_all_come_out_one_colour_are_noted():
    from diffsynth_render.engine.worker import FLAT, flat_colour

    assert flat_colour(np.full((8, 8, 3), (0.2, 0.5, 0.9), np.float32))
    varied = np.full((8, 8, 3), 0.5, np.float32)
    varied[0, 0, 1] += 2 * FLAT
    assert not flat_colour(varied)


def test_a_missing_linked_library_is_noted(project):
    import bpy

    from diffsynth_render.blender_state import shot_request

    library = project / "props.blend"
    prop = bpy.data.objects.new("Prop", bpy.data.meshes.new("Prop"))
    bpy.data.libraries.write(str(library), {prop})
    bpy.data.objects.remove(prop)
    with bpy.data.libraries.load(str(library), link=True, relative=True) as (source, target):
        target.objects = ["Prop"]
    bpy.context.scene.collection.objects.link(target.objects[0])
    bpy.ops.wm.save_mainfile()
    library.unlink()
    bpy.ops.wm.open_mainfile(filepath=str(project / "shot.blend"))
    (note,) = shot_request(bpy.context).spec.notes
    assert note == "1 linked library is missing (//props.blend): what they hold is left out of every frame"


def test_a_camera_inside_a_closed_mesh_gives_a_note_on_its_flat_frames(project):
    import bpy

    bpy.ops.wm.open_mainfile(filepath=str(project / "shot.blend"))
    bpy.context.scene.camera.location = (0, 0, 1)  # inside the cube
    bpy.ops.wm.save_mainfile()
    done = cli_run("stylize", project / "shot.blend", "--out", project.parent / "out", "--painter", "style")
    assert done.returncode == 0, done.stderr
    assert done.stderr.strip() == "cli: note: every frame came out one flat colour: does the camera see the scene " \
                                  "(not from inside a closed mesh), and does light reach what it sees?"
    result = json.loads(next((project.parent / "out").rglob(contract.RESULT_FILE)).read_text())
    assert any("one flat colour" in note for note in result["notes"])


def test_a_derived_folder_an_earlier_version_left_is_taken_as_the_engine_s(tmp_path):
    from diffsynth_render.engine.passes import derived_here

    folder = tmp_path / "passes"
    for name in ("exr", "depth", "softedge", "guide", "flow"):
        (folder / name).mkdir(parents=True)
    (folder / "ranges.json").write_text('{"stamp": "…", "near_far": [1, 9]}')  # no mark: written before it
    assert not derived_here(folder)  # no stamp of a derivation either
    (folder / "derived.json").write_text("{}")
    (folder / "derived_0a1b.json").write_text("{}")
    assert derived_here(folder)
    (folder / "notes.txt").write_text("mine")
    assert not derived_here(folder)
