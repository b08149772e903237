"""SD1.5's component configs, written here so single-file checkpoints load without the Hub.

``write_config_folder`` lays them out as a diffusers pipeline folder for ``from_single_file(...,
config=folder)``. A checkpoint holds no tokenizer, so one is copied in from a folder the user
names (any SD1.5 model's ``tokenizer`` folder, or CLIP ViT-L/14's).
"""

import json
import shutil
from pathlib import Path

SCHEDULER = dict(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear", num_train_timesteps=1000,
                 clip_sample=False, set_alpha_to_one=False, steps_offset=1, prediction_type="epsilon")

UNET = dict(sample_size=64, in_channels=4, out_channels=4, layers_per_block=2, cross_attention_dim=768,
            attention_head_dim=8, block_out_channels=[320, 640, 1280, 1280], norm_num_groups=32,
            down_block_types=["CrossAttnDownBlock2D"] * 3 + ["DownBlock2D"],
            up_block_types=["UpBlock2D"] + ["CrossAttnUpBlock2D"] * 3)

CONTROLNET = dict(in_channels=4, conditioning_channels=3, layers_per_block=2, cross_attention_dim=768,
                  attention_head_dim=8, block_out_channels=[320, 640, 1280, 1280], norm_num_groups=32,
                  down_block_types=UNET["down_block_types"],
                  conditioning_embedding_out_channels=[16, 32, 96, 256])

VAE = dict(in_channels=3, out_channels=3, latent_channels=4, layers_per_block=2, norm_num_groups=32,
           block_out_channels=[128, 256, 512, 512], sample_size=512, scaling_factor=0.18215,
           down_block_types=["DownEncoderBlock2D"] * 4, up_block_types=["UpDecoderBlock2D"] * 4)

TEXT_ENCODER = dict(architectures=["CLIPTextModel"], model_type="clip_text_model", vocab_size=49408,
                    hidden_size=768, intermediate_size=3072, num_hidden_layers=12, num_attention_heads=12,
                    max_position_embeddings=77, hidden_act="quick_gelu", projection_dim=768,
                    bos_token_id=0, eos_token_id=2, pad_token_id=1)

PIPELINE = {"_class_name": "StableDiffusionPipeline", "feature_extractor": [None, None], "safety_checker": [None, None],
            "requires_safety_checker": False, "scheduler": ["diffusers", "DDIMScheduler"],
            "text_encoder": ["transformers", "CLIPTextModel"], "tokenizer": ["transformers", "CLIPTokenizer"],
            "unet": ["diffusers", "UNet2DConditionModel"], "vae": ["diffusers", "AutoencoderKL"]}

TOKENIZER_FILES = ("vocab.json", "merges.txt")


def write_config_folder(folder, tokenizer_folder=None):
    """Write SD1.5's configs (and, if given, a copy of the tokenizer) under ``folder``."""
    folder = Path(folder)
    files = {"model_index.json": PIPELINE,
             "scheduler/scheduler_config.json": {"_class_name": "DDIMScheduler", **SCHEDULER},
             "unet/config.json": {"_class_name": "UNet2DConditionModel", **UNET},
             "vae/config.json": {"_class_name": "AutoencoderKL", **VAE},
             "text_encoder/config.json": TEXT_ENCODER,
             "controlnet/config.json": {"_class_name": "ControlNetModel", **CONTROLNET}}
    for name, config in files.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(json.dumps(config, indent=1))
    if tokenizer_folder is not None:
        (folder / "tokenizer").mkdir(exist_ok=True)
        for name in Path(tokenizer_folder).iterdir():
            if name.is_file():
                shutil.copy(name, folder / "tokenizer" / name.name)
    return folder


def has_tokenizer(folder):
    """Whether ``folder`` holds a CLIP tokenizer's files."""
    return folder is not None and all((Path(folder) / name).is_file() for name in TOKENIZER_FILES)
