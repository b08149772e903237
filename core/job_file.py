"""The engine job (README: "Job file") for a shot, built from plain values."""

import json
from pathlib import Path

from ..contract import JOB_SCHEMA, write_text_atomically


def build_job(passes, output, first_frame, size, painter, style, model, device, prompt, negative_prompt, weights,
              preset, steps, guidance_scale, seed, window, mode, keyframes=None):
    """The job dict. ``passes``: (the shot's pass EXR files in frame order, the folder for what
    the engine derives from them); ``painter``: 'style' (``style``: the job's style object) or
    'diffusion' (``model``: {base, tokenizer, allow_network, cache_dir, controlnets}; ``weights``:
    ControlNet name → weight; the prompts, preset, steps, guidance and seed); ``steps`` /
    ``window`` 0 keep the preset's (the style painter's); ``keyframes``: the job's value or None."""
    exr_files, derived = passes
    job = {"schema": JOB_SCHEMA, "output": str(output), "first_frame": first_frame, "size": list(size),
           "painter": painter, "device": device,
           "passes": {"frames": [str(path) for path in exr_files], "derived": str(derived)},
           "smoothing": {"mode": mode}}
    if window:
        job["smoothing"]["window"] = window
    if keyframes is not None:
        job["keyframes"] = keyframes
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


def next_version(folder: str | Path, prefix: str = "stylized_v") -> int:
    """The next free version number of ``prefix###`` folders in ``folder`` (1 for none)."""
    folder = Path(folder)
    numbers = [int(p.name[len(prefix):]) for p in folder.glob(f"{prefix}*") if p.name[len(prefix):].isdigit()]
    return max(numbers, default=0) + 1
