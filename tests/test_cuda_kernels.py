"""The CUDA kernels: compiled by nvcc, executed on the CPU against the torch reference, and run
through CuPy on an NVIDIA GPU when this machine has one."""

import shutil
import subprocess

import kernels_on_cpu
import numpy as np
import pytest
import torch

from diffsynth_render.kernels import (
    available_backends,
    cuda_patchmatch,
    estimate_nnf,
    patch_distance,
    remap,
    torch_voting,
)
from diffsynth_render.kernels.patchmatch import coarse_to_fine
from diffsynth_render.kernels.pyramid import default_levels
from diffsynth_render.testing.brute_force import brute_force_nnf
from diffsynth_render.testing.synthetic_images import texture, translated

HAS_GPU_KERNELS = "cuda" in available_backends()


@pytest.mark.skipif(shutil.which("nvcc") is None, reason="nvcc is not installed")
def test_kernels_compile_with_nvcc(tmp_path):
    ptx = tmp_path / "patchmatch.ptx"
    result = subprocess.run(["nvcc", "--ptx", "-arch=sm_80", str(cuda_patchmatch.KERNEL_SOURCE), "-o", str(ptx)],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    entries = {line.split()[-1].rstrip("(") for line in ptx.read_text().splitlines() if ".entry" in line}
    assert entries == set(cuda_patchmatch.SIGNATURES)


@pytest.fixture(scope="module")
def cpu_runner(tmp_path_factory):
    library = kernels_on_cpu.build(tmp_path_factory.mktemp("kernels"))
    if library is None:
        pytest.skip("no C++ compiler to build the kernels for the CPU")
    return kernels_on_cpu.CpuRunner(library)


def torch_pair(height, width, channels, seed):
    return (torch.from_numpy(texture(height, width, channels, seed))[None],
            torch.from_numpy(texture(height, width, channels, seed + 500))[None])


def kernel_nnf(source, target, runner, seed=0, iterations=5):
    search = cuda_patchmatch.CudaLevelSearch(5, seed, runner=runner)
    levels = default_levels(*target.shape[1:3], 5)
    return coarse_to_fine(source, target, 5, iterations, levels, None, search).int()


def test_remap_kernel_matches_torch(cpu_runner):
    source = torch.from_numpy(texture(23, 31, 5, 3))[None]
    nnf = torch.from_numpy(np.random.default_rng(4).integers(0, [23, 31], size=(1, 19, 27, 2))).int()
    expected = torch_voting.remap(source, nnf.long(), 5)
    np.testing.assert_allclose(cuda_patchmatch.remap(source, nnf, 5, runner=cpu_runner), expected, atol=1e-5)


def test_patch_distance_kernel_matches_torch(cpu_runner):
    source, target = torch_pair(23, 31, 4, 6)
    nnf = torch.from_numpy(np.random.default_rng(5).integers(0, [23, 31], size=(1, 23, 31, 2))).int()
    expected = torch_voting.patch_distance(source, target, nnf.long(), 5)
    got = cuda_patchmatch.patch_distance(source, target, nnf, 5, runner=cpu_runner)
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("seed", [31, 32])
def test_kernel_nnf_within_2_percent_of_torch_and_5_of_brute_force(cpu_runner, seed):
    source, target = torch_pair(48, 48, 3, seed)
    by_kernel = kernel_nnf(source, target, cpu_runner, seed=seed)
    by_torch = estimate_nnf(source, target, seed=seed, backend="torch")
    exact = brute_force_nnf(source, target)
    kernel_distance = float(patch_distance(source, target, by_kernel).mean())
    assert kernel_distance <= 1.02 * float(patch_distance(source, target, by_torch).mean())
    assert kernel_distance <= 1.05 * float(patch_distance(source, target, exact).mean())
    assert by_kernel.min() >= 2 and by_kernel.max() <= 45  # patches stay inside the source


def test_kernel_nnf_recovers_translation_and_is_deterministic(cpu_runner):
    source = torch.from_numpy(texture(64, 64, 3, 8))[None]
    target = torch.from_numpy(translated(source[0].numpy(), -7, 10))[None]
    nnf = kernel_nnf(source, target, cpu_runner, seed=3)
    rows, cols = np.mgrid[:64, :64]
    expected = np.stack([rows + 7, cols - 10], -1)
    inside = (expected[..., 0] <= 61) & (expected[..., 1] >= 2) & (rows >= 2) & (cols <= 61)
    assert (np.abs(nnf[0].numpy() - expected).max(-1)[inside] == 0).mean() >= 0.98
    assert torch.equal(nnf, kernel_nnf(source, target, cpu_runner, seed=3))


def test_one_fused_launch_per_iteration(cpu_runner):
    source, target = torch_pair(48, 48, 3, 9)
    before = cpu_runner.launches
    kernel_nnf(source, target, cpu_runner, iterations=4)
    levels = default_levels(48, 48, 5)
    assert cpu_runner.launches - before == levels * (4 + 1)  # 4 iterations + the starting error per level


gpu = pytest.mark.skipif(not HAS_GPU_KERNELS, reason="needs CuPy and an NVIDIA GPU")


@gpu
def test_gpu_nnf_quality_matches_torch():
    source, target = torch_pair(256, 256, 7, 40)
    source, target = source.cuda(), target.cuda()
    by_cuda = estimate_nnf(source, target, backend="cuda")
    by_torch = estimate_nnf(source, target, backend="torch")
    assert by_cuda.device.type == "cuda" and by_cuda.dtype == torch.int32
    cuda_distance = float(patch_distance(source, target, by_cuda).mean())
    assert cuda_distance <= 1.02 * float(patch_distance(source, target, by_torch).mean())


@gpu
def test_gpu_remap_and_distance_agree_with_torch():
    source, target = torch_pair(128, 96, 3, 41)
    nnf = torch.from_numpy(np.random.default_rng(6).integers(0, [128, 96], size=(1, 128, 96, 2))).int()
    gpu_out = remap(source.cuda(), nnf.cuda())
    assert gpu_out.device.type == "cuda"
    np.testing.assert_allclose(gpu_out.cpu(), torch_voting.remap(source, nnf.long(), 5), atol=1e-5)
    np.testing.assert_allclose(patch_distance(source.cuda(), target.cuda(), nnf.cuda()).cpu(),
                               torch_voting.patch_distance(source, target, nnf.long(), 5), rtol=1e-5, atol=1e-7)


@gpu
def test_gpu_keeps_cupy_arrays_on_the_device():
    import cupy

    source, target = (cupy.asarray(texture(64, 64, 3, seed)) for seed in (1, 2))
    nnf = estimate_nnf(source, target)
    assert isinstance(nnf, cupy.ndarray) and nnf.dtype == cupy.int32
    assert isinstance(remap(source, nnf), cupy.ndarray)
