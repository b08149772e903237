"""The embedded tiny model: an SD1.5-shaped pipeline with small widths and seeded weights.

It needs no download and builds in a fraction of a second, so the whole path runs and is tested
anywhere on a CPU. Its pictures mean nothing; its shapes are those of SD1.5: a CLIP text encoder
and tokenizer (77 tokens), a UNet with cross-attention, an AutoencoderKL that downsamples ×8 into
4 latent channels, a DDIM scheduler with SD1.5's noise schedule, and ControlNets whose output
convolutions are *not* zero (trained ones are not either), so control images change the result.

A UNet with random weights predicts noise unrelated to its input, so DDIM would blow the latents
up and every frame would come out alike. The tiny UNet is therefore wired to pass its input
through to its noise prediction (a crude denoiser: ε ≈ x_t, normalised), with the random layers
— and the ControlNets, whose first residual joins that path — adding structure on top.
"""

import torch
from diffusers import AutoencoderKL, ControlNetModel, DDIMScheduler, UNet2DConditionModel
from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

from .components import Components
from .sd15_configs import SCHEDULER

SEED = 20230807  # the DiffSynth paper's arXiv month; any fixed number would do
CONTROLNET_NAMES = ("depth", "softedge")
TEXT_WIDTH = 32
BLOCKS = ("CrossAttnDownBlock2D", "DownBlock2D"), ("UpBlock2D", "CrossAttnUpBlock2D")
WIDTHS = (32, 64)
GROUPS = 8
CONTROL_STD = 0.2  # spread of the ControlNets' output convolutions


def tiny_tokenizer():
    """A byte-level CLIP tokenizer whose vocabulary (one token per byte, as word piece and word
    end) and merges (none) are generated here; prompts pad or cut to 77 tokens like CLIP's."""
    symbols = list(_byte_symbols())
    vocab = {symbol: index for index, symbol in enumerate(symbols + [s + "</w>" for s in symbols])}
    vocab["<|startoftext|>"] = len(vocab)
    vocab["<|endoftext|>"] = len(vocab)
    return CLIPTokenizer(vocab=vocab, merges=[], model_max_length=77)


def _byte_symbols():
    # Printable characters stand for themselves; the other bytes get unused code points (as in
    # byte-level BPE), so any UTF-8 prompt can be spelled.
    printable = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    spare = iter(range(256, 512))
    return [chr(byte) if byte in printable else chr(next(spare)) for byte in range(256)]


def build_tiny(seed=SEED, controlnets=CONTROLNET_NAMES):
    """``Components`` of the tiny model; the same ``seed`` always gives the same weights."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        tokenizer = tiny_tokenizer()
        text_encoder = CLIPTextModel(CLIPTextConfig(
            vocab_size=len(tokenizer), hidden_size=TEXT_WIDTH, intermediate_size=2 * TEXT_WIDTH,
            num_hidden_layers=2, num_attention_heads=4, max_position_embeddings=77,
            bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
            pad_token_id=tokenizer.pad_token_id))
        unet = UNet2DConditionModel(
            sample_size=8, in_channels=4, out_channels=4, down_block_types=BLOCKS[0], up_block_types=BLOCKS[1],
            block_out_channels=WIDTHS, layers_per_block=1, norm_num_groups=GROUPS,
            cross_attention_dim=TEXT_WIDTH, attention_head_dim=8)
        vae = AutoencoderKL(
            in_channels=3, out_channels=3, latent_channels=4, layers_per_block=1, norm_num_groups=GROUPS,
            down_block_types=("DownEncoderBlock2D",) * 4, up_block_types=("UpDecoderBlock2D",) * 4,
            block_out_channels=(8, 16, 16, 16), sample_size=64)
        _pass_input_through(unet)
        nets = {name: _tiny_controlnet(unet) for name in controlnets}
    origin = {"model": "tiny", "seed": seed}
    return Components(tokenizer, text_encoder, unet, vae, DDIMScheduler(**SCHEDULER), nets,
                      origin=origin, hashes={"tiny": f"seed-{seed}"})


@torch.no_grad()
def _pass_input_through(unet, gain=1.0):
    # conv_in copies x_t into channels 0–3 and −x_t into 4–7; the last ResNet's shortcut carries
    # that skip to its output; after the final GroupNorm and SiLU, conv_out takes
    # SiLU(x) − SiLU(−x) = x. Everything else keeps its random weights.
    channels = unet.config.in_channels
    centre = unet.conv_in.kernel_size[0] // 2
    last = unet.up_blocks[-1].resnets[-1]
    skip_start = last.conv_shortcut.in_channels - unet.config.block_out_channels[0]
    for c in range(channels):
        for sign, row in ((1, c), (-1, channels + c)):
            unet.conv_in.weight[row] = 0
            unet.conv_in.weight[row, c, centre, centre] = sign * gain
            unet.conv_in.bias[row] = 0
            last.conv_shortcut.weight[row, skip_start + row, 0, 0] += 1
            unet.conv_out.weight[c, row, centre, centre] += sign


def _tiny_controlnet(unet):
    net = ControlNetModel.from_unet(unet, conditioning_embedding_out_channels=(8, 16, 16, 16))
    # PyTorch's default initialisation shrinks a signal at every layer; through the conditioning
    # embedding's eight convolutions the control image would all but vanish. Variance-keeping
    # weights carry it through, and the output convolutions are drawn rather than zeroed.
    embedding = net.controlnet_cond_embedding
    for conv in [embedding.conv_in, *embedding.blocks, embedding.conv_out]:
        torch.nn.init.kaiming_normal_(conv.weight, nonlinearity="relu")
        torch.nn.init.zeros_(conv.bias)
    with torch.no_grad():  # scale the embedding of a random control image to unit spread
        embedding.conv_out.weight /= embedding(torch.rand(1, 3, 64, 64)).std()
    for conv in [*net.controlnet_down_blocks, net.controlnet_mid_block]:
        torch.nn.init.normal_(conv.weight, std=CONTROL_STD)
        torch.nn.init.normal_(conv.bias, std=CONTROL_STD)
    return net
