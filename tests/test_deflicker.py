"""Patch-blending deflicker: noise and flicker removal, fast vs balanced, NNF counts and cache."""

import math

import numpy as np
import pytest
import torch

from diffsynth_render.engine.deflicker import BlendSettings, PatchBlender
from diffsynth_render.engine.deflicker.detail import frame_detail
from diffsynth_render.engine.deflicker.windows import aligned_runs, frame_plan, window_blocks
from diffsynth_render.testing.synthetic_images import texture
from diffsynth_render.testing.synthetic_sequences import flickered, moving_shot, occluding_shot, view


def psnr(frames, clean):
    return 10 * math.log10(1 / float(np.mean((frames - clean) ** 2)))


def temporal_error(frames, step, margin=4):
    """Mean |frame k − frame k+1 moved back by the known per-frame ``step``| in the interior."""
    dy, dx = step
    height, width = frames.shape[1:3]
    earlier = frames[:-1, margin + dy: height - margin, margin + dx: width - margin]
    later = frames[1:, margin: height - margin - dy, margin: width - margin - dx]
    return float(np.mean(np.abs(earlier - later)))


@pytest.mark.parametrize("mode", ["fast", "balanced"])
def test_static_noise_falls_by_root_of_window(mode):
    window, count = 3, 10
    guides = np.repeat(texture(48, 48, 3, 21)[None], count, axis=0)
    clean = texture(48, 48, 3, 22)
    noisy = (clean + np.random.default_rng(23).normal(0, 0.05, (count, 48, 48, 3))).astype(np.float32)
    out = PatchBlender(guides, BlendSettings(mode=mode, window=window))(noisy)
    full = slice(window, count - window)  # frames whose whole window exists
    expected = math.sqrt(2 * window + 1)
    achieved = np.std(noisy[full] - clean) / np.std(out[full] - clean)
    assert expected / 1.2 <= achieved <= expected * 1.2


@pytest.mark.parametrize("mode, step, turn", [("fast", (1, 2), 0.0), ("balanced", (2, 1), 0.0), ("fast", (0, 0), 2.0)])
def test_moving_flicker_removed(mode, step, turn):
    guides, styled = moving_shot(12, 64, 3, seed=31, step=step, turn_degrees=turn)
    frames = flickered(styled, seed=32)
    out = PatchBlender(guides, BlendSettings(mode=mode, window=4))(frames)
    if turn:
        before, after = (_turning_error(f, turn) for f in (frames, out))
    else:
        before, after = temporal_error(frames, step), temporal_error(out, step)
    assert after <= 0.4 * before
    assert psnr(out, styled) > psnr(frames, styled) + 3


def _turning_error(frames, degrees):
    """Temporal error of a shot turning about its centre: frame k+1 turned back onto frame k."""
    size = frames.shape[1]
    # view() maps frame pixels to canvas points; reuse it with the later frame as the canvas
    back = np.stack([view(frame, size, -1, (0, 0), degrees) for frame in frames[1:]])
    rows, cols = np.mgrid[:size, :size] - (size - 1) / 2
    inside = np.hypot(rows, cols) < size / 2 - 6
    return float(np.mean(np.abs(frames[:-1] - back)[:, inside]))


def test_fast_and_balanced_agree():
    guides, styled = moving_shot(10, 48, 3, seed=41)
    frames = flickered(styled, seed=42)
    fast, balanced = (PatchBlender(guides, BlendSettings(mode=mode, window=4))(frames) for mode in ("fast", "balanced"))
    assert np.mean(np.abs(fast - balanced)) < 0.25 * np.mean(np.abs(frames - styled))


def test_confidence_weighting_keeps_occlusions_sharper():
    guides, styled = occluding_shot(12, 64, 3, seed=51)
    frames = flickered(styled, seed=52)
    uniform, confident = (PatchBlender(guides, BlendSettings(window=4, weighting=weighting))(frames)
                          for weighting in ("uniform", "confidence"))
    assert psnr(confident, styled) > psnr(uniform, styled) + 0.3


def test_second_call_estimates_no_nnf_and_progress_counts_up():
    guides, styled = moving_shot(8, 32, 3, seed=61)
    blender = PatchBlender(guides, BlendSettings(window=2))
    calls = []
    blender(flickered(styled, seed=62), lambda done, total: calls.append((done, total)))
    first = blender.estimations
    assert first == len(blender.pairs) > 0
    assert calls[-1][0] == calls[-1][1] == first + 8 and [d for d, _ in calls] == sorted(d for d, _ in calls)
    blender(flickered(styled, seed=63))
    assert blender.estimations == first


def test_cancel_from_progress_keeps_estimated_nnfs_and_resumes():
    guides, styled = moving_shot(6, 32, 3, seed=65)
    frames = flickered(styled, seed=66)
    expected = PatchBlender(guides, BlendSettings(window=2))(frames)

    class Cancelled(Exception):
        pass

    def cancel_at_five(done, total):
        if done == 5:
            raise Cancelled

    blender = PatchBlender(guides, BlendSettings(window=2))
    with pytest.raises(Cancelled):
        blender(frames, cancel_at_five)
    assert 0 < blender.estimations < len(blender.pairs)  # NNFs are estimated as the blend needs them
    assert np.array_equal(blender(frames), expected)
    assert blender.estimations == len(blender.pairs)


def test_nnf_count_grows_as_n_log_n():
    counts = {}
    for mode in ("fast", "balanced"):
        guides = np.random.default_rng(71).random((64, 8, 8, 1), dtype=np.float32)
        blender = PatchBlender(guides, BlendSettings(mode=mode, window=15, iterations=0))
        blender.prepare()
        counts[mode] = blender.estimations
    assert counts["balanced"] == sum(min(i, 15) + min(63 - i, 15) for i in range(64))
    assert counts["fast"] <= 64 * 2 * math.log2(16) * 2 and counts["fast"] < counts["balanced"] / 3


@pytest.mark.parametrize("count, window", [(40, 15), (23, 5), (9, 8)])
def test_fast_windows_cover_each_frame_once_in_aligned_blocks(count, window):
    for index, blocks in enumerate(frame_plan(count, window, "fast")):
        covered = sorted(frame for block in blocks for frame in block.frames)
        assert covered == [f for f in range(index - window, index + window + 1) if 0 <= f < count and f != index]
        for block in blocks:
            size = block.last - block.first + 1
            assert size & (size - 1) == 0 and block.first % size == 0
            assert block.anchor == (block.last if block.last < index else block.first)  # nearest to index
        assert len(blocks) <= 4 * math.log2(window + 1)


def test_aligned_runs_are_maximal():
    assert aligned_runs(3, 12) == [(3, 3), (4, 7), (8, 11), (12, 12)]
    assert window_blocks(0, 1, 5, "fast") == []


def test_spilled_nnfs_give_the_same_result_and_are_removed():
    guides, styled = moving_shot(6, 32, 3, seed=81)
    frames = flickered(styled, seed=82)
    kept = PatchBlender(guides, BlendSettings(window=2))(frames)
    spilling = PatchBlender(guides, BlendSettings(window=2, memory_limit_mb=0))
    assert np.array_equal(spilling(frames), kept)
    folder = spilling.fields._folder
    assert folder.is_dir() and any(folder.iterdir())
    del spilling
    assert not folder.exists()


def test_flow_nnfs_carry_frames_to_a_fraction_of_a_pixel_kept_or_spilled():
    """A pattern sliding 0.4 px a frame, with its exact flows: each frame carried to another lands
    where it belongs (read between pixels), so blending the frames gives each back; carried by
    whole pixels it would be off by up to half a pixel, an error of ~0.1 on this pattern."""
    count, size, speed = 7, 48, 0.4
    rows, cols = np.mgrid[:size, :size].astype(np.float32)
    frames = np.stack([0.5 + 0.4 * np.sin(0.35 * (cols + speed * frame) + 0.2 * rows)[..., None] * [1, 0.5, -0.5]
                       for frame in range(count)]).astype(np.float32)
    flows = np.zeros((count, size, size, 2), np.float32)
    flows[..., 1] = -speed  # a pixel of frame i shows what frame i+1 shows 0.4 px to its left
    inner = (slice(None), slice(4, -4), slice(6, -6))  # away from where a carried pixel left the picture
    for limit in (512.0, 0.0):
        blender = PatchBlender(frames, BlendSettings(window=3, memory_limit_mb=limit), flows)
        assert np.abs(blender(frames) - frames)[inner].max() < 0.01
        nnf, _ = blender.fields.get(0, 3)
        assert nnf.dtype == torch.float32 and blender.fields.estimations > 0
    whole = PatchBlender(frames, BlendSettings(window=3), flows)
    whole.fields.fractional = False  # the control: the same NNFs kept as whole pixels
    assert np.abs(whole(frames) - frames)[inner].max() > 0.05


def test_flows_start_the_search():
    step = (0, 6)
    guides, styled = moving_shot(6, 48, 3, seed=91, step=step)
    frames = flickered(styled, seed=92)
    flows = np.zeros((6, 48, 48, 2), np.float32)
    flows[..., 1] = -step[1]  # a pixel of frame i shows what frame i+1 shows 6 px to its left
    settings = BlendSettings(window=2, iterations=0)  # no search: the NNFs are the starting fields
    without, with_flows = PatchBlender(guides, settings)(frames), PatchBlender(guides, settings, flows=flows)(frames)
    assert temporal_error(with_flows, step) < 0.5 * temporal_error(without, step)


def test_torch_in_torch_out():
    guides, styled = moving_shot(5, 24, 3, seed=95)
    out = PatchBlender(torch.from_numpy(guides), BlendSettings(window=1))(torch.from_numpy(styled))
    assert isinstance(out, torch.Tensor) and out.shape == styled.shape and out.dtype == torch.float32


@pytest.mark.parametrize("change, message", [
    (dict(mode="slow"), "mode"), (dict(window=0), "window"), (dict(weighting="max"), "weighting"),
    (dict(patch_size=4), "patch_size"), (dict(confidence_scale=0), "confidence_scale"),
])
def test_bad_settings_are_named(change, message):
    with pytest.raises(ValueError, match=message):
        BlendSettings(**change)


def test_bad_sequences_are_named():
    guides = np.random.default_rng(5).random((4, 16, 16, 2), dtype=np.float32)
    blender = PatchBlender(guides, BlendSettings(window=1))
    with pytest.raises(ValueError, match="frames"):
        blender(np.zeros((3, 16, 16, 3), np.float32))
    with pytest.raises(ValueError, match="frames .*NaN"):
        blender(np.full((4, 16, 16, 3), np.nan, np.float32))
    with pytest.raises(ValueError, match="guides must be float32"):
        PatchBlender(guides.astype(np.float64))
    with pytest.raises(ValueError, match="flows must have shape"):
        PatchBlender(guides, flows=np.zeros((4, 16, 16, 3), np.float32))
    with pytest.raises(ValueError, match="smaller than one"):
        PatchBlender(guides[:, :3, :3])


def _occlusion_motion(count, size, step):
    """Flows (to next, to previous) and surface coordinates of ``occluding_shot``: the background
    still, the square moving by ``step``; every surface point has its own coordinate."""
    square, top = size // 3, size // 3
    rows, cols = np.mgrid[:size, :size].astype(np.float32) / size
    flows = np.zeros((count, size, size, 4), np.float32)
    surfaces = np.stack([rows, cols, np.zeros_like(rows)], axis=-1)[None].repeat(count, axis=0)
    for frame in range(count):
        left = size // 6 + frame * step[1]
        inside = (slice(top, top + square), slice(left, left + square))
        flows[frame][inside] = (*step, -step[0], -step[1])
        surfaces[frame][inside] = np.stack([rows[:square, :square], cols[:square, :square],
                                            np.ones((square, square), np.float32)], axis=-1)
    return flows, surfaces


@pytest.mark.parametrize("mode", ["fast", "balanced"])
def test_hidden_pixels_get_nothing_from_the_frames_that_hide_them(mode):
    count, size, step = 6, 48, (0, 3)
    guides, styled = occluding_shot(count, size, 3, seed=97, step=step)
    flows, surfaces = _occlusion_motion(count, size, step)
    settings = BlendSettings(mode=mode, window=3)
    seeing, blind = (PatchBlender(guides, settings, flows, known)(styled) for known in (surfaces, None))
    background = surfaces[..., 2] == 0  # even right beside the square: flow NNFs carry pixels, no vote
    assert np.abs(seeing - styled)[background].max() < 1e-4
    assert np.abs(blind - styled)[background].max() > 0.05  # without surfaces the square bleeds in


def test_flows_make_the_nnfs_without_a_search():
    guides, styled = moving_shot(6, 32, 3, seed=99, step=(0, 2))
    flows = np.zeros((6, 32, 32, 2), np.float32)
    flows[..., 1] = -2
    blender = PatchBlender(guides, BlendSettings(window=2), flows)
    blender.prepare()
    nnf, _ = blender.fields.get(0, 2)
    margin = blender.fields.margin
    rows, cols = np.mgrid[margin: 32 + margin, margin: 32 + margin]
    radius = blender.settings.patch_size // 2  # centres stay a patch radius inside the (margined) source
    expected = np.stack([rows, np.clip(cols - 4, radius, 32 + 2 * margin - 1 - radius)], axis=-1)  # 2 × −2 px
    assert np.array_equal(nnf[margin: 32 + margin, margin: 32 + margin].numpy(), expected)


@pytest.mark.parametrize("sigma", [0.02, 0.05, 0.1])
def test_the_standalone_path_never_lowers_psnr_of_a_static_textured_sequence_with_noise(sigma):
    """As ``engine deflicker`` blends: matching on the guides and the frames' own detail."""
    rng = np.random.default_rng()
    count, seed = 9, int(rng.integers(1000))
    guides = np.repeat(texture(48, 48, 3, seed)[None], count, axis=0)
    clean = texture(48, 48, 3, seed + 1)
    noisy = (clean + rng.normal(0, sigma, (count, 48, 48, 3))).astype(np.float32)
    out = PatchBlender(guides, BlendSettings(window=4), texture=frame_detail(noisy))(noisy)
    assert psnr(out, clean) > psnr(noisy, clean) + 3


def test_matching_the_frames_detail_keeps_their_texture_on_a_flat_guide():
    """A flat guide matches any patch equally well: on the guide alone the blend scrambles the
    moving texture; with the frames' detail in the search it removes the flicker and keeps it."""
    _, styled = moving_shot(9, 48, 3, seed=int(np.random.default_rng().integers(1000)), step=(1, 2))
    frames = flickered(styled, seed=5, blotches=1)
    flat = np.full(styled.shape, 0.5, np.float32)
    guide_only = PatchBlender(flat, BlendSettings(window=4))(frames)
    with_detail = PatchBlender(flat, BlendSettings(window=4), texture=frame_detail(frames))(frames)
    # (the gain ranges from 0.3 to 3.5 dB over textures: 25 seeds measured)
    assert psnr(guide_only, styled) < psnr(frames, styled) < psnr(with_detail, styled)


@pytest.mark.parametrize("flows", [False, True], ids=["searched", "flows"])
def test_streaming_frames_asked_for_once_gives_the_whole_shot_blend(flows):
    """``stream`` over frames made when asked (as the engine paints them), each asked for once,
    with NNFs let go after their last use, gives the very frames a call on the whole array does."""
    from diffsynth_render.shot.frames import Frames

    count, size, step = 10, 48, (0, 2)
    guides, styled = occluding_shot(count, size, 3, seed=131, step=step)
    frames = flickered(styled, seed=132)
    motion = _occlusion_motion(count, size, step) if flows else (None, None)
    settings = BlendSettings(window=4, keep_detail=True)
    whole = PatchBlender(guides, settings, *motion)(frames)
    asked = []

    def paint(index):
        asked.append(index)
        return frames[index]

    blender = PatchBlender(Frames(count, guides.shape[1:], guides.__getitem__), settings,
                           *(None if m is None else Frames(count, m.shape[1:], m.__getitem__) for m in motion),
                           keep_fields=False)
    streamed = dict(blender.stream(Frames(count, frames.shape[1:], paint)))
    assert sorted(asked) == list(range(count))  # each frame asked for once
    assert np.array_equal(np.stack([streamed[i].numpy() for i in range(count)]), whole)
    assert not blender.fields._loose  # every NNF let go
