"""A shot's Stylize as an Open Job Description job (the format AWS Deadline Cloud runs): the
template and its parameter values, from plain values.

Steps: Passes (Blender renders the pass EXRs, a task per range of frames) → Stylize (the engine
renders a chunk a task, on a GPU host when asked) → Stitch (one task: the whole shot in
OUTPUT/final) → Strip (optional: a copy of the .blend with the shot as a VSE strip). Every path
is a job parameter, so one template runs under ``openjd run`` on this machine and on a farm
whose hosts see the same storage (under other paths, through the farm's path mapping).
"""

import json
from pathlib import Path

from ..chunking import FINAL_FOLDER
from ..contract import write_text_atomically

SPECIFICATION = "jobtemplate-2023-09"
TEMPLATE_FILE = "template.json"  # the names a Deadline Cloud job bundle uses for its template
PARAMETERS_FILE = "parameter_values.json"  # openjd run --job-param file://...: {name: value}
JOB_FILE = "job.json"  # the engine's job, in the output folder (its paths relative to it)
CANCEL_GRACE_S = 60  # SIGTERM lets the engine stop within a step and leave nothing half-written


def farm_job(*, name, frame_ranges, size, chunk_count, module, gpus=0, strip=False, scene_look=False):
    """The OpenJD job template (a dict). ``frame_ranges``: the Passes tasks' frames ('1-48', ...),
    rendered at ``size`` (width, height), with each frame's look when ``scene_look`` (the Scene base);
    ``chunk_count``: the Stylize tasks; ``module``: the package run with ``python -m`` (the
    extension's folder name); ``gpus``: GPUs a Stylize host needs (0: any host); ``strip``: add
    the Strip step (and its SavedBlend parameter)."""
    job_file = "{{Param.OutputDir}}/" + JOB_FILE
    blender = ("{{Param.BlenderPython}}", "-m", f"{module}.cli")
    engine = ("{{Param.EnginePython}}", "-m", f"{module}.engine")
    passes = _step("Passes", [*blender, "passes", "{{Param.ShotFile}}", "--out", "{{Param.OutputDir}}",
                              "--frames", "{{Task.Param.Frames}}", "--size", f"{size[0]}x{size[1]}",
                              *(["--scene-look"] if scene_look else [])],
                   parameters=[{"name": "Frames", "type": "STRING", "range": list(frame_ranges)}])
    stylize = _step("Stylize", [*engine, "run", job_file, "--chunk", "{{Task.Param.Chunk}}" + f"/{chunk_count}"],
                    after="Passes", parameters=[{"name": "Chunk", "type": "INT", "range": f"1-{chunk_count}"}])
    if gpus:
        stylize["hostRequirements"] = {"amounts": [{"name": "amount.worker.gpu", "min": gpus}]}
    stitch = _step("Stitch", [*engine, "stitch", job_file], after="Stylize")
    steps = [passes, stylize, stitch]
    parameters = [
        _parameter("ShotFile", "PATH", "The .blend file with the shot", objectType="FILE", dataFlow="IN"),
        _parameter("OutputDir", "PATH", f"The shot's folder: {JOB_FILE}, passes, chunks and {FINAL_FOLDER}/ (the "
                   "whole shot)", objectType="DIRECTORY", dataFlow="INOUT"),
        _parameter("PackageDir", "PATH", f"The folder that holds the {module} package", objectType="DIRECTORY",
                   dataFlow="IN"),
        _parameter("BlenderPython", "STRING", "A Python with the bpy module (the Passes and Strip steps)"),
        _parameter("EnginePython", "STRING", "A Python with the engine's packages (the Stylize and Stitch steps)"),
    ]
    if strip:
        steps.append(_step("Strip", [*blender, "add-strip", "{{Param.ShotFile}}", "--frames",
                                     "{{Param.OutputDir}}/" + FINAL_FOLDER, "--save-blend", "{{Param.SavedBlend}}"],
                           after="Stitch"))
        parameters.append(_parameter("SavedBlend", "PATH", "A copy of the .blend with the shot as a VSE strip",
                                     objectType="FILE", dataFlow="OUT"))
    environment = {"name": "DiffSynthRender", "description": "The extension's package importable by both Pythons",
                   "variables": {"PYTHONPATH": "{{Param.PackageDir}}", "PYTHONSAFEPATH": "1"}}
    return {"specificationVersion": SPECIFICATION, "name": name, "parameterDefinitions": parameters,
            "jobEnvironments": [environment], "steps": steps}


def write_farm_job(folder, template, values):
    """Write the template and the parameter values into ``folder``; returns both paths."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    return (write_text_atomically(folder / TEMPLATE_FILE, json.dumps(template, indent=1)),
            write_text_atomically(folder / PARAMETERS_FILE, json.dumps(values, indent=1)))


def _step(name, command, after=None, parameters=None):
    step = {"name": name, "script": {"actions": {"onRun": {
        "command": command[0], "args": list(command[1:]),
        "cancelation": {"mode": "NOTIFY_THEN_TERMINATE", "notifyPeriodInSeconds": CANCEL_GRACE_S}}}}}
    if after:
        step["dependencies"] = [{"dependsOn": after}]
    if parameters:
        step["parameterSpace"] = {"taskParameterDefinitions": parameters}
    return step


def _parameter(name, kind, description, **fields):
    return {"name": name, "type": kind, "description": description, **fields}
