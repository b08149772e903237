"""Loading ``Components`` from where the models lie: the embedded tiny model, a folder saved by
``Components.save`` or in the diffusers layout, a single SD1.5 checkpoint file, or a Hugging
Face id (fetched only when the caller allows network access; otherwise only from the cache).

Every failure is a ``ModelError`` naming the source and what to do.
"""

import hashlib
import json
import tempfile
from pathlib import Path

from ...contract import first_line
from .components import CONTROLNET_PREFIX, MANIFEST, PARTS, Components
from .sd15_configs import has_tokenizer, write_config_folder

TINY = "tiny"
CHECKPOINT_SUFFIXES = (".safetensors", ".ckpt")
WEIGHT_SUFFIXES = (".safetensors", ".bin", ".ckpt", ".pt")


class ModelError(Exception):
    """A model source that cannot be loaded; the message says which and why."""


def source_kind(source):
    """'tiny', 'folder', 'checkpoint' or 'hub' for a model source string."""
    path = Path(source).expanduser()
    if source == TINY:
        return "tiny"
    if path.is_dir():
        return "folder"
    if path.suffix.lower() in CHECKPOINT_SUFFIXES or path.exists() or source.startswith((".", "/", "~")):
        return "checkpoint"
    if source.count("/") == 1 and all(source.split("/")):
        return "hub"
    raise ModelError(f"model source {source!r} is neither 'tiny', an existing folder or file, nor a Hugging Face id "
                     "like 'owner/name'")


def load_components(base, controlnets, tokenizer=None, embeddings=(), loras=(), allow_network=False, cache_dir=None):
    """``Components`` for the ``base`` source with ``controlnets`` (name → source), optional
    textual-inversion ``embeddings`` (files) and ``loras`` ((file, scale) pairs, fused into the
    weights); ``tokenizer`` is a folder for checkpoint files."""
    options = dict(allow_network=allow_network, cache_dir=cache_dir)
    kind = source_kind(base)
    if kind == "tiny":
        from .tiny import build_tiny

        parts = build_tiny(controlnets=[name for name, source in controlnets.items() if source == TINY])
    elif kind == "checkpoint":
        parts = _checkpoint(Path(base).expanduser(), tokenizer)
    else:
        parts = _pretrained_parts(base, kind, **options)
    for name, source in controlnets.items():
        if source == TINY and kind != "tiny":
            raise ModelError(f"ControlNet {name!r}: the tiny ControlNet only fits the tiny base model")
        if source != TINY:
            parts.controlnets[name] = _controlnet(name, source, **options)
            parts.origin[CONTROLNET_PREFIX + name] = source
            parts.hashes[CONTROLNET_PREFIX + name] = _hash_source(source)
    for embedding in embeddings:
        _load_embedding(parts, Path(embedding).expanduser())
    if loras:
        _fuse_loras(parts, [(Path(path).expanduser(), scale) for path, scale in loras])
    return parts


def _pretrained_parts(source, kind, allow_network, cache_dir):
    from diffusers import AutoencoderKL, DDIMScheduler, UNet2DConditionModel
    from transformers import CLIPTextModel, CLIPTokenizer

    classes = {"tokenizer": CLIPTokenizer, "text_encoder": CLIPTextModel, "unet": UNet2DConditionModel,
               "vae": AutoencoderKL, "scheduler": DDIMScheduler}
    loaded = {part: _pretrained(classes[part], source, kind, allow_network, cache_dir, subfolder=part)
              for part in PARTS}
    nets = {}
    manifest = Path(source).expanduser() / MANIFEST
    if kind == "folder" and manifest.is_file():  # saved by Components.save: its ControlNets come along
        from diffusers import ControlNetModel

        for name in json.loads(manifest.read_text())["controlnets"]:
            nets[name] = _pretrained(ControlNetModel, source, kind, False, None, subfolder=CONTROLNET_PREFIX + name)
    return Components(**loaded, controlnets=nets, origin={"model": source}, hashes={"model": _hash_source(source)})


def _pretrained(cls, source, kind, allow_network, cache_dir, subfolder=None):
    where = str(Path(source).expanduser()) if kind == "folder" else source
    try:
        return cls.from_pretrained(where, subfolder=subfolder, cache_dir=cache_dir,
                                   local_files_only=kind == "folder" or not allow_network)
    except (OSError, ValueError) as error:
        part = f"{source}/{subfolder}" if subfolder else source
        if kind == "hub" and not allow_network:
            raise ModelError(f"model {part!r} is not in the local cache and downloads are not allowed: allow "
                             "downloads once, or give a local folder or checkpoint file") from error
        raise ModelError(f"cannot load {cls.__name__} from {part!r}: {first_line(error)}") from error


def _checkpoint(path, tokenizer):
    from diffusers import StableDiffusionPipeline

    if not path.is_file():
        raise ModelError(f"checkpoint file {str(path)!r} does not exist")
    if not has_tokenizer(tokenizer):
        raise ModelError(f"checkpoint {path.name!r} holds no tokenizer: set the tokenizer folder to one with "
                         "vocab.json and merges.txt (the 'tokenizer' folder of any SD1.5 diffusers model)")
    with tempfile.TemporaryDirectory(prefix="diffsynth-sd15-") as config:
        write_config_folder(config, tokenizer)
        try:
            pipe = StableDiffusionPipeline.from_single_file(str(path), config=config, local_files_only=True,
                                                            safety_checker=None, requires_safety_checker=False)
        except Exception as error:  # diffusers raises many kinds for a bad file
            raise ModelError(f"cannot load checkpoint {str(path)!r}: {first_line(error)}") from error
    parts = {part: getattr(pipe, part) for part in PARTS}
    return Components(**parts, controlnets={}, origin={"model": str(path)}, hashes={"model": _hash_source(str(path))})


def _controlnet(name, source, allow_network, cache_dir):
    from diffusers import ControlNetModel

    kind = source_kind(source)
    if kind != "checkpoint":
        return _pretrained(ControlNetModel, source, kind, allow_network, cache_dir)
    path = Path(source).expanduser()
    if not path.is_file():
        raise ModelError(f"ControlNet {name!r}: file {str(path)!r} does not exist")
    with tempfile.TemporaryDirectory(prefix="diffsynth-sd15-") as config:
        write_config_folder(config)
        try:
            return ControlNetModel.from_single_file(str(path), config=str(Path(config) / "controlnet"),
                                                    local_files_only=True)
        except Exception as error:
            raise ModelError(f"ControlNet {name!r}: cannot load {str(path)!r}: {first_line(error)}") from error


def _load_embedding(parts, path):
    """Add a textual-inversion embedding file: its token(s) join the tokenizer, named after the file."""
    if not path.is_file():
        raise ModelError(f"embedding file {str(path)!r} does not exist")
    pipe = _as_pipeline(parts)
    try:
        pipe.load_textual_inversion(str(path), token=f"<{path.stem}>")
    except Exception as error:
        raise ModelError(f"cannot load embedding {str(path)!r}: {first_line(error)}") from error
    parts.origin.setdefault("embeddings", []).append(str(path))
    parts.hashes[f"embedding_{path.stem}"] = _hash_source(str(path))


def _fuse_loras(parts, loras):
    """Fuse LoRA files into the UNet and text encoder at their scales (no slowdown at render time)."""
    missing = [str(path) for path, _ in loras if not path.is_file()]
    if missing:
        raise ModelError(f"LoRA file {missing[0]!r} does not exist")
    pipe = _as_pipeline(parts)
    names = [f"lora{index}" for index in range(len(loras))]
    try:
        for name, (path, _) in zip(names, loras):
            pipe.load_lora_weights(str(path), adapter_name=name)
        pipe.set_adapters(names, [scale for _, scale in loras])
        pipe.fuse_lora(adapter_names=names)
        pipe.unload_lora_weights()
    except Exception as error:
        raise ModelError(f"cannot apply LoRA {str(loras[0][0])!r}: {first_line(error)}") from error
    for path, scale in loras:
        parts.origin.setdefault("loras", []).append({"path": str(path), "scale": scale})
        parts.hashes[f"lora_{path.stem}"] = _hash_source(str(path))


def _as_pipeline(parts):
    from diffusers import StableDiffusionPipeline

    return StableDiffusionPipeline(**{part: getattr(parts, part) for part in PARTS}, safety_checker=None,
                                   feature_extractor=None, requires_safety_checker=False)


def _hash_source(source):
    """SHA-256 of a file, or of a folder's weight files in order; the source itself for Hub ids."""
    path = Path(source).expanduser()
    files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.suffix in WEIGHT_SUFFIXES)
    if not path.exists():
        return source
    digest = hashlib.sha256()
    for file in files:
        with open(file, "rb") as stream:
            while block := stream.read(1 << 24):
                digest.update(block)
    return digest.hexdigest()
