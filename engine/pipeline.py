"""``DiffSynthPipeline``: the DiffSynth denoising loop (paper §3.2, Alg. 1) on diffusers parts.

For every step t, every frame's noise ε is predicted by the UNet under the prompt and the
ControlNets with classifier-free guidance. At a smoothing step the frames' x̂0 are decoded, made
consistent by patch blending on the guide frames, encoded again (x̄0), and ε̄ is derived from
x̄0 so that the DDIM step moves every frame towards the blended video. All frames start from the
same noise, and self-attention looks across frames (``attention``).
"""

import torch

from ..shot.frames import Frames, Recent, as_frames
from . import attention, latents
from .memory_budget import frames_per_batch

MAX_TOKENS = 77
STEP_PREVIEWS = 5  # about this many step previews a render, when asked for


class DiffSynthPipeline:
    """Renders shots with ``components`` (``models.Components``) on ``device`` in ``dtype``."""

    def __init__(self, components, device="cpu", dtype=torch.float32):
        self.parts = components.to(device, dtype)
        self.device, self.dtype = torch.device(device), dtype
        self.layout = None  # made for each render
        self.batch_frames = None  # frames per model call in the current render
        self.frame_size = None  # (H, W) of the current render's frames

    @torch.no_grad()
    def __call__(self, settings, controls, guides=None, flows=None, deflicker=None, progress=None, anchor=False,
                 start=None):
        """Stylized frames (N, H, W, 3) float32 in [0, 1] on the CPU: ``stream``'s frames, gathered."""
        frames = [frame for _, frame in self.stream(settings, controls, guides, flows, deflicker, progress, anchor,
                                                    start=start)]
        return torch.stack(frames)

    @torch.no_grad()
    def stream(self, settings, controls, guides=None, flows=None, deflicker=None, progress=None, anchor=False,
               step_preview=None, start=None):
        """Each stylized frame in order, as (index, (H, W, 3) float32 in [0, 1] on the CPU).

        ``controls``: ControlNet name → control images, (N, 3, H, W) in [0, 1] or
        ``shot.frames.Frames`` (N, H, W, 3) read a batch at a time; ``guides`` (N, H, W, C) and
        ``flows`` feed the ``PatchBlender`` made once for the shot (or pass ``deflicker``, any
        ``deflicker(frames, progress)`` on (N, H, W, 3) frames; one with ``stream`` like
        ``PatchBlender``'s is given the frames one window at a time). Only latents are held for
        the whole shot: at a smoothing step frames are decoded as the blend asks for them and
        encoded as they come out of it.
        ``progress(stage, step, steps, done, total)`` is called after each piece of work (stage:
        denoise, decode, blend or encode); an exception raised there stops the render.
        ``anchor``: the first control frame is the anchor of a longer shot this is a chunk of,
        not a frame to render: it is denoised alongside, attends to itself only, and every frame
        attends to it; it is neither blended nor returned (``guides`` and ``flows`` leave it out).
        ``step_preview(step, frame)``: called every few steps (``STEP_PREVIEWS`` a render) with
        the first frame's current estimate x̂0, decoded: (H, W, 3) in [0, 1] on the CPU.
        ``start``: with ``settings.strength`` below 1, the picture each frame starts from (its
        base image; ``Frames`` or (N, H, W, 3) in [0, 1], the anchor's first with ``anchor``):
        encoded and noised to ``settings.first_step``, where the loop begins (SDEdit).
        """
        report = progress or (lambda *args: None)
        controls = {name: as_control_frames(images) for name, images in controls.items()}
        count, height, width = _shot_shape(controls, self.parts.controlnets, settings)
        self.frame_size = (height, width)
        own = slice(int(anchor), None)  # the frames rendered
        scheduler = self.parts.scheduler
        scheduler.set_timesteps(settings.steps, device=self.device)
        prompts = self._encode_prompts(settings)
        noisy = self._initial_noise(settings.seed, count, height, width)
        if settings.first_step:
            noisy = self._noised_start(start, noisy, scheduler.timesteps[settings.first_step], settings)
        if settings.smoothing and deflicker is None:
            deflicker = self._patch_blender(settings, guides, flows, count - own.start)
        self.layout = attention.FrameLayout(detached=anchor)
        self.batch_frames = frames_per_batch(settings, self.parts.unet.config, height, width, self.dtype,
                                             self.device, count)
        models = [self.parts.unet, *(self.parts.controlnets[name] for name in controls)]
        if settings.cross_frame.enabled:
            attention.install(models, self.layout)
        try:
            for step, timestep in enumerate(scheduler.timesteps):
                if step < settings.first_step:
                    continue
                noise = self._predict(noisy, timestep, step, settings, prompts, controls, report)
                if step_preview is not None and (step + 1) % max(settings.steps // STEP_PREVIEWS, 1) == 0 \
                        and step + 1 < settings.steps:
                    step_preview(step, self._estimate(noisy[own][:1], noise[own][:1], timestep))
                if step in settings.smoothing_steps:
                    noise[own] = self._smooth(noisy[own], noise[own], timestep, settings, deflicker, report, step)
                noisy = scheduler.step(noise, timestep, noisy).prev_sample
        finally:
            attention.uninstall(models)
        decoded = self._decoded(noisy[own], settings, settings.steps, report, (height, width))
        frames = _blended(deflicker, decoded, settings.steps, settings.steps, report) if settings.final_smoothing \
            else enumerate(decoded)
        for index, frame in frames:
            yield index, frame.clamp(0, 1).cpu()

    def _encode_prompts(self, settings):
        texts = [settings.negative_prompt, settings.prompt] if settings.guidance_scale > 1 else [settings.prompt]
        tokens = self.parts.tokenizer(texts, padding="max_length", max_length=MAX_TOKENS, truncation=True,
                                      return_tensors="pt").input_ids.to(self.device)
        return self.parts.text_encoder(tokens)[0].to(self.dtype)

    def _initial_noise(self, seed, count, height, width):
        # Drawn on the CPU so that a seed gives the same noise on every device.
        channels = self.parts.unet.config.in_channels
        generator = torch.Generator("cpu").manual_seed(seed)
        noise = torch.randn((1, channels, height // 8, width // 8), generator=generator)
        noise = noise * self.parts.scheduler.init_noise_sigma
        return noise.to(self.device, self.dtype).repeat(count, 1, 1, 1)

    def _patch_blender(self, settings, guides, flows, count):
        from .deflicker import PatchBlender

        if guides is None:
            raise ValueError("smoothing needs guide frames")
        if len(guides) != count:
            raise ValueError(f"{len(guides)} guide frames for a shot of {count} frames")
        return PatchBlender.for_shot(guides, settings.blend, flows)

    def _predict(self, noisy, timestep, step, settings, prompts, controls, report):
        """ε for every frame, a batch of frames at a time; a batch that runs out of GPU memory
        is halved (down to one frame) and the step done again."""
        while True:
            try:
                return self._predict_batches(noisy, timestep, step, settings, prompts, controls, report)
            except torch.OutOfMemoryError:
                if self.batch_frames == 1:
                    raise
                self.batch_frames //= 2
                if self.device.type == "cuda":
                    torch.cuda.empty_cache()

    def _predict_batches(self, noisy, timestep, step, settings, prompts, controls, report):
        count = len(noisy)
        noise = torch.empty_like(noisy)
        self.layout.new_step()
        for batch in frame_batches(count, self.batch_frames):
            noise[batch[0]:batch[-1] + 1] = self._predict_frames(noisy, batch, timestep, step, settings, prompts,
                                                                 controls)
            report("denoise", step, settings.steps, batch[-1] + 1, count)
        return noise

    def _predict_frames(self, noisy, frames, timestep, step, settings, prompts, controls):
        guided = len(prompts) == 2
        copies = 2 if guided else 1
        sample = noisy[frames].repeat(copies, 1, 1, 1)
        sample = self.parts.scheduler.scale_model_input(sample, timestep)
        text = prompts.repeat_interleave(len(frames), dim=0)
        if settings.cross_frame.enabled:
            self.layout.set(frames, settings.cross_frame.neighbours, copies, stored=range(frames[0]))
        down, mid = None, None
        for name, images in controls.items():
            scale = settings.controls[name].scale_at(step, settings.steps)
            if scale == 0:
                continue
            condition = torch.stack([torch.as_tensor(images[frame]) for frame in frames]).permute(0, 3, 1, 2)
            condition = condition.to(self.device, self.dtype).repeat(copies, 1, 1, 1)
            d, m = self.parts.controlnets[name](sample, timestep, encoder_hidden_states=text, controlnet_cond=condition,
                                                conditioning_scale=scale, return_dict=False)
            down = d if down is None else [a + b for a, b in zip(down, d)]
            mid = m if mid is None else mid + m
        noise = self.parts.unet(sample, timestep, encoder_hidden_states=text, down_block_additional_residuals=down,
                                mid_block_additional_residual=mid).sample
        if guided:
            negative, positive = noise.chunk(2)
            noise = negative + settings.guidance_scale * (positive - negative)
        return noise

    def _noised_start(self, start, noise, timestep, settings):
        """The latents of the pictures ``start`` noised with ``noise`` to ``timestep``."""
        import numpy as np

        if start is None:
            raise ValueError("an image-to-image start (strength below 1) needs the frames' base images")
        start = as_frames(start)
        if len(start) != len(noise):
            raise ValueError(f"{len(start)} base images for a shot of {len(noise)} frames")
        size, base = settings.vae_frames, []
        for first in range(0, len(start), size):
            pixels = np.stack([np.asarray(start[i], np.float32) for i in range(first, min(first + size, len(start)))])
            base.append(latents.encode(self.parts.vae, latents.from_unit(torch.from_numpy(pixels), noise), size))
        return self.parts.scheduler.add_noise(torch.cat(base), noise, timestep.reshape(1))

    def _estimate(self, noisy, noise, timestep):
        """The first frame's estimate x̂0 at ``timestep``, decoded: (H, W, 3) in [0, 1] on the CPU."""
        alpha_bar = self.parts.scheduler.alphas_cumprod[int(timestep)].to(self.device, torch.float32)
        x0 = latents.x0_from_noise(noisy.float(), noise.float(), alpha_bar).to(self.dtype)
        return latents.to_unit(latents.decode(self.parts.vae, x0, len(x0)))[0].clamp(0, 1).cpu()

    def _smooth(self, noisy, noise, timestep, settings, deflicker, report, step):
        """ε̄ for the blended video at this step (Alg. 1, lines 4–8)."""
        alpha_bar = self.parts.scheduler.alphas_cumprod[int(timestep)].to(self.device, torch.float32)
        x0 = latents.x0_from_noise(noisy.float(), noise.float(), alpha_bar).to(self.dtype)
        frames = _blended(deflicker, self._decoded(x0, settings, step, report, self.frame_size), step, settings.steps,
                          report)
        blended = torch.empty_like(x0)
        pending = []  # blended frames waiting to be encoded, a slice of the VAE's at a time

        def encode():
            first = pending[0][0]
            pixels = latents.from_unit(torch.stack([frame for _, frame in pending]), x0)
            blended[first: first + len(pending)] = latents.encode(self.parts.vae, pixels, settings.vae_frames)
            report("encode", step, settings.steps, first + len(pending), len(x0))
            pending.clear()

        for index, frame in frames:
            pending.append((index, frame))
            if len(pending) == settings.vae_frames:
                encode()
        if pending:
            encode()
        return latents.noise_from_x0(noisy.float(), blended.float(), alpha_bar).to(self.dtype)

    def _decoded(self, x0, settings, step, report, size_hw):
        """``Frames`` (N, H, W, 3) float32 in [0, 1], not clamped: the latents ``x0`` decoded when
        asked for, a slice of ``vae_frames`` at a time (the slices the whole shot would be
        decoded in), the last two slices kept."""
        size = settings.vae_frames

        def decode(number):
            part = x0[number * size: (number + 1) * size]
            pixels = latents.to_unit(latents.decode(self.parts.vae, part, size))
            report("decode", step, settings.steps, number * size + len(part), len(x0))
            return pixels

        slices = Recent(Frames(-(-len(x0) // size), (), decode), 2)
        return Frames(len(x0), (*size_hw, 3), lambda index: slices[index // size][index % size])


def _blended(deflicker, frames, step, steps, report):
    """(index, frame) of each of ``frames`` (``Frames``) through ``deflicker``, in order: a
    ``stream`` takes them a window at a time; a plain ``deflicker(frames, progress)`` gets them
    gathered."""
    def blend_progress(done, total):
        report("blend", step, steps, done, total)

    if hasattr(deflicker, "stream"):
        return deflicker.stream(frames, blend_progress)
    gathered = torch.as_tensor(deflicker(torch.stack(list(frames)), blend_progress))
    return enumerate(gathered)


def as_control_frames(images):
    """Control images as ``Frames`` (N, H, W, 3): as they are, or from an (N, 3, H, W) array or tensor."""
    if isinstance(images, Frames):
        return images
    images = torch.as_tensor(images)
    return Frames(len(images), (*images.shape[2:], images.shape[1]), lambda index: images[index].permute(1, 2, 0))


def frame_batches(count, size):
    """Consecutive runs of at most ``size`` frame indices covering ``count`` frames."""
    return [list(range(start, min(start + size, count))) for start in range(0, count, size)]


def _shot_shape(controls, controlnets, settings):
    if not controls:
        raise ValueError("at least one ControlNet and its control images are needed")
    shapes = {name: tuple(images.shape) for name, images in controls.items()}
    for name in controls:
        if name not in controlnets:
            loaded = ", ".join(controlnets) or "none"
            raise ValueError(f"control images for {name!r}, but no such ControlNet is loaded ({loaded})")
        if name not in settings.controls:
            raise ValueError(f"no settings for ControlNet {name!r}")
    count, height, width, channels = next(iter(shapes.values()))
    if len(set(shapes.values())) > 1 or channels != 3:
        raise ValueError(f"control images must all be (N, H, W, 3) alike; got {shapes}")
    if height % 8 or width % 8:
        raise ValueError(f"frame size {width}x{height} must be a multiple of 8")
    return count, height, width
