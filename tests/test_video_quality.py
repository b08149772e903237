"""Flicker measured with exact motion, and detail: the numbers the demo reports."""

import numpy as np

from diffsynth_render.shot.guides import flow_from_vector
from diffsynth_render.shot.video_quality import consistent_motion, gradient_energy, warp_errors, warp_from_next
from diffsynth_render.testing.synthetic_passes import box_passes

SIZE = 64


def _box_shot(count, speed=2, seed=0):
    """A textured box sliding over a textured ground (the ground still, the box ``speed`` px a
    frame to the right): frames that move exactly as their flows say, and those flows."""
    rng = np.random.default_rng(seed)
    ground, texture = rng.random((SIZE, SIZE, 3)), rng.random((SIZE // 4, SIZE // 4, 3))
    frames, flows = [], []
    for frame in range(count):
        left = SIZE // 4 + speed * frame
        image = ground.copy()
        image[SIZE // 4:SIZE // 2, left:left + SIZE // 4] = texture
        frames.append(image)
        flows.append(flow_from_vector(box_passes(frame, SIZE, speed)["Vector"]))
    return np.stack(frames).astype(np.float32), np.stack(flows)


def test_frames_that_move_with_their_flow_have_no_warp_error():
    frames, flows = _box_shot(4)
    assert np.allclose(warp_errors(frames, flows), 0, atol=1e-10)


def test_flicker_shows_as_warp_error_and_occlusions_are_left_out():
    frames, flows = _box_shot(4)
    noisy = frames + np.random.default_rng(1).normal(0, 0.1, frames.shape).astype(np.float32)
    assert np.allclose(warp_errors(noisy, flows), 2 * 0.1 ** 2, rtol=0.1)  # two frames' noise
    mask = consistent_motion(flows[1], flows[2])
    box_right = SIZE // 4 + 2 * 1 + SIZE // 4
    # the ground just right of the box is covered in the next frame: its motion back does not match
    assert not mask[SIZE // 4 + 2, box_right:box_right + 2].any()
    assert mask[SIZE // 4 + 2, SIZE // 4 + 4] and mask[2, 2] and mask.mean() > 0.9


def test_warping_samples_between_pixels():
    image = np.arange(16, dtype=np.float32).reshape(4, 4, 1)
    shift = np.zeros((4, 4, 2), np.float32)
    shift[..., 1] = 0.5
    assert np.allclose(warp_from_next(image, shift)[1, :3, 0], [4.5, 5.5, 6.5])


def test_gradient_energy_counts_detail():
    frames, _ = _box_shot(2)
    flat = np.full_like(frames, 0.5)
    assert gradient_energy(flat) == 0 and gradient_energy(frames) > gradient_energy((frames + flat) / 2) > 0
