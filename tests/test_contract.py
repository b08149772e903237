"""The contract between the Blender side and the engine: what one side writes, the other reads intact."""

import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from diffsynth_render import contract, job_spec
from diffsynth_render.core.job_file import shot_job, write_job
from diffsynth_render.engine.job import JobError, read_job
from diffsynth_render.job_spec import (
    ChunkPlan,
    ControlSpec,
    CrossFrame,
    DiffusionSpec,
    Footage,
    JobSpec,
    Keyframes,
    Lora,
    ModelSpec,
    Passes,
    Smoothing,
    StyleSpec,
)

PACKAGE_ROOT = Path(__file__).resolve().parent.parent


def test_the_contract_imports_in_a_bare_python():
    # -I: isolated, no site-packages: the standard library alone must be enough.
    code = ("import importlib.util, sys; spec = importlib.util.spec_from_file_location('contract', sys.argv[1]); "
            "module = importlib.util.module_from_spec(spec); spec.loader.exec_module(module); "
            "print(sorted(set(sys.modules) & {'numpy', 'torch', 'bpy'}), module.JOB_SCHEMA)")
    done = subprocess.run([sys.executable, "-I", "-c", code, str(PACKAGE_ROOT / "contract.py")],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["[]", str(contract.JOB_SCHEMA)]
    # The job spec too: it is the contract's typed half.
    code = ("import sys; sys.path.insert(0, sys.argv[1]); from diffsynth_render import job_spec; "
            "print(sorted(set(sys.modules) & {'numpy', 'torch', 'bpy'}), job_spec.JobSpec().painter.kind)")
    done = subprocess.run([sys.executable, "-I", "-c", code, str(Path(contract.__file__).parent.parent)],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["[]", "style"]


def _blender_side_job(tmp_path):
    """A job as Stylize builds it, every value away from its default."""
    exrs = []
    for frame in (12, 13, 14):
        exrs.append(tmp_path / "passes" / "exr" / contract.frame_name(frame, ".exr"))
        exrs[-1].parent.mkdir(parents=True, exist_ok=True)
        exrs[-1].write_bytes(b"")  # read_job checks the files exist; nothing reads them yet
    cache = tmp_path / "cache"
    cache.mkdir()
    model = ModelSpec(base="tiny", tokenizer=str(tmp_path / "tokenizer"), allow_network=True, cache_dir=str(cache))
    controls = {"depth": ControlSpec(model="owner/depth-net", weight=0.7),
                "softedge": ControlSpec(model="owner/edge-net", weight=0.4)}
    painter = DiffusionSpec(prompt="a tin robot", negative_prompt="fog", preset="paper-3d", steps=9, guidance_scale=5.5,
                            seed=42, model=model, controls=controls)
    spec = JobSpec(size=(96, 72), painter=painter, first_frame=12, device="cpu",
                   smoothing=Smoothing(window=3, mode="balanced"), keyframes=Keyframes.parse("12,14"))
    return shot_job(spec, tmp_path / "out", exrs, tmp_path / "passes").to_json(), exrs


def test_a_job_built_by_the_blender_side_reads_back_intact(tmp_path):
    job, exrs = _blender_side_job(tmp_path)
    read = read_job(write_job(job, tmp_path / "jobs" / "job_v001.json"))
    settings = read.settings
    assert (read.output, read.first_frame, read.size, read.spec.device, read.preset) == \
        (tmp_path / "out", 12, (96, 72), "cpu", "paper-3d")
    assert (settings.prompt, settings.negative_prompt, settings.steps, settings.guidance_scale, settings.seed) == \
        ("a tin robot", "fog", 9, 5.5, 42)
    assert (settings.blend.window, settings.blend.mode) == (3, "balanced")
    assert {name: control.weight for name, control in settings.controls.items()} == {"depth": 0.7, "softedge": 0.4}
    assert read.model["controlnets"] == {"depth": "owner/depth-net", "softedge": "owner/edge-net"}
    assert (read.model["base"], read.model["tokenizer"], read.model["allow_network"], read.model["cache_dir"]) == \
        ("tiny", str(tmp_path / "tokenizer"), True, str(tmp_path / "cache"))
    assert read.passes == (exrs, tmp_path / "passes")
    derived = tmp_path / "passes"
    assert read.controls["softedge"] == [derived / "softedge" / f"frame_{f:04d}.png" for f in (12, 13, 14)]
    assert read.guides == [[derived / "guide" / f"frame_{f:04d}.npy" for f in (12, 13, 14)]]
    assert read.flow == [derived / "flow" / f"frame_{f:04d}.npy" for f in (12, 13, 14)]
    assert read.frame_name(2) == "frame_0014.png"
    assert read.keyframes == (0, 2) and settings.blend.keep_detail


def test_a_style_job_built_by_the_blender_side_reads_back_intact(tmp_path):
    diffusion, exrs = _blender_side_job(tmp_path)
    picture = tmp_path / "style.png"
    Image.new("RGB", (8, 8), "teal").save(picture)
    style = StyleSpec(image=str(picture), strength=0.4, keep_colors=True, base="clay")
    spec = JobSpec(size=(96, 72), painter=style, first_frame=12, device="cpu",
                   smoothing=Smoothing(window=3, mode="balanced"))
    job = shot_job(spec, tmp_path / "out", exrs, tmp_path / "passes").to_json()
    read = read_job(write_job(job, tmp_path / "jobs" / "job_v002.json"))
    settings = read.settings
    assert (read.painter, read.model, read.controls, read.preset, read.spec.device) == ("style", None, {}, None, "cpu")
    assert (settings.image, settings.strength, settings.keep_colors, settings.base) == (str(picture), 0.4, True, "clay")
    assert (settings.blend.window, settings.blend.mode, settings.final_smoothing) == (3, "balanced", True)
    assert read.guides == diffusion_guides(tmp_path) and read.passes == (exrs, tmp_path / "passes")
    builtin = read_job(write_job({**job, "style": {"builtin": "3:1,12:3"}}, tmp_path / "job.json")).settings
    assert (builtin.weights, builtin.image, builtin.strength, builtin.base) == ({3: 1.0, 12: 3.0}, None, 1.0, "normals")
    assert read_job(write_job({**job, "smoothing": {}}, tmp_path / "job.json")).settings.blend.window == \
        contract.STYLE_WINDOW


def _off_default(painter):
    """A job spec with every field away from its default (``painter``: that of the other kind)."""
    diffusion = DiffusionSpec(
        prompt="a tin robot", negative_prompt="fog", preset="paper-3d", steps=9, guidance_scale=5.5, seed=42,
        controls={"depth": ControlSpec(model="owner/depth", weight=0.7, start=0.1, end=0.9, frames="depth")},
        model=ModelSpec(base="owner/base", tokenizer="tok", embeddings=("e.pt",), loras=(Lora("l.safetensors", 0.5),),
                        allow_network=True, cache_dir="cache"),
        cross_frame=CrossFrame(enabled=False, neighbours=2), batch_frames=3, image_strength=0.6, base_image="clay")
    style = StyleSpec(builtin="3:0.5,12:0.5", strength=0.4, keep_colors=True, base="clay")
    smoothing = Smoothing(window=4, mode="balanced", weighting="uniform", iterations=2, patch_size=7,
                          keep_detail=False, final=False, steps=(1, 2) if painter == "diffusion" else None)
    return JobSpec(output="out", size=(96, 72), painter=diffusion if painter == "diffusion" else style,
                   first_frame=12, device="cuda:1", guides=("shaded", ("a.npy", "b.npy")), flow="flow",
                   smoothing=smoothing, keyframes=Keyframes(every=4), chunks=ChunkPlan(8, 2, 13), notes=("a note",))


# Fields a spec sets only one of (a style image or a built-in style, every K-th frame or a list),
# or that only the other painter reads (the style painter's smoothing has no steps).
EITHER_OR = {"painter": {"image"}, "keyframes": {"frames"}, "smoothing": {"steps"}}


@pytest.mark.parametrize("painter", ["diffusion", "style"])
def test_a_spec_goes_to_json_and_back_unchanged(painter):
    spec = _off_default(painter)
    for field in dataclasses.fields(spec):  # every field, and every painter's, is off its default
        if field.name in ("passes", "footage"):  # a job names passes, footage or guides: the first two below
            continue
        value = getattr(spec, field.name)
        assert value != job_spec.default(JobSpec, field.name), field.name
        if dataclasses.is_dataclass(value):
            kind = type(value)
            at_default = {f.name for f in dataclasses.fields(kind) if getattr(value, f.name) == job_spec.default(kind,
                                                                                                           f.name)}
            assert at_default <= EITHER_OR.get(field.name, set()), (field.name, at_default)
    raw = json.loads(json.dumps(spec.to_json()))
    assert JobSpec.from_json(raw) == (spec, [])
    painter = spec.painter if painter == "style" else dataclasses.replace(spec.painter, controls={
        name: dataclasses.replace(control, frames=None) for name, control in spec.painter.controls.items()})
    for source in (dict(passes=Passes(("a.exr", "b.exr"), "derived")), dict(footage=Footage("footage", "derived"))):
        derived = dataclasses.replace(spec, **source, guides=(), flow=None, painter=painter)
        assert JobSpec.from_json(json.loads(json.dumps(derived.to_json()))) == (derived, [])


@pytest.mark.parametrize("painter", ["diffusion", "style"])
def test_a_spec_field_renamed_in_its_json_fails_the_round_trip(painter):
    raw = _off_default(painter).to_json()
    renamed = 0
    for path in [p for p in job_spec.fields.field_paths(raw) if "[" not in p and p != "controls.depth"]:  # not a name
        *parents, key = path.split(".")
        copy = json.loads(json.dumps(raw))
        owner = copy
        for name in parents:
            owner = owner[name]
        owner[key + "_renamed"] = owner.pop(key)
        spec, problems = JobSpec.from_json(copy)
        assert f"{path}_renamed: is not a job field (a typo?)" in problems, (path, problems)
        renamed += 1
    assert renamed >= 25


# Defaults and limits of a job, each as the literal it was once restated as outside the spec.
RESTATED = {"style strength 1.0": r"strength\W[^\n]*\b1\.0\b", "guidance 7.5": r"\b7\.5\b",
            'blend mode "fast"': r'(?<![=!])=\s*"fast"', 'preset "stylize"': r'preset[^\n]*"stylize"',
            "keep_detail True": r"keep_detail[^\n]*\bTrue\b",
            "guidance or ControlNet weight limits": r"\bmax=(2|5|30|50)(\.0)?\b|, 0, (5|50)\)"}


def _shipped_sources():
    unshipped = {"tests", "testing", "tools", "bench", "docs", "build", "demo_out"}
    return [path for path in sorted(PACKAGE_ROOT.glob("**/*.py")) if path.relative_to(PACKAGE_ROOT).parts[0] not in
            unshipped and not path.relative_to(PACKAGE_ROOT).parts[0].startswith(".")]


def test_the_jobs_defaults_and_limits_are_written_once_in_the_spec():
    assert [job_spec.default(StyleSpec, "strength"), job_spec.default(DiffusionSpec, "guidance_scale"),
            job_spec.default(Smoothing, "mode"), job_spec.default(DiffusionSpec, "preset"),
            job_spec.default(Smoothing, "keep_detail")] == [1.0, 7.5, "fast", "stylize", True]
    assert job_spec.limits(DiffusionSpec, "guidance_scale") == {"min": 1, "max": 30}
    assert job_spec.limits(ControlSpec, "weight") == {"min": 0, "max": 2}
    import re

    outside = [path for path in _shipped_sources() if path.relative_to(PACKAGE_ROOT).parts[0] not in
               ("contract.py", "job_spec")]
    found = [f"{path.relative_to(PACKAGE_ROOT)}: {what}: {match.group(0)!r}" for path in outside
             for what, pattern in RESTATED.items()
             for match in re.finditer(pattern, path.read_text())]
    assert found == []


def diffusion_guides(tmp_path):
    return [[tmp_path / "passes" / "guide" / contract.frame_name(f, ".npy") for f in (12, 13, 14)]]


@pytest.mark.parametrize("rename", [("negative_prompt", "negative"), ("steps", "stpes"),
                                    ("controls.depth.weight", "wieght"), ("passes.derived", "derive"),
                                    ("model.cache_dir", "cache")])
def test_a_field_renamed_on_one_side_only_is_refused(tmp_path, rename):
    job, _ = _blender_side_job(tmp_path)
    path, new = rename
    *parents, old = path.split(".")
    owner = job
    for key in parents:
        owner = owner[key]
    owner[new] = owner.pop(old)
    with pytest.raises(JobError) as refused:
        read_job(write_job(job, tmp_path / "job.json"))
    assert any(problem.startswith(".".join([*parents, new]) + ": is not a job field") for problem in
               refused.value.problems), refused.value.problems


def test_a_job_names_passes_or_derived_inputs_not_both(tmp_path):
    job, _ = _blender_side_job(tmp_path)
    job["guides"] = ["passes/guide"]
    job["controls"]["depth"]["frames"] = "passes/depth"
    job["controls"]["normal"] = {"model": "tiny"}
    with pytest.raises(JobError) as refused:
        read_job(write_job(job, tmp_path / "job.json"))
    assert set(refused.value.problems) >= {
        "guides: comes from passes: leave it out of a job that names passes",
        "controls.depth.frames: comes from passes: leave it out of a job that names passes",
        "controls.normal: passes give only depth, softedge control images"}


def test_a_broken_passes_field_is_reported_alone(tmp_path):
    job, _ = _blender_side_job(tmp_path)
    job["passes"] = {"frames": []}
    with pytest.raises(JobError) as refused:
        read_job(write_job(job, tmp_path / "job.json"))
    assert refused.value.problems == ["passes.frames: must be a folder or a list of frame files",
                                      "passes.derived: is missing"]


@pytest.mark.parametrize("event", [
    contract.Progress("blend", 3, 20, 8, 16, 0.21, 42.0), contract.Progress("derive", 0, 20, 1, 16, 0.0),
    contract.Done("/renders/out", 16, 12.5), contract.Failure("model", "cannot load", ["a", "b"])])
def test_events_read_back_as_written(event):
    line = contract.event_line(event)
    assert json.loads(line)["event"] in contract.EVENTS and contract.parse_event(line) == event


@pytest.mark.parametrize("line", ["", "Loading pipeline components...", "{}", '{"event": "progress"}',
                                  '{"event": "unknown", "x": 1}', "[1, 2]"])
def test_other_lines_are_not_events(line):
    assert contract.parse_event(line) is None


def test_every_error_kind_has_an_exit_status_and_progress_stages_cover_the_worker():
    from diffsynth_render.engine.estimate import PRIOR_SECONDS

    assert set(contract.ERROR_KINDS.values()) <= set(contract.Exit)
    assert set(PRIOR_SECONDS) == set(contract.STAGES)


def test_atomic_path_leaves_the_old_file_when_writing_fails(tmp_path):
    target = tmp_path / "frame_0001.png"
    contract.write_text_atomically(target, "old")
    with pytest.raises(RuntimeError):
        with contract.atomic_path(target) as partial:
            partial.write_text("half")
            raise RuntimeError("disk full")
    assert target.read_text() == "old" and [p.name for p in tmp_path.iterdir()] == [target.name]
    with contract.atomic_path(target) as partial:
        assert partial.suffix == ".png"  # writers that pick the format by suffix (OpenCV) still work
        partial.write_text("new")
    assert target.read_text() == "new"


def test_the_engine_packages_are_listed_once():
    requirements = (PACKAGE_ROOT / "requirements.txt").read_text()
    assert "-r engine/requirements.txt" in requirements.splitlines()
    names = {package.split("<")[0].split(">")[0].split("=")[0].lower() for package in contract.engine_packages()}
    assert {"torch", "diffusers", "openexr"} <= names
    assert not any(line.split("<")[0].split("=")[0].lower() in names for line in requirements.splitlines())


def test_presets_fill_the_blender_enum_and_the_engine_alike():
    for name, preset in contract.PRESETS.items():
        values = job_spec.Schedule.of(name)
        assert (values.steps, values.smoothing_steps, values.window) == \
            (preset.steps, preset.smoothing_steps, preset.window)
    assert [item[0] for item in contract.enum_items(contract.PRESETS)] == list(contract.PRESETS)
    assert dataclasses.asdict(contract.PRESETS[contract.DEFAULT_PRESET])["label"]


@pytest.mark.parametrize("text, value, indices", [
    ("every:2", {"every": 2}, (0, 2, 3)), ("every:1", {"every": 1}, (0, 1, 2, 3)), (" 13, 12 ", [12, 13], (0, 1)),
    ("every:9", {"every": 9}, (0, 3)), ("", None, None),
])
def test_keyframes_as_typed_reach_the_job_as_frame_indices(tmp_path, text, value, indices):
    job, exrs = _blender_side_job(tmp_path)
    exrs.append(exrs[0].with_name(contract.frame_name(15, ".exr")))
    exrs[-1].write_bytes(b"")
    job = {**job, "passes": {**job["passes"], "frames": [str(path) for path in exrs]}, "keyframes": value}
    parsed = Keyframes.parse(text)
    assert (parsed and parsed.to_json()) == value and (parsed is None or Keyframes.parse(parsed.text()) == parsed)
    assert read_job(write_job({k: v for k, v in job.items() if v is not None}, tmp_path / "job.json")).keyframes == \
        indices


@pytest.mark.parametrize("value, message", [
    ({"every": 0}, 'must be {"every": K} with K ≥ 1'), ({"evry": 2}, 'must be {"every": K}'), ([], "must list frame"),
    ([12, "13"], "must list frame numbers"), ([11, 12], "keyframe 11 is not in the shot's frames 12–14"),
    ("4", "must be"),
])
def test_bad_keyframes_in_a_job_are_refused(tmp_path, value, message):
    job, _ = _blender_side_job(tmp_path)
    with pytest.raises(JobError) as raised:
        read_job(write_job({**job, "keyframes": value}, tmp_path / "job.json"))
    assert any(problem.startswith("keyframes: ") and message in problem for problem in raised.value.problems), \
        raised.value.problems


@pytest.mark.parametrize("text", ["every:0", "every:x", "every", "1,,3", "1-5"])
def test_keyframes_that_cannot_be_read_say_how_to_write_them(text):
    with pytest.raises(ValueError, match="write every:K"):
        Keyframes.parse(text)


@pytest.mark.parametrize("save", ["PNG", "JPEG", "WEBP", "BMP", "GIF", "TIFF"])
def test_a_picture_is_told_from_other_files_by_its_first_bytes(tmp_path, save):
    picture = tmp_path / f"style.{save.lower()}"
    Image.new("RGB", (8, 8), "teal").save(picture, save)
    assert contract.picture_problem(picture) == ""
    for name, content in (("notes.png", b"a text file"), ("riff.webp", b"RIFF\x00\x00\x00\x00WAVEfmt "),
                          ("empty.png", b"")):
        (tmp_path / name).write_bytes(content)
        assert contract.picture_problem(tmp_path / name).startswith("is not a picture (PNG, JPEG")
    assert contract.picture_problem(tmp_path / "missing.png") == "does not exist"
