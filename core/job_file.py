"""The engine job (README: "Job file") for a shot, built from plain values."""

import json
from pathlib import Path

from ..contract import JOB_SCHEMA, write_text_atomically


def build_job(passes, output, first_frame, size, prompt, negative_prompt, model, weights, preset, steps,
              guidance_scale, seed, window, mode, device):
    """The job dict. ``passes``: (the shot's pass EXR files in frame order, the folder for what
    the engine derives from them); ``model``: {base, tokenizer, allow_network, cache_dir,
    controlnets}; ``weights``: ControlNet name → weight; ``steps`` / ``window`` 0 keep the preset's."""
    exr_files, derived = passes
    job = {"schema": JOB_SCHEMA, "output": str(output), "first_frame": first_frame, "size": list(size),
           "prompt": prompt, "negative_prompt": negative_prompt, "preset": preset, "guidance_scale": guidance_scale,
           "seed": seed, "device": device,
           "passes": {"frames": [str(path) for path in exr_files], "derived": str(derived)},
           "controls": {name: {"model": model["controlnets"][name], "weight": weight}
                        for name, weight in weights.items()},
           "model": {key: model[key] for key in ("base", "tokenizer", "allow_network", "cache_dir") if model.get(key)},
           "smoothing": {"mode": mode}}
    if steps:
        job["steps"] = steps
    if window:
        job["smoothing"]["window"] = window
    return job


def write_job(job: dict, path: str | Path) -> Path:
    """Write ``job`` as JSON to ``path`` atomically; returns the path."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    return write_text_atomically(path, json.dumps(job, indent=1))


def next_version(folder: str | Path, prefix: str = "stylized_v") -> int:
    """The next free version number of ``prefix###`` folders in ``folder`` (1 for none)."""
    folder = Path(folder)
    numbers = [int(p.name[len(prefix):]) for p in folder.glob(f"{prefix}*") if p.name[len(prefix):].isdigit()]
    return max(numbers, default=0) + 1
