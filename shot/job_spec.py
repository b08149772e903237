"""The engine job (README: "Job file") for a shot, built from plain values; no bpy."""

import json
import os
from pathlib import Path

SCHEMA = 1
DEFAULT_CONTROLNETS = {"depth": "lllyasviel/control_v11f1p_sd15_depth",
                       "softedge": "lllyasviel/control_v11p_sd15_softedge"}
DEFAULT_BASE = "stable-diffusion-v1-5/stable-diffusion-v1-5"


def build_job(inputs, output, first_frame, size, prompt, negative_prompt, model, weights, preset, steps,
              guidance_scale, seed, window, mode, device):
    """The job dict. ``inputs``: {depth, softedge, guide, flow} folders; ``model``: {base,
    tokenizer, allow_network, cache_dir, controlnets}; ``weights``: ControlNet name → weight;
    ``steps`` / ``window`` 0 keep the preset's."""
    job = {"schema": SCHEMA, "output": str(output), "first_frame": first_frame, "size": list(size),
           "prompt": prompt, "negative_prompt": negative_prompt, "preset": preset, "guidance_scale": guidance_scale,
           "seed": seed, "device": device, "guides": [str(inputs["guide"])], "flow": str(inputs["flow"]),
           "controls": {name: {"frames": str(inputs[name]), "model": model["controlnets"][name], "weight": weight}
                        for name, weight in weights.items()},
           "model": {key: model[key] for key in ("base", "tokenizer", "allow_network", "cache_dir") if model.get(key)},
           "smoothing": {"mode": mode}}
    if steps:
        job["steps"] = steps
    if window:
        job["smoothing"]["window"] = window
    return job


def write_job(job, path):
    """Write ``job`` as JSON to ``path`` atomically; returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.partial")
    partial.write_text(json.dumps(job, indent=1))
    os.replace(partial, path)
    return path


def next_version(folder, prefix="stylized_v"):
    """The next free version number of ``prefix###`` folders in ``folder`` (1 for none)."""
    folder = Path(folder)
    numbers = [int(p.name[len(prefix):]) for p in folder.glob(f"{prefix}*") if p.name[len(prefix):].isdigit()]
    return max(numbers, default=0) + 1
