"""PatchMatch kernels: against brute force, known motion, exact voting, bad input (torch path)."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from diffsynth_render.kernels import available_backends, estimate_nnf, patch_distance, remap
from diffsynth_render.testing.brute_force import brute_force_nnf
from diffsynth_render.testing.synthetic_images import texture, translated

RADIUS = 2  # patch_size 5, the default


def quality_ratio(source, target, nnf):
    """Mean patch distance of ``nnf`` over that of the exact nearest-neighbour field."""
    exact = brute_force_nnf(source, target)
    return float(patch_distance(source, target, nnf).mean() / patch_distance(source, target, exact).mean())


def identity(height, width):
    rows, cols = np.mgrid[:height, :width]
    return np.stack([rows, cols], -1).astype(np.int32)


@pytest.mark.parametrize("channels", [3, 7])
@pytest.mark.parametrize("seed", [11, 12, 13])
def test_within_5_percent_of_brute_force(seed, channels):
    source, target = texture(48, 48, channels, seed), texture(48, 48, channels, seed + 1000)
    assert quality_ratio(source, target, estimate_nnf(source, target, seed=seed)) <= 1.05


def test_brute_force_is_the_minimum():
    source, target = texture(20, 20, 3, 1), texture(20, 20, 3, 2)
    exact = brute_force_nnf(source, target)
    best = patch_distance(source, target, exact)
    rng = np.random.default_rng(0)
    for _ in range(20):  # no other interior centre beats it anywhere
        other = rng.integers(RADIUS, 20 - RADIUS, size=(20, 20, 2)).astype(np.int32)
        assert (patch_distance(source, target, other) >= best - 1e-6).all()


def interior_match_rate(nnf, expected, margin):
    height, width = nnf.shape[:2]
    inside = np.zeros((height, width), bool)
    inside[margin:height - margin, margin:width - margin] = True
    inside &= (expected[..., 0] >= RADIUS) & (expected[..., 0] < height - RADIUS)
    inside &= (expected[..., 1] >= RADIUS) & (expected[..., 1] < width - RADIUS)
    return float((np.abs(nnf - expected).max(-1)[inside] == 0).mean()), inside


@pytest.mark.parametrize("dy, dx", [(0, 0), (3, -5), (12, 12), (-12, 7), (0, -12)])
def test_recovers_translation(dy, dx):
    source = texture(96, 96, 3, 100 + dy * 31 + dx)
    target = translated(source, dy, dx)
    nnf = estimate_nnf(source, target, seed=1)
    expected = identity(96, 96) - np.array([dy, dx])
    rate, _ = interior_match_rate(nnf, expected, margin=RADIUS)
    assert rate >= 0.98


def rotated(image, degrees):
    """``image`` turned about its centre; also returns each pixel's true (sub-pixel) source position."""
    height, width = image.shape[:2]
    angle = np.radians(degrees)
    rows, cols = np.mgrid[:height, :width].astype(np.float64)
    cy, cx = (height - 1) / 2, (width - 1) / 2
    src_rows = cy + np.cos(angle) * (rows - cy) - np.sin(angle) * (cols - cx)
    src_cols = cx + np.sin(angle) * (rows - cy) + np.cos(angle) * (cols - cx)
    grid = torch.from_numpy(np.stack([src_cols / (width - 1) * 2 - 1, src_rows / (height - 1) * 2 - 1], -1)).float()
    sampled = F.grid_sample(torch.from_numpy(image).permute(2, 0, 1)[None], grid[None], align_corners=True)
    return sampled[0].permute(1, 2, 0).contiguous().numpy(), np.stack([src_rows, src_cols], -1)


@pytest.mark.parametrize("degrees", [3, -5])
def test_recovers_rotation(degrees):
    source = texture(96, 96, 3, 7)
    target, true_position = rotated(source, degrees)
    nnf = estimate_nnf(source, target, seed=2)
    # The true match is sub-pixel, so even exhaustive search lands on the rounded position only
    # ~88% of the time: require the exact NN field, and the true position within one pixel.
    exact = brute_force_nnf(source, target)
    agreement, inside = interior_match_rate(nnf, exact, margin=2 * RADIUS)
    within_one = float((np.abs(nnf - true_position).max(-1)[inside] < 1.0).mean())
    assert agreement >= 0.98 and within_one >= 0.98


def test_flow_and_nnf_init_are_used():
    source = texture(64, 64, 3, 5)
    target = translated(source, 4, -6)
    flow = np.broadcast_to(np.array([-4.0, 6.0], np.float32), (64, 64, 2)).copy()
    from_flow = estimate_nnf(source, target, init=flow, iterations=0, levels=1)
    expected = np.clip(identity(64, 64) + np.array([-4, 6]), RADIUS, 64 - 1 - RADIUS)
    assert np.array_equal(from_flow, expected)
    from_nnf = estimate_nnf(source, target, init=expected, iterations=0, levels=1)
    assert np.array_equal(from_nnf, expected)


def test_search_radius_keeps_a_refinement_local():
    source = texture(64, 64, 3, 6)
    target = translated(source, 9, 0)  # the true match lies 9 px from the (wrong) identity start
    start = identity(64, 64)
    near = estimate_nnf(source, target, init=start, iterations=1, levels=1, search_radius=2, backend="torch")
    free = estimate_nnf(source, target, init=start, iterations=3, levels=1, backend="torch")
    # two passes (descriptors, then exact), each moving a match by at most 2 + 1 px, and the border clamp
    assert np.abs(near - start).max() <= 2 * (2 + 1) + 2
    assert np.median(free[..., 0] - start[..., 0]) == -9  # unbounded, the search finds the shift


def test_remap_identity_is_exact_and_translation_moves_the_image():
    image = texture(40, 50, 4, 9)
    assert np.array_equal(remap(image, identity(40, 50)), image)
    dy, dx = 5, -3
    shift = np.clip(identity(40, 50) - np.array([dy, dx]), 0, [39, 49]).astype(np.int32)
    moved = remap(image, shift)
    expected = translated(image, dy, dx)
    margin = RADIUS + 6
    np.testing.assert_allclose(moved[margin:-margin, margin:-margin], expected[margin:-margin, margin:-margin],
                               atol=1e-6)


def test_remap_averages_overlapping_votes():
    image = texture(12, 12, 2, 4)
    nnf = np.random.default_rng(3).integers(0, 12, size=(12, 12, 2)).astype(np.int32)
    out = remap(image, nnf, patch_size=3)
    for q in [(0, 0), (5, 7), (11, 3)]:
        votes = [image[nnf[q[0] - dy, q[1] - dx][0] + dy, nnf[q[0] - dy, q[1] - dx][1] + dx]
                 for dy in (-1, 0, 1) for dx in (-1, 0, 1)
                 if 0 <= q[0] - dy < 12 and 0 <= q[1] - dx < 12
                 and 0 <= nnf[q[0] - dy, q[1] - dx][0] + dy < 12 and 0 <= nnf[q[0] - dy, q[1] - dx][1] + dx < 12]
        np.testing.assert_allclose(out[q], np.mean(votes, axis=0), atol=1e-6)


def test_patch_distance_definition():
    source, target = texture(10, 11, 3, 1), texture(10, 11, 3, 2)
    nnf = np.random.default_rng(1).integers(0, [10, 11], size=(10, 11, 2)).astype(np.int32)
    distance = patch_distance(source, target, nnf, patch_size=3)
    for p in [(0, 0), (4, 5), (9, 10), (0, 6)]:
        terms = [((target[p[0] + dy, p[1] + dx] - source[nnf[p][0] + dy, nnf[p][1] + dx]) ** 2).sum()
                 for dy in (-1, 0, 1) for dx in (-1, 0, 1)
                 if 0 <= p[0] + dy < 10 and 0 <= p[1] + dx < 11
                 and 0 <= nnf[p][0] + dy < 10 and 0 <= nnf[p][1] + dx < 11]
        assert distance[p] == pytest.approx(np.mean(terms), rel=1e-5)
    assert np.all(patch_distance(source, source, identity(10, 11), patch_size=3) == 0)


def test_deterministic_per_seed_and_seed_matters():
    source, target = texture(48, 48, 3, 21), texture(48, 48, 3, 22)
    first = estimate_nnf(source, target, seed=5)
    assert np.array_equal(first, estimate_nnf(source, target, seed=5))
    assert not np.array_equal(first, estimate_nnf(source, target, seed=6))


def test_torch_in_torch_out_and_batches():
    source = torch.from_numpy(np.stack([texture(32, 32, 3, s) for s in (1, 2)]))
    target = torch.from_numpy(np.stack([translated(s.numpy(), 2, 3) for s in source]))
    nnf = estimate_nnf(source, target, backend="torch", device="cpu")
    assert isinstance(nnf, torch.Tensor) and nnf.dtype == torch.int32 and nnf.shape == (2, 32, 32, 2)
    out = remap(source, nnf)
    assert isinstance(out, torch.Tensor) and out.shape == source.shape
    distance = patch_distance(source, target, nnf)
    assert isinstance(distance, torch.Tensor) and distance.shape == (2, 32, 32)
    found = (distance[:, 2 + RADIUS:, 3 + RADIUS:] < 1e-6).float().mean(dim=(1, 2))
    assert (found >= 0.98).all()  # both batch items found their translation


def test_available_backends_lists_torch_cpu():
    assert "cpu" in available_backends()["torch"]


@pytest.mark.parametrize("call, message", [
    (lambda s, t: estimate_nnf(s, t[..., :2]), "channels"),
    (lambda s, t: estimate_nnf(s, np.where(t > 0.5, np.nan, t).astype(np.float32)), "target_guide contains NaN"),
    (lambda s, t: estimate_nnf(s.astype(np.float64), t), "source_guide must be float32"),
    (lambda s, t: estimate_nnf(s[:4, :4], t[:4, :4]), "source_guide is 4x4, smaller than one 5x5 patch"),
    (lambda s, t: estimate_nnf(s, t, patch_size=4), "patch_size must be a positive odd integer"),
    (lambda s, t: estimate_nnf(s, t[:16]), "same shape"),
    (lambda s, t: estimate_nnf(s, t, iterations=-1), "iterations"),
    (lambda s, t: estimate_nnf(s, t, search_radius=0), "search_radius"),
    (lambda s, t: estimate_nnf(s, t, init=np.zeros((3, 3, 2), np.float32)), "init must have shape"),
    (lambda s, t: estimate_nnf(s, t, backend="opencl"), "backend must be one of"),
    (lambda s, t: estimate_nnf(s[0], t[0]), "source_guide must be (H, W, C)"),
    (lambda s, t: remap(s, np.full((20, 20, 2), 99, np.int32)), "nnf points outside"),
    (lambda s, t: remap(s, identity(20, 20).astype(np.float32)), "nnf must be an integer field"),
    (lambda s, t: patch_distance(s, t[..., :1], identity(20, 20)), "channels"),
    (lambda s, t: remap([[0.5]], identity(20, 20)), "source_image: expected a numpy array"),
])
def test_bad_input_names_the_argument(call, message):
    source, target = texture(20, 20, 3, 1), texture(20, 20, 3, 2)
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        call(source, target)


@pytest.mark.skipif("cuda" in available_backends(), reason="this machine has the CUDA backend")
def test_cuda_backend_without_gpu_is_a_clear_error_and_auto_falls_back():
    source, target = texture(20, 20, 3, 1), texture(20, 20, 3, 2)
    with pytest.raises(ValueError, match="needs CuPy and an NVIDIA GPU"):
        estimate_nnf(source, target, backend="cuda")
    assert estimate_nnf(source, target, backend="auto").shape == (20, 20, 2)
