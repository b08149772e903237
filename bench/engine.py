"""Cost of the DiffSynth loop: seconds per frame-step without smoothing and with the presets'
smoothing, and where the time goes (UNet + ControlNets, VAE round trips, patch blending, NNFs).

The embedded tiny model runs on the CPU; an SD1.5-sized model (UNet, VAE, text encoder and two
ControlNets built from SD1.5's configs with random weights: timing needs no trained weights)
runs on CUDA when there is a GPU (16 frames at 512², fp16) and, small, on the CPU.
Goal (issue 5): the 'stylize' preset costs at most 15% more than the same loop unsmoothed.
"""

import dataclasses
import time

from .report import write_report

STEPS = 20
CASES = [  # (model, device, frames, size); the SD1.5-sized CPU case takes ~6 minutes on 2 cores
    ("tiny", "cpu", 16, 128),
    ("sd15-random", "cpu", 2, 192),
    ("sd15-random", "cuda", 16, 512),
]


def build_sd15_random(seed=0):
    """SD1.5-sized ``Components`` with seeded random weights (for timing only)."""
    import torch
    from diffusers import AutoencoderKL, ControlNetModel, DDIMScheduler, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel

    from diffsynth_render.engine.models import Components
    from diffsynth_render.engine.models import sd15_configs as sd15
    from diffsynth_render.engine.models.tiny import tiny_tokenizer

    text = {key: value for key, value in sd15.TEXT_ENCODER.items() if key not in ("architectures", "model_type")}
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        nets = {name: ControlNetModel(**sd15.CONTROLNET) for name in ("depth", "softedge")}
        return Components(tiny_tokenizer(), CLIPTextModel(CLIPTextConfig(**text)),
                          UNet2DConditionModel(**sd15.UNET), AutoencoderKL(**sd15.VAE),
                          DDIMScheduler(**sd15.SCHEDULER), nets, origin={"model": "sd15-random"})


def measure(model, device, frames, size):
    """Rows for one model and shot: the loop unsmoothed and with each preset's smoothing."""
    import numpy as np
    import torch

    from diffsynth_render.engine.deflicker import BlendSettings, PatchBlender
    from diffsynth_render.engine.devices import resolve_device
    from diffsynth_render.engine.diffusion_settings import ControlSettings, DiffusionSettings
    from diffsynth_render.engine.models import build_tiny
    from diffsynth_render.engine.pipeline import DiffSynthPipeline
    from diffsynth_render.engine.progress import StageClock
    from diffsynth_render.job_spec import Schedule

    device, dtype = resolve_device(device)
    started = time.perf_counter()
    parts = build_tiny() if model == "tiny" else build_sd15_random()
    build_s = time.perf_counter() - started
    pipeline = DiffSynthPipeline(parts, device, dtype)
    rng = np.random.default_rng(0)
    controls = {name: torch.from_numpy(rng.random((frames, 3, size, size), dtype=np.float32))
                for name in parts.controlnets}
    guides = rng.random((frames, size, size, 7), dtype=np.float32)
    base = DiffusionSettings(prompt="a watercolour street at dusk", steps=STEPS,
                             controls={name: ControlSettings() for name in parts.controlnets}, final_smoothing=False)
    rows, unsmoothed = [], None
    for schedule in ("none", "stylize", "paper-3d"):
        values = Schedule.of("stylize" if schedule == "none" else schedule, STEPS)
        window = frames - 1 if values.window == "shot" else min(values.window, frames - 1)
        settings = dataclasses.replace(base, smoothing_steps=() if schedule == "none" else values.smoothing_steps,
                                       final_smoothing=schedule != "none", blend=BlendSettings(window=window))
        patch_blender, nnf_s = None, 0.0
        if settings.smoothing:
            started = time.perf_counter()
            patch_blender = PatchBlender(guides, settings.blend)
            patch_blender.prepare()
            nnf_s = time.perf_counter() - started
        timer = StageClock()
        started = time.perf_counter()
        pipeline(settings, controls, deflicker=patch_blender, progress=timer.mark)
        if device.type == "cuda":
            torch.cuda.synchronize()
        seconds = time.perf_counter() - started
        unsmoothed = unsmoothed or seconds
        shares = {stage: timer.seconds.get(stage, 0.0) / seconds for stage in ("denoise", "decode", "encode", "blend")}
        rows.append({"model": model, "device": str(device), "dtype": str(dtype).replace("torch.", ""),
                     "frames": frames, "size": f"{size}²", "steps": STEPS, "smoothing": schedule,
                     "s_per_frame_step": seconds / (frames * STEPS), "vs_unsmoothed": seconds / unsmoothed - 1,
                     "unet_controlnet_share": shares["denoise"], "vae_share": shares["decode"] + shares["encode"],
                     "blend_share": shares["blend"], "nnf_s_once": nnf_s, "build_s": build_s,
                     "batch_frames": pipeline.batch_frames})
    return rows


def flop_rows(size=512, smoothing_steps=4, frames=5):
    """Floating-point work per frame of SD1.5's parts at ``size``² (counted on the meta device,
    nothing computed): a guided step (UNet + 2 ControlNets, two rows) with plain and with
    cross-frame attention (first frame ± 1, a batch of ``frames``), one VAE round trip, and what
    ``smoothing_steps`` round trips add to a 20-step render."""
    import torch
    from diffusers import AutoencoderKL, ControlNetModel, UNet2DConditionModel
    from torch.utils.flop_counter import FlopCounterMode

    from diffsynth_render.engine import attention
    from diffsynth_render.engine.models import sd15_configs as sd15

    def teraflops(run):
        counter = FlopCounterMode(display=False)
        with counter, torch.no_grad():
            run()
        return counter.get_total_flops() / 1e12

    latent, rows = size // 8, 2 * frames  # guidance: a negative and a positive row per frame
    with torch.device("meta"):
        unet, net = UNet2DConditionModel(**sd15.UNET), ControlNetModel(**sd15.CONTROLNET)
        vae = AutoencoderKL(**sd15.VAE)
    layout = attention.FrameLayout()
    layout.set(list(range(frames)), neighbours=1, copies=2)

    def guided_step():
        with torch.device("meta"):
            sample, text = torch.empty(rows, 4, latent, latent), torch.empty(rows, 77, 768)
            control = torch.empty(rows, 3, size, size)
            return (teraflops(lambda: unet(sample, 10, text)) + 2 * teraflops(
                lambda: net(sample, 10, encoder_hidden_states=text, controlnet_cond=control))) / frames

    plain = guided_step()
    attention.install([unet, net], layout)
    cross = guided_step()
    with torch.device("meta"):
        decode = teraflops(lambda: vae.decode(torch.empty(1, 4, latent, latent)))
        encode = teraflops(lambda: vae.encode(torch.empty(1, 3, size, size)))
    result = []
    for name, step in (("plain", plain), ("cross-frame", cross)):
        render = STEPS * step + decode
        result.append({"size": f"{size}²", "attention": name, "guided_step_tflop": step, "vae_decode_tflop": decode,
                       "vae_encode_tflop": encode, "render_20_steps_tflop": render,
                       "smoothing_round_trips": smoothing_steps,
                       "round_trips_vs_render": smoothing_steps * (decode + encode) / render})
    return result


def run():
    """Measure every case this machine can run, and count SD1.5's work; returns the rows."""
    import torch

    rows = []
    for model, device, frames, size in CASES:
        if device == "cuda" and not torch.cuda.is_available():
            continue
        rows += measure(model, device, frames, size)
    write_report("engine", rows)
    write_report("engine_flops", flop_rows())
    return rows


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--case", nargs=4, metavar=("MODEL", "DEVICE", "FRAMES", "SIZE"),
                        help="measure one case (MODEL: tiny or sd15-random) instead of the default ones")
    args = parser.parse_args()
    if args.case:
        model, device, frames, size = args.case
        write_report("engine", measure(model, device, int(frames), int(size)))
    else:
        run()
