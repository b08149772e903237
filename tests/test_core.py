"""The Blender side's logic without Blender: request checks and a whole Stylize driven through
plain fakes of the Blender steps, with the real engine process behind it."""

import sys
from pathlib import Path

import numpy as np
import pytest

from diffsynth_render.contract import frame_name
from diffsynth_render.core.request import ModelChoice, RequestError, check_request, rounded_size
from diffsynth_render.core.stylize_run import BlenderSteps, StylizeRun, strip_name
from diffsynth_render.job_spec import ControlSpec, DiffusionSpec, Smoothing, StyleSpec
from diffsynth_render.testing.synthetic_passes import box_passes, write_pass_exr

PAINTER = DiffusionSpec(prompt="a paper lantern", preset="fast-preview", steps=2, seed=3,
                        controls={"depth": ControlSpec(), "softedge": ControlSpec(weight=0.8)})


def _request(tmp_path, **changes):
    values = dict(name="Shot 10", has_camera=True, frame_range=(5, 7), size=(64, 64), folder=tmp_path / "shot",
                  model=ModelChoice("TINY"), python=sys.executable, packages=None, device="cpu", painter=PAINTER,
                  smoothing=Smoothing(window=2))
    return check_request(**{**values, **changes})


class FakeBlender:
    """Blender's steps as a test sees them: passes written as Blender lays out its EXRs, strips
    and reports recorded."""

    def __init__(self, fail_at=None):
        self.strips, self.reports, self.rendered, self.fail_at = [], [], [], fail_at
        self.step_previews = []

    def render_passes(self, frame, folder):
        if frame == self.fail_at:
            raise RuntimeError("Cycles did not write the frame")
        folder.mkdir(parents=True, exist_ok=True)
        self.rendered.append(frame)
        return write_pass_exr(folder / frame_name(frame, ".exr"), box_passes(frame)), True

    def add_strip(self, folder, name, first_frame):
        self.strips.append((folder, name, first_frame))
        return f"strip {name!r}"

    def show_step(self, picture, step, steps):
        from PIL import Image

        with Image.open(picture) as image:  # there when it is shown
            self.step_previews.append((step, steps, image.size))

    def steps(self):
        return BlenderSteps(self.render_passes, self.add_strip, lambda stage, fraction: self.reports.append(stage),
                            show_step=self.show_step)


def test_a_stylize_runs_through_fake_blender_steps(tmp_path):
    blender = FakeBlender()
    request = _request(tmp_path)
    run = StylizeRun(request, blender.steps())
    assert run.run_to_end() == "done", run.message
    (folder, name, first), = blender.strips
    assert (name, first, run.message) == ("Shot 10: a paper lantern v001", 5, f"strip {name!r}")
    assert sorted(p.name for p in folder.glob("frame_*.png")) == [frame_name(f) for f in (5, 6, 7)]
    assert blender.reports[:3] == ["Passes 1/3", "Passes 2/3", "Passes 3/3"]
    assert blender.step_previews == [(1, 2, (64, 64))]  # the first frame's estimate after step 1 of 2
    assert not list((request.folder / "jobs").glob("*.step.png"))  # gone with the run
    assert any(stage.startswith("Preparing inputs") for stage in blender.reports)
    assert any(stage.startswith("Denoise step") for stage in blender.reports)
    derived = request.passes_folder
    depth = sorted((derived / "depth").glob("*.png"))
    assert [p.name for p in depth] == [frame_name(f) for f in (5, 6, 7)]
    flow = np.load(derived / "flow" / frame_name(6, ".npy"))
    assert flow[20, 30, :2].tolist() == [0.0, 2.0] and flow[2, 2, :2].tolist() == [0.0, 0.0]  # box moves, ground stays

    again = StylizeRun(request, blender.steps())  # a second run: a new version beside the first
    assert again.run_to_end() == "done" and blender.strips[-1][1].endswith("v002")
    # nothing derived again
    assert (derived / "depth" / frame_name(5)).stat().st_mtime_ns == depth[0].stat().st_mtime_ns


def test_a_style_stylize_runs_through_fake_blender_steps(tmp_path):
    blender = FakeBlender()
    request = _request(tmp_path, painter=StyleSpec(builtin="3:0.5,12:0.5", strength=0.8),
                       model=ModelChoice("FOLDER", path="/no/such/model"))  # no model needed to paint
    assert request.spec.painter.builtin == "3:0.5,12:0.5"
    run = StylizeRun(request, blender.steps())
    assert run.run_to_end() == "done", run.message
    (folder, name, first), = blender.strips
    assert (name, first) == ("Shot 10: style 3:0.5,12:0.5 v001", 5)
    assert sorted(p.name for p in folder.glob("frame_*.png")) == [frame_name(f) for f in (5, 6, 7)]
    assert any(stage.startswith("Paint, ") for stage in blender.reports)


@pytest.mark.parametrize("style, message", [
    (StyleSpec(image="/no/such/picture.png"), "style image '/no/such/picture.png' does not exist"),
    (StyleSpec(image=""), "style image '\\(none\\)' does not exist"),
    (StyleSpec(builtin="3:0.5,40:1"), "style 40 does not exist"),
])
def test_bad_style_requests_name_the_problem(tmp_path, style, message):
    with pytest.raises(RequestError, match=message):
        _request(tmp_path, painter=style)


def test_a_style_image_that_is_not_a_picture_is_refused_before_the_passes(tmp_path):
    text = tmp_path / "style.png"
    text.write_text("not a picture")
    blender = FakeBlender()
    with pytest.raises(RequestError, match=r"style.png' is not a picture \(PNG, JPEG.*\(DiffSynth panel: Style Im"):
        StylizeRun(_request(tmp_path, painter=StyleSpec(image=str(text))), blender.steps())
    assert blender.rendered == []


def test_a_failing_blender_step_ends_the_run_with_its_message(tmp_path):
    blender = FakeBlender(fail_at=6)
    run = StylizeRun(_request(tmp_path), blender.steps())
    assert run.run_to_end() == "failed" and "Cycles did not write" in run.message
    assert blender.rendered == [5] and blender.strips == [] and run.output is None


def test_cancel_between_pass_frames(tmp_path):
    blender = FakeBlender()
    run = StylizeRun(_request(tmp_path), blender.steps())
    run.advance()
    run.cancel()
    assert run.run_to_end() == "cancelled" and blender.rendered == [5] and blender.strips == []


def test_an_engine_failure_reaches_the_run_and_adds_no_strip(tmp_path):
    blender = FakeBlender()
    empty = tmp_path / "no-model"
    empty.mkdir()
    nets = {"depth": ("tiny", "tiny"), "softedge": ("tiny", "tiny")}
    model = ModelChoice("FOLDER", path=str(empty), controlnets=nets)
    run = StylizeRun(_request(tmp_path, model=model), blender.steps())
    assert run.run_to_end() == "failed" and run.error_kind == "model" and "cannot load" in run.message
    assert blender.strips == [] and not list(run.output.glob("frame_*"))


def test_passes_of_the_wrong_size_are_refused_by_the_engine(tmp_path):
    blender = FakeBlender()
    run = StylizeRun(_request(tmp_path, size=(72, 64)), blender.steps())
    assert run.run_to_end() == "failed" and run.error_kind == "input"
    assert "is 64x64, but the job's size is 72x64" in run.message


def _unwritable(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("a file where the folder should be")
    return dict(folder=blocker / "shot")


BAD_REQUESTS = [
    (lambda tmp_path: dict(has_camera=False), "no active camera"),
    (lambda tmp_path: dict(frame_range=(5, 2)), "frame range 5–2 is empty"),
    (lambda tmp_path: dict(size=(32, 32)), "resolution 32x32 is too small"),
    (_unwritable, "cannot be written"),
    (lambda tmp_path: dict(model=ModelChoice("CHECKPOINT", path="/no/such/model.safetensors")), "does not exist"),
    (lambda tmp_path: dict(model=ModelChoice("HUB", hub_id="just-a-name")), "should look like 'owner/name'"),
    (lambda tmp_path: dict(model=ModelChoice("HUB", hub_id="a/b", controlnets={"depth": ("//nets/d", "/x/nets/d")})),
     "depth ControlNet '/x/nets/d' does not exist"),
    (lambda tmp_path: dict(keyframes="4,6"), "The keyframe 4 is not in the shot's frames 5–7"),
    (lambda tmp_path: dict(keyframes="every:x"), "write every:K"),
]


@pytest.mark.parametrize("change, message", BAD_REQUESTS, ids=[m for _, m in BAD_REQUESTS])
def test_bad_requests_name_the_problem(tmp_path, change, message):
    with pytest.raises(RequestError, match=message):
        _request(tmp_path, **change(tmp_path))


def test_request_errors_name_the_panel_or_the_cli_option(tmp_path):
    with pytest.raises(RequestError) as raised:
        _request(tmp_path, size=(8192, 64))
    assert str(raised.value) == ("The resolution 8192x64 is too large: each side can be at most 4096 px "
                                 "(DiffSynth panel: Width/Height)")
    assert raised.value.text(cli=True) == ("The resolution 8192x64 is too large: each side can be at most 4096 px "
                                           "(--size)")
    with pytest.raises(RequestError) as raised:
        _request(tmp_path, **_unwritable(tmp_path))
    assert raised.value.text(cli=True).endswith(": choose another (--out)") and "panel" not in raised.value.text(True)
    with pytest.raises(RequestError) as raised:
        _request(tmp_path, has_camera=False)  # the same fix anywhere
    assert raised.value.text(cli=True) == str(raised.value)


def test_progress_counts_frames_and_blending_in_percent():
    from diffsynth_render.contract import Progress
    from diffsynth_render.core.stylize_run import progress_text

    assert progress_text(Progress("denoise", 3, 20, 4, 4, 0.2, 12.0)) == "Denoise step 3/20, 4/4 frames, 12 s left"
    assert progress_text(Progress("blend", 3, 20, 8, 12, 0.2)) == "Blend step 3/20, 66%"  # NNFs and blends, not frames
    assert progress_text(Progress("paint", 0, 1, 2, 4, 0.5)) == "Paint, 2/4 frames"


def test_sizes_round_to_a_multiple_of_eight_with_a_note():
    assert rounded_size(512, 512) == ((512, 512), "")
    assert rounded_size(250, 141) == ((248, 144), "250x141 rounded to 248x144 (multiple of 8)")
    assert rounded_size(40, 100) == ((40, 100), "")  # too small: kept for the message that refuses it


def test_model_sources_for_each_kind(tmp_path):
    checkpoint = tmp_path / "model.safetensors"
    checkpoint.write_bytes(b"")
    nets = {"depth": ("owner/depth", "/abs/owner/depth"), "softedge": (str(tmp_path), str(tmp_path))}
    request = _request(tmp_path, model=ModelChoice("CHECKPOINT", path=str(checkpoint), controlnets=nets,
                                                   tokenizer=str(tmp_path / "tok"), allow_network=True))
    painter = request.spec.painter
    assert (painter.model.base, painter.model.tokenizer, painter.model.allow_network, painter.model.cache_dir) == \
        (str(checkpoint), str(tmp_path / "tok"), True, None)
    assert {name: control.model for name, control in painter.controls.items()} == \
        {"depth": "owner/depth", "softedge": str(tmp_path)}
    assert {name: c.model for name, c in _request(tmp_path).spec.painter.controls.items()} == \
        {"depth": "tiny", "softedge": "tiny"}


def test_strip_names_have_no_double_space():
    assert strip_name("Scene", "a watercolour painting, soft evening light", 1) == "Scene: a watercolour painting v001"
    assert strip_name("Scene", "a stone tower", 12) == "Scene: a stone tower v012"


def test_the_request_knows_where_passes_go(tmp_path):
    request = _request(tmp_path)
    assert request.exr_folder == Path(tmp_path / "shot" / "passes" / "exr")
    assert request.frames == [5, 6, 7] and request.size == (64, 64)
