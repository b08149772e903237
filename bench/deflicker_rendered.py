"""Deflicker quality on a rendered shot (``rendered_shot``): how close patch blending comes to the
limit the exact motion allows.

The textured render is the ideal stylization; per-frame flicker is added on top (brightness
jitter and coloured blotches, as a per-frame painter leaves). Each case is scored against the
clean frames: PSNR, warp error (frame t against t+1 warped by the vector pass, consistent
pixels), the share of the input's warp error removed, and the detail kept (gradient energy
against the clean frames'). Cases: the flickering input; the exact-flow warp-average (every
window frame carried along the chained vector-pass flows, averaged where the guides agree:
the limit); the engine on the add-on path (all guide channels and the flows, as Stylize passes
them) and on the standalone path (the shaded guide alone, no flows), window ±7 as Stylize's;
keyframe mode (every 4th frame and the last carried to the frames between). Then the same shot
painted frame by frame by the built-in style painter (its base images made from the guides, as a
style job paints them): the flicker left (share of per-frame painting's warp error) and the
detail kept, blended and in keyframe mode.

Run alone: ``.venv/bin/python -m diffsynth_render.bench.deflicker_rendered [--size 256x144]``.
"""

import argparse
import time

import numpy as np
import torch

from ..contract import DEFAULT_BASE_IMAGE, STYLE_WINDOW
from ..engine.deflicker import BlendSettings, PatchBlender
from ..engine.deflicker.detail import frame_detail
from ..engine.deflicker.motion import chained_flow, visible
from ..engine.keyframe_mode import carry_keyframes, keyframe_blend, keyframe_shot
from ..job_spec import Keyframes
from ..shot.guides import surfaces
from ..shot.video_quality import gradient_energy, warp_errors, warp_from_next
from ..testing.synthetic_sequences import flickered
from .rendered_shot import rendered_shot
from .report import write_report

SHADED = slice(0, 3)  # the guide's shaded channels: all a standalone user has
EVERY = 4  # keyframe spacing


def exact_flow_average(frames, guides, flows, window):
    """Each frame averaged with its window's frames carried by the chained exact flows, each
    carried pixel counted only where the guides say the same surface point is seen."""
    flows_t, points = torch.from_numpy(flows), torch.from_numpy(surfaces(guides))
    result = np.empty_like(frames)
    for target in range(len(frames)):
        total, weight = frames[target].astype(np.float64), np.ones(frames.shape[1:3])
        for source in range(max(0, target - window), min(len(frames), target + window + 1)):
            if source == target:
                continue
            displacement = chained_flow(flows_t, target, source)
            seen = visible(points[source], points[target], displacement).numpy()
            total += warp_from_next(frames[source], displacement.numpy()) * seen[..., None]
            weight += seen
        result[target] = total / weight[..., None]
    return result


def score(name, frames, clean, flows, input_warp, seconds=None, nnfs=None):
    """A table row for ``frames`` scored against the clean frames."""
    mse = float(((frames - clean) ** 2).mean())
    warp = float(warp_errors(frames, flows).mean())
    return {"case": name, "psnr_db": 10 * np.log10(1 / mse) if mse else float("inf"), "warp_error": warp,
            "flicker_removed": 1 - warp / input_warp, "detail_kept": gradient_energy(frames) / gradient_energy(clean),
            "seconds": seconds if seconds is not None else "", "nnfs": nnfs if nnfs is not None else ""}


def blended(guides, frames, settings, flows=None, surfaces=None, texture=None):
    """The engine's deflicker of ``frames``: (result, seconds, NNFs estimated)."""
    started = time.perf_counter()
    blender = PatchBlender(guides, settings, flows, surfaces, texture)
    result = blender(frames)
    return result, time.perf_counter() - started, blender.estimations


def keyframed(guides, frames, flows, settings, blend_keyframes=True):
    """Keyframe mode as a job runs it: ``frames`` stand for paintings of every frame, of which
    only the keyframes are used (blended with each other unless told not to), then carried.
    (result, seconds)."""
    started = time.perf_counter()
    keys = Keyframes(every=EVERY).indices(0, len(frames))
    painted = frames[keys]
    if blend_keyframes:
        key_guides, key_flows = keyframe_shot(guides, flows, keys)
        painted = PatchBlender(key_guides, keyframe_blend(settings, keys), key_flows, surfaces(key_guides))(painted)
    result = np.stack([np.asarray(frame) for _, frame in carry_keyframes(guides, flows, keys, painted, settings)])
    return result, time.perf_counter() - started


def run(size=(512, 288), window=STYLE_WINDOW):
    """Measure and report; returns the rows."""
    clean, guides, flows = rendered_shot(size)
    frames = flickered(clean, seed=3)
    input_warp = float(warp_errors(frames, flows).mean())
    rows = [score("clean frames (the ideal)", clean, clean, flows, input_warp),
            score("flickering input", frames, clean, flows, input_warp)]
    started = time.perf_counter()
    limit = exact_flow_average(frames, guides, flows, window)
    rows.append(score("exact-flow warp-average (the limit)", limit, clean, flows, input_warp,
                      time.perf_counter() - started))
    plain, kept = BlendSettings(window=window), BlendSettings(window=window, keep_detail=True)
    addon_cases = [("engine, add-on path (guides + flows), detail kept (a job's default)", kept),
                   ("  the same, plain blend", plain),
                   ("  the same, balanced mode", BlendSettings(window=window, mode="balanced", keep_detail=True))]
    for name, settings in addon_cases:
        result, seconds, nnfs = blended(guides, frames, settings, flows, surfaces(guides))
        rows.append(score(name, result, clean, flows, input_warp, seconds, nnfs))
    result, seconds = keyframed(guides, frames, flows, kept)
    rows.append(score(f"engine, keyframe mode (every {EVERY}, add-on path)", result, clean, flows, input_warp,
                      seconds))
    carried, _ = keyframed(guides, clean, flows, kept, blend_keyframes=False)
    between = [index for index in range(len(clean)) if index not in Keyframes(every=EVERY).indices(0, len(clean))]
    error = float(((carried[between] - clean[between]) ** 2).mean())
    rows.append({**{key: "" for key in rows[0]}, "case": "  clean keyframes carried: the frames between",
                 "psnr_db": 10 * np.log10(1 / error), "detail_kept": gradient_energy(carried[between]) /
                 gradient_energy(clean[between])})
    shaded = np.ascontiguousarray(guides[..., SHADED])
    for name, texture in (("engine, standalone (shaded guide; matches the frames' detail too)", frame_detail(frames)),
                          ("  the same, matching the guide alone (before)", None)):
        result, seconds, nnfs = blended(shaded, frames, plain, texture=texture)
        rows.append(score(name, result, clean, flows, input_warp, seconds, nnfs))
    write_report(f"deflicker_rendered_{size[0]}x{size[1]}", rows)
    write_report(f"deflicker_painted_{size[0]}x{size[1]}", painted_rows(guides, flows, window))
    write_report("nnf_cost_512", nnf_rows())
    return rows


def painted_rows(guides, flows, window):
    """The shot painted frame by frame by the built-in style painter, then made steady: flicker
    left (share of the per-frame painting's warp error) and detail kept (gradient energy)."""
    from ..engine.style_painter import StylePainter, StyleSettings
    from ..shot.base_images import base_image

    painter = StylePainter(StyleSettings(), "cpu")
    painted = np.stack([painter(base_image(guide, DEFAULT_BASE_IMAGE)) for guide in guides])
    per_frame, energy = float(warp_errors(painted, flows).mean()), gradient_energy(painted)
    plain, kept = BlendSettings(window=window), BlendSettings(window=window, keep_detail=True)
    points = surfaces(guides)
    cases = [("painted frame by frame", lambda: painted),
             ("blend, detail kept (a job's default)", lambda: blended(guides, painted, kept, flows, points)[0]),
             ("blend, plain", lambda: blended(guides, painted, plain, flows, points)[0]),
             (f"keyframe mode, every {EVERY} (keyframes blended, detail kept: a job's default)",
              lambda: keyframed(guides, painted, flows, kept)[0]),
             (f"keyframe mode, every {EVERY}, keyframes not blended", lambda: keyframed(guides, painted, flows, kept,
                                                                                          blend_keyframes=False)[0])]
    rows = []
    for name, make in cases:
        started = time.perf_counter()
        result = make()
        seconds = time.perf_counter() - started
        rows.append({"case": name, "flicker_left": float(warp_errors(result, flows).mean()) / per_frame,
                     "detail_kept": gradient_energy(result) / energy, "seconds": seconds})
    return rows


def nnf_rows(side=512, repeats=3):
    """Milliseconds per NNF between two 512² guide frames (10 channels): the full search, and the
    chained flow the add-on path uses instead."""
    from ..kernels import estimate_nnf
    from ..testing.synthetic_images import texture, translated
    from .report import median_seconds

    source = texture(side, side, 10, seed=5)
    target = translated(source, 3, -2)
    flow = np.zeros((side, side, 2), np.float32)
    flow[..., 0], flow[..., 1] = -3, 2
    cases = [("full search (no flows)", {}), ("chained flow (add-on path)", dict(init=flow, levels=1, iterations=0))]
    return [{"case": name, "ms_per_nnf": 1000 * median_seconds(lambda: estimate_nnf(source, target, **arguments),
                                                               repeats)} for name, arguments in cases]


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="512x288", help="WIDTHxHEIGHT of the rendered shot")
    arguments = parser.parse_args()
    run(tuple(int(side) for side in arguments.size.split("x")))
