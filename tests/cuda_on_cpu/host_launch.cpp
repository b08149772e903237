// Runs the CUDA kernels of kernels/cuda/patchmatch.cu on the CPU, one emulated thread at a
// time, so the tests can execute the kernel code on a machine without a GPU.
struct Dim3 { unsigned x, y, z; };
static Dim3 threadIdx, blockIdx, blockDim;
#define __global__
#define __device__
#define __forceinline__ inline
#include "patchmatch.cu"

template <typename Kernel>
static void run_grid(const unsigned grid[3], const unsigned block[3], Kernel kernel)
{
    blockDim = {block[0], block[1], block[2]};
    for (unsigned z = 0; z < grid[2]; ++z)
        for (unsigned by = 0; by < grid[1]; ++by)
            for (unsigned bx = 0; bx < grid[0]; ++bx)
                for (unsigned ty = 0; ty < block[1]; ++ty)
                    for (unsigned tx = 0; tx < block[0]; ++tx) {
                        blockIdx = {bx, by, z};
                        threadIdx = {tx, ty, 0};
                        kernel();
                    }
}

extern "C" void launch_patch_error(const unsigned* grid, const unsigned* block, const float* s, const float* t,
                                   const int* nnf, float* e, int h, int w, int sh, int sw, int c, int r, int n)
{
    run_grid(grid, block, [&] { patch_error(s, t, nnf, e, h, w, sh, sw, c, r, n); });
}

extern "C" void launch_patchmatch_iterate(const unsigned* grid, const unsigned* block, const float* s,
                                          const float* t, const int* nnf_in, const float* e_in, int* nnf_out,
                                          float* e_out, int h, int w, int c, int r, int sr,
                                          unsigned long long seed)
{
    run_grid(grid, block, [&] { patchmatch_iterate(s, t, nnf_in, e_in, nnf_out, e_out, h, w, c, r, sr, seed); });
}

extern "C" void launch_remap(const unsigned* grid, const unsigned* block, const float* s, const int* nnf, float* out,
                             int h, int w, int sh, int sw, int c, int r)
{
    run_grid(grid, block, [&] { remap(s, nnf, out, h, w, sh, sw, c, r); });
}
