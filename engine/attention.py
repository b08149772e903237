"""Cross-frame attention: each frame's self-attention also looks at other frames of the shot.

In every self-attention layer of the UNet and the ControlNets, a frame's queries attend to the
keys and values of its *reference frames* — the shot's first frame and its neighbours within
``neighbours`` frames — instead of its own only (Text2Video-Zero's idea, used by DiffSynth), so
the frames share appearance. ``FrameLayout`` tells the layers, for the batch about to run, which
rows are whose references; the pipeline sets it before each model call.
"""

import torch
import torch.nn.functional as F
from diffusers.models.attention_processor import AttnProcessor2_0


class FrameLayout:
    """Which batch rows each row attends to: ``index`` (B, R) and ``valid`` (B, R) or None."""

    def __init__(self):
        self.index = self.valid = None

    def set(self, frames, neighbours, copies=1):
        """Lay out a batch of shot ``frames`` (the first frame of the shot must be among them),
        repeated ``copies`` times (2 under classifier-free guidance: negative, then positive)."""
        position = {frame: row for row, frame in enumerate(frames)}
        references = [sorted({position[0]} | {position[j] for j in range(f - neighbours, f + neighbours + 1)
                                              if j in position}) for f in frames]
        width = max(map(len, references))
        index = torch.zeros(len(frames), width, dtype=torch.long)
        valid = torch.zeros(len(frames), width, dtype=torch.bool)
        for row, refs in enumerate(references):
            index[row, :len(refs)], valid[row, :len(refs)] = torch.tensor(refs), True
        self.index = torch.cat([index + copy * len(frames) for copy in range(copies)])
        self.valid = None if bool(valid.all()) else valid.repeat(copies, 1)


class CrossFrameAttnProcessor:
    """Self-attention over the reference frames of ``layout``; SDPA like diffusers' default."""

    def __init__(self, layout):
        self.layout = layout

    def __call__(self, attn, hidden_states, encoder_hidden_states=None, attention_mask=None, temb=None, **kwargs):
        plain = attn.group_norm is None and attn.spatial_norm is None and attn.norm_q is None
        if not plain or encoder_hidden_states is not None or hidden_states.ndim != 3 or attention_mask is not None:
            raise ValueError("cross-frame attention replaces plain self-attention layers only")
        batch, length, _ = hidden_states.shape
        index = self.layout.index.to(hidden_states.device)
        refs = index.shape[1]
        heads = attn.heads
        query = attn.to_q(hidden_states)
        key, value = attn.to_k(hidden_states), attn.to_v(hidden_states)
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
