"""Models for the engine: the embedded tiny model and real SD1.5-family models with ControlNets."""

from .components import Components
from .sources import ModelError, load_components, source_kind
from .tiny import build_tiny

__all__ = ["Components", "ModelError", "build_tiny", "load_components", "source_kind"]
