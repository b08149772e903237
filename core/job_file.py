"""The engine job (README: "Job file") for a shot: a request's ``JobSpec`` on the shot's pass EXRs
or on a strip's footage, written where the engine reads it."""

import dataclasses
import json
from pathlib import Path

from ..contract import write_text_atomically
from ..job_spec import Footage, JobSpec, Passes


def shot_job(spec: JobSpec, output, exr_files, derived, **changes) -> JobSpec:
    """``spec`` (a ``ShotRequest``'s) as the job of its shot: its frames written to ``output``,
    made from the pass EXRs ``exr_files`` (in frame order) with what the engine derives from them
    in ``derived``; ``changes``: other fields of the job (its notes, a farm's chunks)."""
    passes = Passes(frames=tuple(str(path) for path in exr_files), derived=str(derived))
    return dataclasses.replace(spec, output=str(output), passes=passes, **changes)


def footage_job(spec: JobSpec, output, frame_files, derived, **changes) -> JobSpec:
    """``spec`` as the job of footage: its frames written to ``output``, painted from the PNG
    files ``frame_files`` (in frame order) with what the engine derives from them in ``derived``."""
    footage = Footage(frames=tuple(str(path) for path in frame_files), derived=str(derived))
    return dataclasses.replace(spec, output=str(output), footage=footage, **changes)


def write_job(job: JobSpec | dict, path: str | Path) -> Path:
    """Write ``job`` (a spec, or a job file's JSON object) to ``path`` atomically; returns the path."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    raw = job.to_json() if isinstance(job, JobSpec) else job
    return write_text_atomically(path, json.dumps(raw, indent=1))
