"""The engine's models: the embedded tiny model, saving and loading it, SD1.5 configs, and the
errors for sources that cannot be loaded."""

import json

import pytest
import torch

from diffsynth_render.engine.devices import resolve_device
from diffsynth_render.engine.models import ModelError, build_tiny, load_components, sd15_configs, source_kind

pytestmark = pytest.mark.filterwarnings("ignore")


def _weights(module):
    return torch.cat([p.detach().flatten() for p in module.parameters()])


def test_tiny_model_is_sd15_shaped_and_seeded():
    parts = build_tiny()
    assert parts.unet.config.cross_attention_dim == parts.text_encoder.config.hidden_size
    assert len(parts.vae.config.block_out_channels) == 4  # three halvings: ×8
    assert parts.vae.config.latent_channels == parts.unet.config.in_channels == 4
    assert sorted(parts.controlnets) == ["depth", "softedge"]
    ids = parts.tokenizer("a house, über alles", padding="max_length", max_length=77, return_tensors="pt").input_ids
    assert ids.shape == (1, 77) and ids[0, 0] == parts.tokenizer.bos_token_id
    assert parts.tokenizer.decode(ids[0], skip_special_tokens=True).replace(" ", "") == "ahouse,überalles"
    again, other = build_tiny(), build_tiny(seed=1)
    assert torch.equal(_weights(parts.unet), _weights(again.unet))
    assert not torch.equal(_weights(parts.unet), _weights(other.unet))
    depth, softedge = (_weights(net) for net in parts.controlnets.values())
    assert not torch.equal(depth, softedge)


def test_tiny_controlnets_are_not_no_ops():
    parts = build_tiny()
    net, unet = parts.controlnets["depth"], parts.unet
    generator = torch.Generator().manual_seed(0)
    sample = torch.randn(1, 4, 8, 8, generator=generator).repeat(2, 1, 1, 1)
    text = torch.randn(1, 77, 32, generator=generator).repeat(2, 1, 1)
    control = torch.rand(2, 3, 64, 64, generator=generator)
    with torch.no_grad():
        down, mid = net(sample, 500, encoder_hidden_states=text, controlnet_cond=control, return_dict=False)
        noise = unet(sample, 500, encoder_hidden_states=text, down_block_additional_residuals=down,
                     mid_block_additional_residual=mid).sample
    assert (noise[0] - noise[1]).std() > 0.2 * noise.std()  # the control images alone make them differ


def test_saved_tiny_model_loads_back_identical(tmp_path):
    parts = build_tiny()
    parts.save(tmp_path / "tiny")
    loaded = load_components(str(tmp_path / "tiny"), {})
    assert sorted(loaded.controlnets) == ["depth", "softedge"]
    for name, module in parts.modules().items():
        assert torch.equal(_weights(module), _weights(loaded.modules()[name])), name
    assert loaded.tokenizer.get_vocab() == parts.tokenizer.get_vocab()
    assert len(loaded.hashes["model"]) == 64  # a SHA-256 of the weight files


def test_controlnet_from_a_folder_joins_the_base(tmp_path):
    parts = build_tiny(controlnets=["depth"])
    parts.controlnets["depth"].save_pretrained(tmp_path / "cn")
    (tmp_path / "base").mkdir()
    parts.save(tmp_path / "base")
    loaded = load_components(str(tmp_path / "base"), {"edges": str(tmp_path / "cn")})
    assert torch.equal(_weights(loaded.controlnets["edges"]), _weights(parts.controlnets["depth"]))
    assert loaded.origin["controlnet_edges"] == str(tmp_path / "cn")


def test_sd15_configs_have_sd15_sizes(tmp_path):
    from diffusers import AutoencoderKL, ControlNetModel, UNet2DConditionModel

    folder = sd15_configs.write_config_folder(tmp_path)
    assert json.loads((folder / "model_index.json").read_text())["unet"] == ["diffusers", "UNet2DConditionModel"]
    sizes = {"unet": (UNet2DConditionModel, 859_520_964), "controlnet": (ControlNetModel, 361_279_120),
             "vae": (AutoencoderKL, 83_653_863)}
    with torch.device("meta"):
        for part, (cls, size) in sizes.items():
            model = cls.from_config(cls.load_config(folder / part))
            assert sum(p.numel() for p in model.parameters()) == size, part


def test_textual_inversion_embedding_adds_a_token(tmp_path):
    from safetensors.torch import save_file

    save_file({"emb_params": torch.randn(1, 32)}, tmp_path / "shiny.safetensors")
    parts = load_components("tiny", {"depth": "tiny"}, embeddings=[str(tmp_path / "shiny.safetensors")])
    assert "<shiny>" in parts.tokenizer.get_vocab()
    assert parts.text_encoder.get_input_embeddings().weight.shape[0] == len(parts.tokenizer)


@pytest.mark.parametrize("base, controlnets, message", [
    ("tiny", {"depth": "/no/such/depth.safetensors"}, "does not exist"),
    ("/no/such/model.safetensors", {}, "does not exist"),
    ("someone/some-model", {}, "downloads are not allowed"),
    ("tiny", {"depth": "someone/some-controlnet"}, "downloads are not allowed"),
    ("not a source", {}, "neither 'tiny'"),
])
def test_sources_that_cannot_load_say_why(base, controlnets, message, monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path))  # an empty cache: nothing to find offline
    with pytest.raises(ModelError, match=message):
        load_components(base, controlnets)


def test_checkpoint_without_tokenizer_and_mismatched_controlnet(tmp_path):
    (tmp_path / "model.safetensors").write_bytes(b"not really")
    with pytest.raises(ModelError, match="holds no tokenizer"):
        load_components(str(tmp_path / "model.safetensors"), {})
    build_tiny().save(tmp_path / "saved")
    with pytest.raises(ModelError, match="only fits the tiny base"):
        load_components(str(tmp_path / "saved"), {"depth": "tiny"})


def test_source_kinds_and_devices(tmp_path):
    assert source_kind("tiny") == "tiny"
    assert source_kind(str(tmp_path)) == "folder"
    assert source_kind("lllyasviel/control_v11f1p_sd15_depth") == "hub"
    assert source_kind("~/models/x.safetensors") == "checkpoint"
    assert resolve_device("cpu") == (torch.device("cpu"), torch.float32)
    assert resolve_device("auto")[0].type in ("cuda", "mps", "cpu")
    with pytest.raises(ValueError, match="not one of"):
        resolve_device("tpu")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="no CUDA"):
            resolve_device("cuda")


def test_lora_is_fused_at_its_scale(tmp_path):
    from diffusers import StableDiffusionPipeline
    from diffusers.utils import convert_state_dict_to_diffusers
    from peft import LoraConfig
    from peft.utils import get_peft_model_state_dict

    trained = build_tiny()
    trained.unet.add_adapter(LoraConfig(r=4, lora_alpha=4, init_lora_weights="gaussian",
                                        target_modules=["to_q", "to_k", "to_v", "to_out.0"]))
    with torch.no_grad():
        for name, weight in trained.unet.named_parameters():
            if "lora_B" in name:  # peft starts B at zero: a LoRA that does nothing
                weight.normal_(std=0.3)
    layers = convert_state_dict_to_diffusers(get_peft_model_state_dict(trained.unet))
    StableDiffusionPipeline.save_lora_weights(tmp_path, unet_lora_layers=layers, safe_serialization=True)
    lora = tmp_path / "pytorch_lora_weights.safetensors"

    sample, text = torch.randn(1, 4, 8, 8), torch.randn(1, 77, 32)
    outputs = {}
    for scale in (0.0, 1.0):
        parts = load_components("tiny", {}, loras=[(str(lora), scale)])
        assert parts.origin["loras"] == [{"path": str(lora), "scale": scale}]
        with torch.no_grad():
            outputs[scale] = parts.unet(sample, 500, text).sample
    with torch.no_grad():
        plain = build_tiny().unet(sample, 500, text).sample
    assert torch.equal(outputs[0.0], plain)
    assert (outputs[1.0] - plain).abs().max() > 0.1
    with pytest.raises(ModelError, match="LoRA file"):
        load_components("tiny", {}, loras=[(str(tmp_path / "none.safetensors"), 1.0)])
