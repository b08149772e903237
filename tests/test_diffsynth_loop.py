"""The DiffSynth denoising loop on the tiny model: parity with diffusers' ControlNet pipeline,
the x̂0 ↔ ε̄ algebra, determinism, control, NNF reuse and cross-frame attention."""

import dataclasses
import types

import numpy as np
import pytest
import torch

from diffsynth_render.engine.attention import FrameLayout
from diffsynth_render.engine.deflicker import BlendSettings, PatchBlender
from diffsynth_render.engine.diffusion_settings import (
    ControlSettings,
    CrossFrameSettings,
    DiffusionSettings,
)
from diffsynth_render.engine.models import build_tiny
from diffsynth_render.engine.pipeline import DiffSynthPipeline
from diffsynth_render.job_spec import Schedule

pytestmark = pytest.mark.filterwarnings("ignore")
FRAMES, SIZE = 4, 64
PLAIN = CrossFrameSettings(enabled=False)


@pytest.fixture
def shot():
    generator = torch.Generator().manual_seed(np.random.randint(1 << 30))
    controls = {name: torch.rand(FRAMES, 3, SIZE, SIZE, generator=generator) for name in ("depth", "softedge")}
    guides = torch.rand(FRAMES, SIZE, SIZE, 3, generator=generator).numpy()
    return controls, guides


def _settings(**changes):
    base = DiffusionSettings(prompt="a red house on a hill", negative_prompt="blurry", steps=5, guidance_scale=6.0,
                          seed=7, controls={"depth": ControlSettings(1.0), "softedge": ControlSettings(0.6, 0.2, 0.8)},
                          final_smoothing=False, blend=BlendSettings(window=2, iterations=2))
    return dataclasses.replace(base, **changes)


def test_without_smoothing_matches_diffusers_controlnet_pipeline(shot):
    from diffusers import StableDiffusionControlNetPipeline
    from diffusers.models.controlnets import MultiControlNetModel

    controls, _ = shot
    settings = _settings(cross_frame=PLAIN)
    parts = build_tiny()
    ours = DiffSynthPipeline(parts)(settings, controls)
    stock = StableDiffusionControlNetPipeline(
        vae=parts.vae, text_encoder=parts.text_encoder, tokenizer=parts.tokenizer, unet=parts.unet,
        scheduler=parts.scheduler, controlnet=MultiControlNetModel(list(parts.controlnets.values())),
        safety_checker=None, feature_extractor=None, requires_safety_checker=False)
    stock.set_progress_bar_config(disable=True)
    noise = torch.randn((1, 4, SIZE // 8, SIZE // 8), generator=torch.Generator().manual_seed(settings.seed))
    theirs = stock(prompt=[settings.prompt] * FRAMES, negative_prompt=[settings.negative_prompt] * FRAMES,
                   image=list(controls.values()), height=SIZE, width=SIZE, num_inference_steps=settings.steps,
                   guidance_scale=settings.guidance_scale, latents=noise.repeat(FRAMES, 1, 1, 1),
                   controlnet_conditioning_scale=[c.weight for c in settings.controls.values()],
                   control_guidance_start=[c.start for c in settings.controls.values()],
                   control_guidance_end=[c.end for c in settings.controls.values()], output_type="pt").images
    assert ours.shape == (FRAMES, SIZE, SIZE, 3)
    assert ours.std() > 0.05
    torch.testing.assert_close(ours, theirs.permute(0, 2, 3, 1), atol=1e-4, rtol=0)


def test_an_image_to_image_start_keeps_more_of_the_base_the_lower_its_strength(shot):
    from diffsynth_render.engine import latents

    controls, _ = shot
    parts = build_tiny()
    pipeline = DiffSynthPipeline(parts)
    base = torch.rand(FRAMES, SIZE, SIZE, 3, generator=torch.Generator().manual_seed(5))
    plain = pipeline(_settings(), controls)
    assert torch.equal(pipeline(_settings(strength=1.0), controls, start=base.numpy()), plain)  # bit for bit
    # What the (random) tiny VAE keeps of the base: the picture a start from it can come back to.
    with torch.no_grad():
        kept = latents.to_unit(latents.decode(parts.vae, latents.encode(parts.vae, latents.from_unit(
            base, base), FRAMES), FRAMES)).clamp(0, 1)
    distances = [(frames - kept).abs().mean().item() for frames in
                 (plain, *(pipeline(_settings(strength=s), controls, start=base.numpy()) for s in (0.6, 0.2)))]
    assert distances[2] < 0.8 * min(distances[:2]), distances  # (a random tiny UNet moves it much in one step)
    assert _settings(strength=0.6).first_step == 2 and _settings(strength=0.0).first_step == 4  # the last step runs
    with pytest.raises(ValueError, match="needs the frames' base images"):
        pipeline(_settings(strength=0.5), controls)


class InvertibleVae:
    """Stands in for the VAE: each latent pixel's 4 values spread over an 8×8 block of 3 colours
    (channels 0–2 as the block's colour, channel 3 as a ± checker on it), read back exactly."""

    config = types.SimpleNamespace(scaling_factor=0.5)
    checker = (torch.arange(8)[:, None] + torch.arange(8)[None, :]) % 2 * 2.0 - 1

    def decode(self, latents):
        blocks = latents[:, :3, :, None, :, None] + latents[:, 3:, :, None, :, None] * self.checker[:, None, :]
        n, c, h, _, w, _ = blocks.shape
        return types.SimpleNamespace(sample=blocks.expand(n, c, h, 8, w, 8).reshape(n, c, h * 8, w * 8))

    def encode(self, pixels):
        n, c, height, width = pixels.shape
        blocks = pixels.reshape(n, c, height // 8, 8, width // 8, 8)
        colour = blocks.mean(dim=(3, 5))
        pattern = (blocks * self.checker[:, None, :]).mean(dim=(1, 3, 5))[:, None]
        return types.SimpleNamespace(latent_dist=types.SimpleNamespace(mean=torch.cat([colour, pattern], dim=1)))


def _identity(frames, progress=None):
    return frames


def test_identity_blend_with_an_invertible_vae_changes_only_rounding(shot):
    controls, _ = shot
    pipeline = DiffSynthPipeline(build_tiny())
    pipeline.parts.vae = InvertibleVae()
    plain = pipeline(_settings(), controls, deflicker=_identity)
    smoothed = pipeline(_settings(smoothing_steps=tuple(range(5)), final_smoothing=True), controls, deflicker=_identity)
    assert plain.std() > 0.05
    torch.testing.assert_close(smoothed, plain, atol=1e-4, rtol=0)


def test_same_seed_same_frames_other_controls_other_frames(shot):
    controls, guides = shot
    pipeline = DiffSynthPipeline(build_tiny())
    settings = _settings(smoothing_steps=(1,), final_smoothing=True)
    first = pipeline(settings, controls, guides=guides)
    assert torch.equal(first, pipeline(settings, controls, guides=guides))
    swapped = {"depth": controls["softedge"], "softedge": controls["depth"]}
    assert (pipeline(settings, swapped, guides=guides) - first).abs().mean() > 0.01
    assert (pipeline(dataclasses.replace(settings, seed=8), controls, guides=guides) - first).abs().mean() > 0.01


def test_patch_blender_estimates_nnfs_only_at_the_first_smoothing_step(shot):
    controls, guides = shot
    blender = PatchBlender(guides, BlendSettings(window=2, iterations=2))
    counts = []

    def counting(frames, progress=None):
        result = blender(frames, progress)
        counts.append(blender.estimations)
        return result

    DiffSynthPipeline(build_tiny())(_settings(smoothing_steps=(0, 2, 4), final_smoothing=True), controls,
                                    deflicker=counting)
    assert len(counts) == 4 and counts[0] > 0
    assert counts == [counts[0]] * 4  # no NNF estimated after the first smoothing step


def test_cross_frame_attention_with_the_first_frame_does_not_depend_on_batching(shot):
    controls, _ = shot
    pipeline = DiffSynthPipeline(build_tiny())
    anchored = CrossFrameSettings(neighbours=0)
    whole = pipeline(_settings(cross_frame=anchored), controls)
    for size in (1, 3):
        torch.testing.assert_close(pipeline(_settings(cross_frame=anchored, batch_frames=size), controls), whole,
                                   atol=1e-5, rtol=0)
    plain = pipeline(_settings(cross_frame=PLAIN), controls)
    torch.testing.assert_close(plain[0], whole[0], atol=1e-6, rtol=0)  # the first frame attends to itself only
    assert float((plain[1:] - whole[1:]).abs().mean()) > 1e-4
    assert float((pipeline(_settings(), controls)[1:] - whole[1:]).abs().mean()) > 1e-5  # neighbours matter too


def test_frame_layout_reads_stored_frames_and_keeps_what_later_batches_need():
    layout = FrameLayout()
    layout.set([0, 1, 2], neighbours=1, copies=2)
    assert layout.cached == [] and layout.keep == [0, 2] and layout.retain == {0, 2}
    assert layout.index[:3].tolist() == [[0, 1, 0], [0, 1, 2], [0, 1, 2]]
    assert layout.valid[:3].sum(dim=1).tolist() == [2, 3, 3]
    layout.set([3, 4], neighbours=1, copies=2, stored=range(3))
    assert layout.cached == [0, 2]  # pool: 3, 4, then the stored 0 and 2
    assert layout.index[:2].tolist() == [[0, 1, 2, 3], [0, 1, 2, 0]]  # positions in the pool, padded
    assert layout.index[2:].tolist() == [[4, 5, 6, 7], [4, 5, 6, 4]]  # the positive copy's pool follows
    assert layout.valid.sum(dim=1).tolist() == [4, 3, 4, 3]  # frame 4 has no frame 5 yet
    with pytest.raises(ValueError, match="first frame"):
        FrameLayout().set([3, 4], neighbours=1)


def test_presets_and_setting_errors():
    assert Schedule.of("stylize").smoothing_steps == (0, 5, 10, 15)
    assert Schedule.of("stylize", steps=10).smoothing_steps == (0, 2, 5, 7)
    assert Schedule.of("paper-3d", steps=4).smoothing_steps == (0, 1, 2)
    with pytest.raises(ValueError, match="preset 'nope'"):
        Schedule.of("nope")
    with pytest.raises(ValueError, match=r"smoothing steps \[5\]"):
        _settings(smoothing_steps=(5,))
    with pytest.raises(ValueError, match="start 0.5 and end 0.5"):
        ControlSettings(1.0, 0.5, 0.5)


def test_batches_reuse_stored_frames_only_the_last_of_a_batch_misses_a_neighbour(shot):
    controls, _ = shot
    pipeline = DiffSynthPipeline(build_tiny())
    whole = pipeline(_settings(), controls)
    batched = pipeline(_settings(batch_frames=2), controls)  # batches [0, 1] and [2, 3]
    change = [float((batched[f] - whole[f]).abs().mean()) for f in range(FRAMES)]
    # Frame 1 could not see frame 2 (not computed yet); the others differ only through it. Frame
    # 3, the shot's last, has no neighbour ahead either way.
    assert change[1] > 5 * max(change[0], change[2], change[3]), change
    assert max(change) < 1e-3


def test_a_batch_out_of_gpu_memory_is_halved_and_the_step_redone(shot, monkeypatch):
    controls, _ = shot
    pipeline = DiffSynthPipeline(build_tiny())
    anchored = _settings(cross_frame=CrossFrameSettings(neighbours=0))
    whole = pipeline(anchored, controls)
    unet_forward = type(pipeline.parts.unet).forward
    rows_seen = []

    def small_memory(unet, sample, *args, **kwargs):
        rows_seen.append(len(sample))
        if len(sample) > 6:  # more than three frames under guidance do not "fit"
            raise torch.OutOfMemoryError("CUDA out of memory (simulated)")
        return unet_forward(unet, sample, *args, **kwargs)

    monkeypatch.setattr(type(pipeline.parts.unet), "forward", small_memory)
    torch.testing.assert_close(pipeline(anchored, controls), whole, atol=1e-5, rtol=0)
    assert rows_seen[0] == 2 * FRAMES and pipeline.batch_frames == 2
    assert max(rows_seen[1:]) == 4  # frame 0 is not computed again: its attention inputs are stored


def test_frames_per_batch_follows_size_and_setting():
    from diffsynth_render.engine.memory_budget import frames_per_batch

    config = types.SimpleNamespace(block_out_channels=(320, 640, 1280, 1280))
    settings = _settings()
    small = frames_per_batch(settings, config, 256, 256, torch.float32, "cpu", 1000)
    large = frames_per_batch(settings, config, 1024, 1024, torch.float32, "cpu", 1000)
    assert small >= 4 * large >= 4 or large == 1
    assert frames_per_batch(_settings(batch_frames=3), config, 64, 64, torch.float32, "cpu", 1000) == 3
    assert frames_per_batch(_settings(batch_frames=3), config, 64, 64, torch.float32, "cpu", 2) == 2


def test_the_streamed_loop_runs_in_half_precision_as_cuda_runs_it(shot):
    """float16 (and bfloat16) on the CPU, smoothing at every step and at the end, frames decoded
    as the blend asks and encoded as it gives them back: finite frames close to float32's."""
    controls, guides = shot
    settings = _settings(smoothing_steps=(1, 3), final_smoothing=True, vae_frames=3)
    reference = DiffSynthPipeline(build_tiny())(settings, controls, guides=guides)
    for dtype in (torch.float16, torch.bfloat16):
        frames = DiffSynthPipeline(build_tiny(), dtype=dtype)(settings, controls, guides=guides)
        assert frames.dtype == torch.float32 and bool(torch.isfinite(frames).all())
        assert float((frames - reference).abs().mean()) < 0.02, dtype
