"""``python -m diffsynth_render.engine deflicker``: PNG/.npy sequences in, smoothed PNGs out."""

import io
import json
import re
import signal
import subprocess
import sys

import cv2
import numpy as np
import pytest

from diffsynth_render.contract import MADE_BY, RESULT_FILE
from diffsynth_render.engine.__main__ import main
from diffsynth_render.engine.image_sequences import read_sequence, write_png
from diffsynth_render.testing.synthetic_sequences import flickered, moving_shot

COUNT, SIZE = 6, 32


@pytest.fixture
def shot(tmp_path):
    """Folders: 16-bit shaded guide PNGs, a .npy depth guide, 8-bit flickering frames."""
    guides, styled = moving_shot(COUNT, SIZE, 3, seed=7)
    frames = flickered(styled, seed=8)
    folders = {name: tmp_path / name for name in ("shaded", "depth", "frames")}
    for folder in folders.values():
        folder.mkdir()
    for index in range(COUNT):
        name = f"shot_{index + 1:04d}"
        write_png(folders["shaded"] / f"{name}.png", guides[index], bits=16)
        np.save(folders["depth"] / f"{name}.npy", guides[index, ..., 0])
        write_png(folders["frames"] / f"{name}.png", frames[index], bits=8)
    folders["out"] = tmp_path / "out"
    return folders, styled


def arguments(folders, *extra):
    return ["deflicker", "--guide", str(folders["shaded"]), "--guide", str(folders["depth"]),
            "--frames", str(folders["frames"]), "--out", str(folders["out"]), "--window", "2", *extra]


def test_smooths_and_keeps_names_and_depth(shot):
    folders, styled = shot
    assert main(arguments(folders, "--mode", "balanced")) == 0
    names = sorted(path.name for path in folders["out"].glob("*.png"))
    assert names == sorted(path.name for path in folders["frames"].iterdir())
    assert json.loads((folders["out"] / RESULT_FILE).read_text())["frames"] == names
    assert cv2.imread(str(folders["out"] / names[0]), cv2.IMREAD_UNCHANGED).dtype == np.uint8
    smoothed, _, _ = read_sequence(folders["out"])
    frames, _, _ = read_sequence(folders["frames"])
    assert np.mean((smoothed - styled) ** 2) < 0.5 * np.mean((frames - styled) ** 2)


def test_sixteen_bit_frames_stay_sixteen_bit(shot):
    folders, _ = shot
    frames, names, _ = read_sequence(folders["frames"])
    for frame, name in zip(frames, names):
        write_png(folders["frames"] / name, frame, bits=16)
    assert main(arguments(folders)) == 0
    assert cv2.imread(str(next(folders["out"].iterdir())), cv2.IMREAD_UNCHANGED).dtype == np.uint16


def _drop_one_guide(folders):
    next(folders["depth"].iterdir()).unlink()


def _empty_frames(folders):
    for path in folders["frames"].iterdir():
        path.unlink()


def _corrupt_frame(folders):
    next(folders["frames"].iterdir()).write_bytes(b"not a png")


def _resize_guide(folders):
    path = sorted(folders["shaded"].iterdir())[2]
    write_png(path, np.zeros((SIZE, SIZE + 4, 3), np.float32) + 0.5, bits=8)


def _out_is_frames(folders):
    folders["out"] = folders["frames"]


def _bad_device(folders):
    folders["extra"] = ["--device", "gpu"]


def _out_is_a_file(folders):
    folders["out"].write_text("a file")


def _out_under_a_file(folders):
    folders["out"].write_text("a file")
    folders["out"] = folders["out"] / "frames"


def _out_holds_other_files(folders):
    (folders["out"] / "notes").mkdir(parents=True)


@pytest.mark.parametrize("spoil, message", [
    (_drop_one_guide, "5 frames .* but --frames .* has 6"), (_empty_frames, "holds no .png frames"),
    (_corrupt_frame, "cannot read image"), (_resize_guide, "is 36x32 with 3 channels but"),
    (_out_is_frames, "also an input folder"), (_bad_device, "device must be a torch device"),
    (_out_is_a_file, "out is a file, not a folder"), (_out_under_a_file, "out/frames cannot be written"),
    (_out_holds_other_files, "did not write \\(notes\\): choose a new or empty folder"),
])
def test_bad_input_exits_2_and_writes_nothing(shot, capsys, spoil, message):
    folders, _ = shot
    spoil(folders)
    root = folders["frames"].parent
    before = _listing(root)
    assert main(arguments(folders, *folders.get("extra", []))) == 2
    assert re.search(message, capsys.readouterr().err)
    assert _listing(root) == before  # nothing written, nothing left


def _listing(root):
    return {path: path.read_bytes() if path.is_file() else None for path in root.rglob("*")}


def test_runs_as_a_module_with_plain_progress_lines_in_a_log(shot):
    folders, _ = shot
    result = subprocess.run([sys.executable, "-m", "diffsynth_render.engine", *arguments(folders)],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert f"{COUNT} frames written" in result.stdout
    lines = result.stderr.splitlines()  # stderr is a pipe here, as in a farm's log: lines, no redraws
    assert "\r" not in result.stderr and 3 <= len(lines) <= 10 and lines[-1].startswith("deflicker: 100%")


def test_the_progress_bar_redraws_one_line_on_a_terminal():
    from diffsynth_render.engine.progress import ProgressBar

    class Terminal(io.StringIO):
        def isatty(self):
            return True

    stream = Terminal()
    bar = ProgressBar("run", stream)
    for done in range(11):
        bar(done, 10)
    assert stream.getvalue().startswith("\rrun [") and stream.getvalue().count("\n") == 1
    assert stream.getvalue().rstrip().endswith("10/10")


@pytest.mark.parametrize("sent", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_a_signal_cancels_and_leaves_an_earlier_result_as_it_was(tmp_path, sent):
    guides, styled = moving_shot(16, 64, 3, seed=9)
    for name, shot in (("guide", guides), ("frames", flickered(styled, seed=10))):
        (tmp_path / name).mkdir()
        for index, image in enumerate(shot):
            write_png(tmp_path / name / f"{index:03d}.png", image)
    out = tmp_path / "out"
    out.mkdir()
    _earlier_result(out, "999.png")
    process = subprocess.Popen([sys.executable, "-m", "diffsynth_render.engine", "deflicker", "--guide",
                                str(tmp_path / "guide"), "--frames", str(tmp_path / "frames"), "--out", str(out)],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               # a runner started as a background job hands SIGINT down ignored
                               preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    first = process.stderr.readline()  # the first progress line: NNF estimation has started
    assert first.startswith("deflicker: 10%"), first
    process.send_signal(sent)
    _, errors = process.communicate(timeout=60)
    assert process.returncode == 130 and errors.strip() == "deflicker: cancelled; --out is as it was"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["frames", "guide", "out"]
    assert sorted(p.name for p in out.iterdir()) == ["999.png", RESULT_FILE]


def test_a_run_replaces_an_earlier_result_whole_and_keeps_alpha(shot, tmp_path):
    folders, _ = shot
    _earlier_result(folders["out"], "zzz_older_longer_run.png")
    frames, names, _ = read_sequence(folders["frames"])
    alpha = np.linspace(0, 1, frames.shape[2], dtype=np.float32)[None, None, :, None].repeat(frames.shape[1], 1)
    for name, frame in zip(names, frames):
        write_png(folders["frames"] / name, np.concatenate([frame, alpha[0]], axis=-1))
    assert main(arguments(folders)) == 0
    assert sorted(p.name for p in folders["out"].iterdir()) == sorted([*names, RESULT_FILE])  # none of the older run
    smoothed, _, _ = read_sequence(folders["out"], alpha=True)
    assert smoothed.shape[-1] == 4 and np.abs(smoothed[..., 3:] - alpha).max() < 1 / 255


def _earlier_result(folder, frame):
    """An earlier deflicker's result in ``folder``: the frame ``frame`` and its result.json."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / frame).write_bytes(b"an earlier run's frame")
    (folder / RESULT_FILE).write_text(json.dumps({"made_by": MADE_BY, "frames": [frame]}))


def test_estimated_motion_smooths_along_the_guides_motion(shot):
    folders, styled = shot
    assert main(arguments(folders, "--estimate-motion")) == 0
    assert json.loads((folders["out"] / RESULT_FILE).read_text())["estimated_motion"] is True
    smoothed, _, _ = read_sequence(folders["out"])
    frames, _, _ = read_sequence(folders["frames"])
    assert np.mean((smoothed - styled) ** 2) < 0.5 * np.mean((frames - styled) ** 2)
