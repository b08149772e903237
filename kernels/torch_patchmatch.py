"""PatchMatch on torch (CPU, CUDA, MPS): the portable path and the reference.

Comparing whole P×P×C patches costs P² gathers per candidate, far too slow on a CPU. So each
level first projects every patch onto its leading principal components (one convolution), and
the search compares those short descriptors; distances are Euclidean in that space. At the
finest level one exact pass on whole patches then re-ranks the matches locally (jumps 2 and 1,
random radii from 8 px). Every pass evaluates one candidate for all pixels at once into
preallocated buffers.

Per iteration (all backends): propagation from the NNF at the start of the iteration with jump
steps 4, 2, 1 in the four directions, then random search around the best match with a radius
halving from the image size down to 1 px (drawn uniformly inside the source); a candidate
is kept if it is better.
"""

import torch
import torch.nn.functional as F

from .pyramid import clamp_centres

JUMP_STEPS = (4, 2, 1)
DIRECTIONS = ((-1, 0), (1, 0), (0, -1), (0, 1))
MAX_COMPONENTS = 16
ENERGY_KEPT = 0.995
COVARIANCE_SAMPLES = 8192
EXACT_ITERATIONS = 1  # exact re-ranking passes at the finest level, after the descriptor search
POLISH_JUMP_STEPS = (2, 1)  # the exact re-ranking only moves matches locally: near jumps, small radii
POLISH_RADIUS = 8


def pca_basis(images, patch_size):
    """Leading principal directions of the P×P×C patches of ``images`` as conv weights (K, C, P, P)."""
    channels = images.shape[-1]
    nchw = images.permute(0, 3, 1, 2)
    positions = nchw.shape[0] * (nchw.shape[2] - patch_size + 1) * (nchw.shape[3] - patch_size + 1)
    stride = max(1, int((positions / COVARIANCE_SAMPLES) ** 0.5))
    patches = F.unfold(nchw, patch_size, stride=stride).transpose(1, 2).reshape(-1, channels * patch_size ** 2)
    patches = (patches - patches.mean(0)).double()
    eigenvalues, eigenvectors = torch.linalg.eigh(patches.T @ patches)
    eigenvalues, eigenvectors = eigenvalues.flip(0).clamp(min=0), eigenvectors.flip(1)
    energy = torch.cumsum(eigenvalues, 0) / eigenvalues.sum().clamp(min=1e-12)
    count = min(MAX_COMPONENTS, int((energy < ENERGY_KEPT).sum()) + 1, eigenvalues.numel())
    return eigenvectors[:, :count].T.float().reshape(count, channels, patch_size, patch_size).contiguous()


def descriptors(images, basis):
    """Every pixel's patch projected on ``basis``: (B·H·W, K), edge pixels by replicated borders."""
    radius = basis.shape[-1] // 2
    nchw = F.pad(images.permute(0, 3, 1, 2), (radius,) * 4, mode="replicate")
    projected = F.conv2d(nchw, basis)
    return projected.permute(0, 2, 3, 1).reshape(-1, basis.shape[0]).contiguous()


def patch_vectors(images, patch_size, mode):
    """Every pixel's whole P×P×C patch as a row: (B·H·W, P²·C), the border padded by ``mode``."""
    batch, height, width, channels = images.shape
    radius = patch_size // 2
    padded = F.pad(images.permute(0, 3, 1, 2), (radius,) * 4, mode=mode).permute(0, 2, 3, 1)
    rows = images.new_empty(batch, height, width, patch_size, patch_size, channels)
    for dy in range(patch_size):
        for dx in range(patch_size):
            rows[:, :, :, dy, dx] = padded[:, dy: dy + height, dx: dx + width]
    return rows.view(-1, patch_size * patch_size * channels)


def border_pixels(batch, height, width, patch_size, channels, device):
    """Flat indices of the pixels whose patch leaves the image, and a 0/1 row per pixel marking
    the patch entries (laid out as in ``patch_vectors``) that stay inside."""
    radius = patch_size // 2
    rows = torch.arange(height, device=device).view(-1, 1).expand(height, width).reshape(-1)
    cols = torch.arange(width, device=device).view(1, -1).expand(height, width).reshape(-1)
    near = (rows < radius) | (rows >= height - radius) | (cols < radius) | (cols >= width - radius)
    pixels = torch.nonzero(near).view(-1)
    offsets = torch.arange(-radius, radius + 1, device=device)
    patch_rows, patch_cols = rows[pixels, None] + offsets, cols[pixels, None] + offsets
    row_inside = (patch_rows >= 0) & (patch_rows < height)
    col_inside = (patch_cols >= 0) & (patch_cols < width)
    inside = (row_inside[:, :, None, None] & col_inside[:, None, :, None]).expand(-1, -1, -1, channels)
    inside = inside.reshape(1, len(pixels), -1).expand(batch, -1, -1).reshape(batch * len(pixels), -1)
    images = torch.arange(batch, device=device).view(-1, 1) * (height * width)
    return (images + pixels).view(-1), inside.float()


class _GatherMetric:
    """Distance between each target row and the source row of its candidate centre."""

    def __init__(self, source_rows, target_rows, shape):
        self.source_rows, self.target_rows = source_rows, target_rows
        self.batch, self.height, self.width = shape
        self._gathered = torch.empty_like(target_rows)
        self._base = (torch.arange(self.batch, device=target_rows.device) * (self.height * self.width)).view(-1, 1, 1)

    def distance(self, rows, cols):
        """Distance of candidate source centres (B, H, W) for every target pixel."""
        index = (self._base + rows * self.width + cols).view(-1)
        torch.index_select(self.source_rows, 0, index, out=self._gathered)
        self._mask_border(self._gathered)
        self._gathered.sub_(self.target_rows)
        return torch.linalg.vector_norm(self._gathered, dim=-1).view(rows.shape)

    def _mask_border(self, gathered):
        pass


class DescriptorMetric(_GatherMetric):
    """Patches compared through their leading principal components (fast, approximate)."""

    def __init__(self, source, target, patch_size):
        basis = pca_basis(torch.cat([source, target]), patch_size)
        super().__init__(descriptors(source, basis), descriptors(target, basis), target.shape[:3])


class ExactMetric(_GatherMetric):
    """Whole patches compared; target pixels near the border use only the part inside the image.

    Same ranking as ``patch_distance`` (which also divides by the patch area, a per-pixel constant).
    """

    def __init__(self, source, target, patch_size):
        super().__init__(patch_vectors(source, patch_size, "replicate"), patch_vectors(target, patch_size, "constant"),
                         target.shape[:3])
        self._border, self._border_inside = border_pixels(*target.shape[:3], patch_size, target.shape[-1],
                                                          target.device)

    def _mask_border(self, gathered):
        gathered[self._border] *= self._border_inside


class LevelSearch:
    """PatchMatch on one pyramid level for a batch of (source, target) pairs of equal size."""

    def __init__(self, metric, patch_size, generator, jump_steps=JUMP_STEPS, search_radius=None):
        self.metric = metric
        self.jump_steps = jump_steps
        self.batch, self.height, self.width = metric.batch, metric.height, metric.width
        self.radius = patch_size // 2
        self.generator = generator
        self.search_radius = search_radius or max(self.height, self.width)
        device = generator.device
        self._grid = (torch.arange(self.height, device=device).view(1, -1, 1),
                      torch.arange(self.width, device=device).view(1, 1, -1))

    def clamp(self, rows, cols):
        """Candidate centres moved inside the source so their patches stay in the image."""
        return (rows.clamp_(self.radius, self.height - 1 - self.radius),
                cols.clamp_(self.radius, self.width - 1 - self.radius))

    def run(self, nnf, iterations, extra_candidates=()):
        """Improve ``nnf`` (B, H, W, 2) int64 by ``iterations`` rounds; returns the new NNF."""
        nnf = clamp_centres(nnf, self.height, self.width, self.radius)
        rows, cols = nnf[..., 0].contiguous(), nnf[..., 1].contiguous()
        best = self.metric.distance(rows, cols).clone()
        for candidate in extra_candidates:
            self._consider(rows, cols, best, *self.clamp(candidate[..., 0].clone(), candidate[..., 1].clone()))
        for _ in range(iterations):
            start_rows, start_cols = rows.clone(), cols.clone()
            for step in self.jump_steps:
                for dy, dx in DIRECTIONS:
                    self._consider(rows, cols, best, *self._propagated(start_rows, start_cols, dy * step, dx * step))
            radius = self.search_radius
            while radius >= 1:
                self._consider(rows, cols, best, *self._random_around(rows, cols, radius))
                radius //= 2
        return torch.stack([rows, cols], dim=-1)

    def _consider(self, rows, cols, best, candidate_rows, candidate_cols):
        distance = self.metric.distance(candidate_rows, candidate_cols)
        better = distance < best
        torch.where(better, candidate_rows, rows, out=rows)
        torch.where(better, candidate_cols, cols, out=cols)
        torch.minimum(best, distance, out=best)

    def _propagated(self, rows, cols, dy, dx):
        """Neighbour p + d's match moved back by d: nnf(n) + p − n, n clamped into the image."""
        grid_rows, grid_cols = self._grid
        neighbour_rows = (grid_rows + dy).clamp(0, self.height - 1)
        neighbour_cols = (grid_cols + dx).clamp(0, self.width - 1)
        if dy:
            candidate_rows = rows[:, neighbour_rows[0, :, 0]] + (grid_rows - neighbour_rows)
            candidate_cols = cols[:, neighbour_rows[0, :, 0]]
        else:
            candidate_rows = rows[:, :, neighbour_cols[0, 0]]
            candidate_cols = cols[:, :, neighbour_cols[0, 0]] + (grid_cols - neighbour_cols)
        return self.clamp(candidate_rows, candidate_cols)

    def _random_around(self, rows, cols, radius):
        """A centre drawn uniformly from the window of ``radius`` around each match, inside the source."""
        uniform = torch.rand((2, *rows.shape), generator=self.generator, device=rows.device)
        return (_uniform_in_window(rows, radius, self.radius, self.height - 1 - self.radius, uniform[0]),
                _uniform_in_window(cols, radius, self.radius, self.width - 1 - self.radius, uniform[1]))


def _uniform_in_window(centre, radius, low, high, uniform):
    start = (centre - radius).clamp_(min=low)
    span = (centre + radius).clamp_(max=high) - start + 1
    return start + (uniform * span).long().clamp_(max=span - 1)
