"""``Components``: the parts of an SD1.5-family pipeline with its named ControlNets."""

import dataclasses
import json
from pathlib import Path

# Where each part lies in a saved folder (the diffusers pipeline layout, ControlNets beside).
PARTS = ("tokenizer", "text_encoder", "unet", "vae", "scheduler")
CONTROLNET_PREFIX = "controlnet_"
MANIFEST = "diffsynth_components.json"


@dataclasses.dataclass
class Components:
    """Tokenizer, text encoder, UNet, VAE, scheduler and ``controlnets`` (name → ControlNetModel).

    ``origin`` says where each part came from (JSON-ready); ``hashes`` identify their weights.
    """

    tokenizer: object
    text_encoder: object
    unet: object
    vae: object
    scheduler: object
    controlnets: dict
    origin: dict = dataclasses.field(default_factory=dict)
    hashes: dict = dataclasses.field(default_factory=dict)

    def modules(self):
        """The torch modules, by name."""
        named = {"text_encoder": self.text_encoder, "unet": self.unet, "vae": self.vae}
        named.update({CONTROLNET_PREFIX + name: net for name, net in self.controlnets.items()})
        return named

    def to(self, device, dtype):
        """Move every module to ``device`` and ``dtype`` in place, in eval mode; returns self."""
        for module in self.modules().values():
            if module.dtype != dtype:  # casting to the same dtype only makes diffusers warn
                module.to(dtype=dtype)
            module.to(device=device).eval().requires_grad_(False)
        return self

    def save(self, folder):
        """Write every part into ``folder`` (diffusers layout); ``load_components`` reads it back."""
        folder = Path(folder)
        for part in PARTS:
            getattr(self, part).save_pretrained(folder / part)
        for name, net in self.controlnets.items():
            net.save_pretrained(folder / (CONTROLNET_PREFIX + name))
        manifest = {"controlnets": sorted(self.controlnets), "origin": self.origin, "hashes": self.hashes}
        (folder / MANIFEST).write_text(json.dumps(manifest, indent=1))
        return folder
