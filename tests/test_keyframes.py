"""Keyframe mode and detail keeping: keyframes carried to the frames between (with the exact
motion and by PatchMatch on the guides), the detail band kept through a blend, and style jobs
that paint only their keyframes."""

import json

import numpy as np
import pytest
import torch
from conftest import run_engine
from test_style_painter import _frames, _write, style_job  # noqa: F401 (a fixture)

from diffsynth_render import contract
from diffsynth_render.engine.deflicker import BlendSettings, PatchBlender
from diffsynth_render.engine.deflicker.detail import BANDS, bands, detail_energy, restore_detail
from diffsynth_render.engine.deflicker.keyframes import KeyframeCarrier
from diffsynth_render.engine.deflicker.motion import chained_flow, keyframe_flows
from diffsynth_render.shot.video_quality import gradient_energy
from diffsynth_render.testing.synthetic_images import texture
from diffsynth_render.testing.synthetic_sequences import moving_shot

STEP = (1, 2)  # pixels a frame the moving shot's content moves by (rows, cols), against the camera


def _psnr(a, b):
    return 10 * np.log10(1 / float(((a - b) ** 2).mean()))


def _moving(count=9, size=48):
    guides, styled = moving_shot(count, size, 3, seed=int(np.random.default_rng().integers(1000)), step=STEP)
    flows = np.zeros((count, size, size, 4), np.float32)
    flows[..., 0:2], flows[..., 2:4] = np.negative(STEP), STEP  # content moves against the camera
    return guides, styled, flows


@pytest.mark.parametrize("with_flows", [True, False], ids=["exact motion", "PatchMatch on the guides"])
def test_keyframes_come_out_unchanged_and_the_frames_between_follow_the_motion(with_flows):
    guides, styled, flows = _moving()
    keys = [0, 4, 8]
    carrier = KeyframeCarrier(guides, keys, BlendSettings(), flows if with_flows else None)
    out = carrier(styled[keys])
    assert out.shape == styled.shape and np.array_equal(out[keys], styled[keys])
    between = [1, 2, 3, 5, 6, 7]
    inner = (slice(None), slice(6, -6), slice(6, -6))  # away from content entering the picture
    carried, held = _psnr(out[between][inner], styled[between][inner]), \
        _psnr(styled[[0, 0, 4, 4, 8, 8]][inner], styled[between][inner])  # the nearest keyframe held still
    assert carried > (60 if with_flows else 35) and carried > held + 8, (carried, held)


def test_pixels_hidden_from_the_neighbouring_keyframes_still_get_their_paint():
    guides, styled, flows = _moving(count=7)
    surfaces = np.zeros((7, 48, 48, 3), np.float32)
    surfaces[:, 20:28, 20:28] = 1  # what frames 2 and 4 show there is another surface than frame 3 sees
    surfaces[3] = 0
    surfaces[[2, 4], 20:28, 18:30] = 1
    carrier = KeyframeCarrier(guides, [0, 2, 4, 6], BlendSettings(), flows, surfaces)
    out = carrier(styled[[0, 2, 4, 6]])
    patch = (3, slice(21, 27), slice(21, 27))
    assert np.isfinite(out).all() and np.abs(out[patch] - styled[patch]).max() < 0.05


def test_keyframe_flows_chain_the_motion_between_keyframes():
    flows = torch.from_numpy(np.random.default_rng().normal(0, 0.4, (7, 16, 16, 4)).astype(np.float32))
    sub = keyframe_flows(flows, [1, 4, 6])
    assert torch.equal(sub[0][..., 0:2], chained_flow(flows, 1, 4)) and torch.equal(sub[1][..., 2:4],
                                                                                      chained_flow(flows, 4, 1))
    assert torch.equal(sub[2][..., 2:4], chained_flow(flows, 6, 4)) and not sub[2][..., 0:2].any()


def test_bad_keyframes_are_refused():
    guides = np.zeros((4, 16, 16, 3), np.float32)
    with pytest.raises(ValueError, match="keyframes: 4 is not a frame of this 4-frame shot"):
        KeyframeCarrier(guides, [0, 4])
    with pytest.raises(ValueError, match="must be 2 frames of the guides' size 16x16"):
        KeyframeCarrier(guides, [0, 3])(np.zeros((3, 16, 16, 3), np.float32))


def test_kept_detail_survives_averaging_strokes_painted_independently():
    """Each frame: one picture plus its own stroke pattern. Averaging thins the strokes out; the
    kept detail brings their energy back, while the picture they share is not changed."""
    count, size, rng = 9, 64, np.random.default_rng()
    picture = texture(size, size, 3, seed=int(rng.integers(1000))) * 0.5
    frames = np.stack([picture + 0.1 * rng.normal(0, 1, (size, size, 3)) for _ in range(count)]).astype(np.float32)
    guides = np.repeat(picture[None], count, axis=0)
    plain = PatchBlender(guides, BlendSettings(window=4))(frames)
    kept = PatchBlender(guides, BlendSettings(window=4, keep_detail=True))(frames)
    assert gradient_energy(plain) < 0.5 * gradient_energy(frames) < 0.5 * gradient_energy(kept) / 0.8
    same = torch.from_numpy(frames[0])
    assert torch.allclose(restore_detail(same, detail_energy(same)), same, atol=1e-4)  # nothing lost, nothing added


def test_kept_detail_brings_each_band_back():
    """A frame's detail bands thinned as averaging thins them, the finest most: each comes back
    near the frame's own energy (the bands overlap, so a gain also lifts its neighbours a little)."""
    rng = np.random.default_rng()
    frame = torch.from_numpy((texture(64, 64, 3, seed=int(rng.integers(1000))) * 0.5
                              + 0.1 * rng.normal(0, 1, (64, 64, 3))).astype(np.float32))
    parts = bands(frame)
    thinned = frame + sum(part * (scale - 1) for part, scale in zip(parts, (0.2, 0.5, 0.8)))
    restored = restore_detail(thinned, detail_energy(frame))
    inner = (slice(12, -12), slice(12, -12))
    ratios = [float((after ** 2)[inner].mean() / (before ** 2)[inner].mean())
              for before, after in zip(parts, bands(restored))]
    thinned_ratios = [float((after ** 2)[inner].mean() / (before ** 2)[inner].mean())
                      for before, after in zip(parts, bands(thinned))]
    assert len(ratios) == len(BANDS) and thinned_ratios[0] < 0.1
    assert all(0.8 <= ratio <= 1.6 for ratio in ratios), ratios


def test_a_style_job_paints_only_its_keyframes_and_carries_them(style_job, tmp_path):  # noqa: F811
    path, raw = style_job
    status, events = run_engine(_write(path, {**raw, "output": "all", "smoothing": {"final": False}}))
    assert status == 0, events[-1]
    status, events = run_engine(_write(path, {**raw, "keyframes": {"every": 2}, "smoothing": {"final": False}}))
    assert status == 0, events[-1]
    painted = [e for e in events if e.get("stage") == "paint"]
    assert painted[-1]["frames"] == 3  # frames 0, 2 and the last, 3
    assert any(e.get("stage") == "carry" for e in events)
    every, keyed = _frames(tmp_path / "all"), _frames(tmp_path / "out")
    assert keyed.shape == every.shape and np.abs(keyed[[0, 2, 3]] - every[[0, 2, 3]]).max() <= 1 / 255
    assert np.abs(keyed[1] - every[1]).mean() > 0.01  # carried, not painted
    result = json.loads((tmp_path / "out" / contract.RESULT_FILE).read_text())
    assert "carry" in result["timings_s"]


def test_streamed_carry_keeps_a_few_keyframes_and_matches_the_whole_call():
    """Keyframes asked for as the frames between need them (as the engine reads them back from
    disk), NNFs let go after use: the same frames as a call on the whole array, holes filled."""
    from diffsynth_render.shot.frames import Frames

    guides, styled, flows = _moving(count=13)
    surfaces = np.zeros((13, 48, 48, 3), np.float32)
    surfaces[:, 20:28, 20:28] = 1
    surfaces[6] = 0  # frame 6 sees a surface its neighbouring keyframes hide: filled from further ones
    keys = [0, 4, 8, 12]
    settings = BlendSettings(keep_detail=True)
    whole = KeyframeCarrier(guides, keys, settings, flows, surfaces)(styled[keys])
    asked = []

    def keyframe(index):
        asked.append(index)
        return styled[keys[index]]

    carrier = KeyframeCarrier(guides, keys, settings, flows, surfaces, keep_fields=False)
    streamed = carrier.stream(Frames(len(keys), styled.shape[1:], keyframe))
    assert np.array_equal(np.stack([np.asarray(frame) for _, frame in streamed]), whole)
    assert len(asked) <= 2 * len(keys) and not carrier.fields._loose  # the nearest kept; NNFs let go
