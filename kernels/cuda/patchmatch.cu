// PatchMatch kernels of DiffSynth Render, loaded by kernels/cuda_patchmatch.py with cupy.RawModule.
//
// Layout: images (B, H, W, C) float32, NNFs (B, H, W, 2) int32 (row, col of the source patch
// centre), errors (B, H, W) float32, all contiguous. One thread per target pixel; threadIdx.x
// runs along columns so neighbouring threads touch neighbouring pixels; blockIdx.z is the batch.
// Plain C++ inside the kernels (no intrinsics, no shared memory): the tests also compile this
// file for the CPU and run it against the torch reference.

#define FLOAT_MAX 3.402823466e+38f

__device__ __forceinline__ int clamp_int(int value, int low, int high)
{
    return value < low ? low : (value > high ? high : value);
}

// splitmix64's finaliser: consecutive keys give independent-looking 32-bit values.
__device__ __forceinline__ float uniform01(unsigned long long key)
{
    key += 0x9E3779B97F4A7C15ull;
    key = (key ^ (key >> 30)) * 0xBF58476D1CE4E5B9ull;
    key = (key ^ (key >> 27)) * 0x94D049BB133111EBull;
    key ^= key >> 31;
    return (float)(unsigned int)(key >> 40) * (1.0f / 16777216.0f);  // 24 bits: [0, 1)
}

// A position drawn uniformly from [centre - radius, centre + radius] ∩ [low, high].
__device__ __forceinline__ int uniform_in_window(int centre, int radius, int low, int high, float u)
{
    int start = centre - radius < low ? low : centre - radius;
    int end = centre + radius > high ? high : centre + radius;
    int span = end - start + 1;
    int pick = (int)(u * span);
    return start + (pick < span ? pick : span - 1);
}

// SSD between the target patch around (ty, tx) and the source patch around (sy, sx), over the
// offsets where both pixels lie inside their images (no padding). Stops early, after a patch
// row, once the sum reaches `limit`. `count` (optional) receives the number of offsets used.
__device__ float patch_ssd(const float* source, const float* target, int height, int width,
                           int source_height, int source_width, int channels, int radius,
                           int ty, int tx, int sy, int sx, float limit, int* count)
{
    float sum = 0.0f;
    int used = 0;
    for (int dy = -radius; dy <= radius; ++dy) {
        int trow = ty + dy, srow = sy + dy;
        if (trow < 0 || trow >= height || srow < 0 || srow >= source_height) continue;
        for (int dx = -radius; dx <= radius; ++dx) {
            int tcol = tx + dx, scol = sx + dx;
            if (tcol < 0 || tcol >= width || scol < 0 || scol >= source_width) continue;
            const float* a = target + ((long long)trow * width + tcol) * channels;
            const float* b = source + ((long long)srow * source_width + scol) * channels;
            for (int c = 0; c < channels; ++c) {
                float d = a[c] - b[c];
                sum += d * d;
            }
            ++used;
        }
        if (sum >= limit) break;
    }
    if (count) *count = used;
    return sum;
}

extern "C" {

// Per target pixel: the patch SSD against its NNF match (divided by the offsets used when
// `normalize` is set, which is the public patch_distance).
__global__ void patch_error(const float* source, const float* target, const int* nnf, float* error,
                            int height, int width, int source_height, int source_width,
                            int channels, int radius, int normalize)
{
    int x = blockIdx.x * blockDim.x + threadIdx.x;
    int y = blockIdx.y * blockDim.y + threadIdx.y;
    if (x >= width || y >= height) return;
    long long pixels = (long long)height * width, p = (long long)y * width + x;
    long long image = (long long)blockIdx.z * pixels;
    const int* match = nnf + 2 * (image + p);
    int used = 0;
    float sum = patch_ssd(source + (long long)blockIdx.z * source_height * source_width * channels,
                          target + image * channels, height, width, source_height, source_width,
                          channels, radius, y, x, match[0], match[1], FLOAT_MAX, &used);
    error[image + p] = normalize ? sum / (float)used : sum;
}

// One PatchMatch iteration, fused: propagation from nnf_in (jumps 4, 2, 1 in four directions),
// then random search around the best match with a radius halving from search_radius to 1.
// Matched centres stay `radius` inside the source. Reads (nnf_in, error_in), writes the outs.
__global__ void patchmatch_iterate(const float* source, const float* target,
                                   const int* nnf_in, const float* error_in,
                                   int* nnf_out, float* error_out,
                                   int height, int width, int channels, int radius, int search_radius,
                                   unsigned long long seed)
{
    int x = blockIdx.x * blockDim.x + threadIdx.x;
    int y = blockIdx.y * blockDim.y + threadIdx.y;
    if (x >= width || y >= height) return;
    long long pixels = (long long)height * width, p = (long long)y * width + x;
    long long image = (long long)blockIdx.z * pixels;
    const float* src = source + image * channels;
    const float* tgt = target + image * channels;
    const int* start = nnf_in + 2 * image;
    const int low_y = radius, high_y = height - 1 - radius, low_x = radius, high_x = width - 1 - radius;

    int best_y = start[2 * p], best_x = start[2 * p + 1];
    float best = error_in[image + p];
    const int jumps[3] = {4, 2, 1};
    const int dir_y[4] = {-1, 1, 0, 0}, dir_x[4] = {0, 0, -1, 1};
    for (int j = 0; j < 3; ++j) {
        for (int d = 0; d < 4; ++d) {
            int ny = clamp_int(y + dir_y[d] * jumps[j], 0, height - 1);
            int nx = clamp_int(x + dir_x[d] * jumps[j], 0, width - 1);
            long long q = (long long)ny * width + nx;
            int cy = clamp_int(start[2 * q] + y - ny, low_y, high_y);
            int cx = clamp_int(start[2 * q + 1] + x - nx, low_x, high_x);
            if (cy == best_y && cx == best_x) continue;
            float e = patch_ssd(src, tgt, height, width, height, width, channels, radius, y, x, cy, cx, best, 0);
            if (e < best) { best = e; best_y = cy; best_x = cx; }
        }
    }
    unsigned long long key = seed + (unsigned long long)(image + p) * 128ull;
    for (int r = search_radius; r >= 1; r /= 2, key += 2) {
        int cy = uniform_in_window(best_y, r, low_y, high_y, uniform01(key));
        int cx = uniform_in_window(best_x, r, low_x, high_x, uniform01(key + 1));
        if (cy == best_y && cx == best_x) continue;
        float e = patch_ssd(src, tgt, height, width, height, width, channels, radius, y, x, cy, cx, best, 0);
        if (e < best) { best = e; best_y = cy; best_x = cx; }
    }
    nnf_out[2 * (image + p)] = best_y;
    nnf_out[2 * (image + p) + 1] = best_x;
    error_out[image + p] = best;
}

// Patch voting: target pixel q averages source[nnf(q - o) + o] over the offsets o whose patch
// centre q - o is in the target and whose source pixel is in the source (double accumulation).
__global__ void remap(const float* source, const int* nnf, float* out,
                      int height, int width, int source_height, int source_width,
                      int channels, int radius)
{
    int x = blockIdx.x * blockDim.x + threadIdx.x;
    int y = blockIdx.y * blockDim.y + threadIdx.y;
    if (x >= width || y >= height) return;
    long long pixels = (long long)height * width;
    const int* field = nnf + 2 * (long long)blockIdx.z * pixels;
    const float* src = source + (long long)blockIdx.z * source_height * source_width * channels;
    float* dst = out + ((long long)blockIdx.z * pixels + (long long)y * width + x) * channels;
    for (int c = 0; c < channels; ++c) {
        double sum = 0.0;
        int used = 0;
        for (int dy = -radius; dy <= radius; ++dy) {
            int py = y - dy;
            if (py < 0 || py >= height) continue;
            for (int dx = -radius; dx <= radius; ++dx) {
                int px = x - dx;
                if (px < 0 || px >= width) continue;
                const int* match = field + 2 * ((long long)py * width + px);
                int sy = match[0] + dy, sx = match[1] + dx;
                if (sy < 0 || sy >= source_height || sx < 0 || sx >= source_width) continue;
                sum += src[((long long)sy * source_width + sx) * channels + c];
                ++used;
            }
        }
        dst[c] = (float)(sum / used);
    }
}

}  // extern "C"
