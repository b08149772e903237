"""Cross-frame attention: each frame's self-attention also looks at other frames of the shot.

In every self-attention layer of the UNet and the ControlNets, a frame's queries attend to the
keys and values of its *reference frames* — the shot's first frame and its neighbours within
``neighbours`` frames — instead of its own only (Text2Video-Zero's idea, used by DiffSynth), so
the frames share appearance. A chunk of a longer shot puts the shot's anchor frame first, as a
*detached* frame 0: every frame attends to it, and it attends to itself only, so it comes out
the same in every chunk and all chunks share its look. ``FrameLayout`` tells the layers, for the
batch about to run, which rows are whose references; the pipeline sets it before each model call.

Frames go through the models in batches, in order. A reference frame outside the batch is not
computed again: each layer keeps, for the current denoising step, the attention inputs of the
frames later batches will need (the first frame, and the last ``neighbours`` frames of each
batch), so frame 0 and the frames before a batch are exact. Frames after a batch are not
computed yet: the last frames of a batch see fewer neighbours ahead.
"""

import torch
import torch.nn.functional as F
from diffusers.models.attention_processor import AttnProcessor2_0


class FrameLayout:
    """For the batch about to run: its ``frames``, the stored ``cached`` frames it also reads,
    which frames to ``keep`` for later batches, and for each row ``index`` (B, R) into the pool
    of rows (the batch's, then the cached ones, per copy) with ``valid`` (B, R) or None."""

    def __init__(self, detached=False):
        self.detached = detached  # frame 0 attends to itself only (a chunk's anchor frame)
        self.index = self.valid = None
        self.frames, self.cached, self.keep, self.retain, self.copies = [], [], [], set(), 1
        self.step = 0  # layers drop what they stored when this changes

    def new_step(self):
        """Forget the stored attention inputs: a new denoising step (or a redone one) begins."""
        self.step += 1

    def set(self, frames, neighbours, copies=1, stored=()):
        """Lay out a batch of shot ``frames`` repeated ``copies`` times (2 under classifier-free
        guidance: negative, then positive); ``stored``: frames of earlier batches of this step."""
        wanted = {0} | {j for f in frames for j in range(f - neighbours, f + neighbours + 1)}
        self.frames, self.copies = list(frames), copies
        self.cached = sorted(j for j in wanted if j not in frames and j in stored)
        if 0 not in frames and 0 not in self.cached:
            raise ValueError("the first frame must be in the first batch of a step")
        pool = self.frames + self.cached
        position = {frame: row for row, frame in enumerate(pool)}
        references = [[position[0]] if self.detached and f == 0 else
                      sorted({position[0]} | {position[j] for j in range(f - neighbours, f + neighbours + 1)
                                              if j in position}) for f in frames]
        width = max(map(len, references))
        index = torch.zeros(len(frames), width, dtype=torch.long)
        valid = torch.zeros(len(frames), width, dtype=torch.bool)
        for row, refs in enumerate(references):
            index[row, :len(refs)], valid[row, :len(refs)] = torch.tensor(refs), True
        self.index = torch.cat([index + copy * len(pool) for copy in range(copies)])
        self.valid = None if bool(valid.all()) else valid.repeat(copies, 1)
        # What the layers store for later batches, and all they hold on to afterwards.
        self.keep = sorted({0} & set(frames) | set(frames[-neighbours:] if neighbours else []))
        self.retain = {0} | set(range(frames[-1] + 1 - neighbours, frames[-1] + 1))


class CrossFrameAttnProcessor:
    """Self-attention over the reference frames of ``layout``; SDPA like diffusers' default."""

    def __init__(self, layout):
        self.layout = layout
        self.stored, self.step = {}, None  # frame → its attention input (copies, L, C), this step

    def __call__(self, attn, hidden_states, encoder_hidden_states=None, attention_mask=None, temb=None, **kwargs):
        plain = attn.group_norm is None and attn.spatial_norm is None and attn.norm_q is None
        if not plain or encoder_hidden_states is not None or hidden_states.ndim != 3 or attention_mask is not None:
            raise ValueError("cross-frame attention replaces plain self-attention layers only")
        layout = self.layout
        if self.step != layout.step:
            self.stored, self.step = {}, layout.step
        batch, length, channels = hidden_states.shape
        per_copy = hidden_states.view(layout.copies, len(layout.frames), length, channels)
        pool = per_copy
        if layout.cached:
            pool = torch.cat([per_copy, torch.stack([self.stored[f] for f in layout.cached], dim=1)], dim=1)
        for frame in layout.keep:  # a copy: a view would keep the whole batch's input alive
            self.stored[frame] = per_copy[:, layout.frames.index(frame)].clone()
        self.stored = {frame: kept for frame, kept in self.stored.items() if frame in layout.retain}
        pool = pool.reshape(-1, length, channels)
        index = layout.index.to(hidden_states.device)
        refs = index.shape[1]
        heads = attn.heads
        query = attn.to_q(hidden_states)
        key, value = attn.to_k(pool), attn.to_v(pool)
        head_dim = query.shape[-1] // heads
        query = query.view(batch, length, heads, head_dim).transpose(1, 2)
        key, value = (t[index].reshape(batch, refs * length, heads, head_dim).transpose(1, 2) for t in (key, value))
        mask = None
        if self.layout.valid is not None:
            valid = self.layout.valid.to(hidden_states.device)
            mask = valid[:, :, None].expand(batch, refs, length).reshape(batch, 1, 1, refs * length)
        out = F.scaled_dot_product_attention(query, key, value, attn_mask=mask)
        out = out.transpose(1, 2).reshape(batch, length, heads * head_dim).to(query.dtype)
        out = attn.to_out[1](attn.to_out[0](out))
        if attn.residual_connection:
            out = out + hidden_states
        return out / attn.rescale_output_factor


def install(models, layout):
    """Cross-frame attention in every self-attention layer (``attn1``) of ``models``; the other
    layers get diffusers' SDPA processor."""
    for model in models:
        processors = {name: CrossFrameAttnProcessor(layout) if name.endswith("attn1.processor") else AttnProcessor2_0()
                      for name in model.attn_processors}
        model.set_attn_processor(processors)


def uninstall(models):
    """diffusers' SDPA processor everywhere again."""
    for model in models:
        model.set_attn_processor(AttnProcessor2_0())
