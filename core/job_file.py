"""The engine job (README: "Job file") for a shot, built from plain values."""

import json
from pathlib import Path

from ..contract import JOB_SCHEMA, write_text_atomically


def build_job(passes, output, first_frame, size, painter, style, model, device, prompt, negative_prompt, weights,
              preset, steps, guidance_scale, seed, window, mode, keyframes=None, notes=()):
    """The job dict. ``passes``: (the shot's pass EXR files in frame order, the folder for what
    the engine derives from them); ``painter``: 'style' (``style``: the job's style object) or
    'diffusion' (``model``: {base, tokenizer, allow_network, cache_dir, controlnets}; ``weights``:
    ControlNet name → weight; the prompts, preset, steps, guidance and seed); ``steps`` /
    ``window`` 0 keep the preset's (the style painter's); ``keyframes``: the job's value or None;
    ``notes``: lines for result.json about the shot."""
    exr_files, derived = passes
    job = {"schema": JOB_SCHEMA, "output": str(output), "first_frame": first_frame, "size": list(size),
           "painter": painter, "device": device,
           "passes": {"frames": [str(path) for path in exr_files], "derived": str(derived)},
           "smoothing": {"mode": mode}}
    if window:
        job["smoothing"]["window"] = window
    if keyframes is not None:
        job["keyframes"] = keyframes
    if notes:
        job["notes"] = list(notes)
    if painter == "style":
        return {**job, "style": dict(style)}
    job.update({"prompt": prompt, "negative_prompt": negative_prompt, "preset": preset,
                "guidance_scale": guidance_scale, "seed": seed,
                "controls": {name: {"model": model["controlnets"][name], "weight": weight}
                             for name, weight in weights.items()},
                "model": {key: model[key] for key in ("base", "tokenizer", "allow_network", "cache_dir")
                          if model.get(key)}})
    if steps:
        job["steps"] = steps
    return job


def write_job(job: dict, path: str | Path) -> Path:
    """Write ``job`` as JSON to ``path`` atomically; returns the path."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    return write_text_atomically(path, json.dumps(job, indent=1))


def reserve_version(folder: str | Path, prefix: str = "stylized_v") -> tuple[int, Path]:
    """(the next version of ``prefix###`` results in ``folder``, its job file ``jobs/job_v###.json``),
    the job file's name taken atomically for this run: runs started at once into one folder (two
    Blender windows, a farm's retry) each get their own version."""
    jobs = Path(folder) / "jobs"
    jobs.mkdir(parents=True, exist_ok=True)
    taken = [_number(p.name, prefix) for p in Path(folder).glob(f"{prefix}*")]
    taken += [_number(p.stem, "job_v") for p in jobs.glob("job_v*.json")]
    version = max(filter(None, taken), default=0) + 1
    while True:
        path = jobs / f"job_v{version:03d}.json"
        try:
            with open(path, "x"):
                return version, path
        except FileExistsError:
            version += 1


def _number(name, prefix):
    tail = name[len(prefix):]
    return int(tail) if name.startswith(prefix) and tail.isdigit() else None
