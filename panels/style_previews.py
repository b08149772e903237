"""The style picker: a thumbnail of each built-in style (``assets/styles``), loaded once into a
``bpy.utils.previews`` collection, as the items of the scene's style enum."""

from pathlib import Path

import bpy
import bpy.utils.previews

from ..contract import STYLE_COUNT

THUMBNAILS = Path(__file__).absolute().parent.parent / "assets" / "styles"
_previews = {}  # "collection": the loaded thumbnails; "items": the enum items Blender keeps pointers into


def thumbnail_path(index: int) -> Path:
    """The thumbnail of built-in style ``index``."""
    return THUMBNAILS / f"style_{index:02d}.png"


def style_items(self, context):
    """Enum items of the built-in styles, each with its thumbnail as the icon."""
    if "items" not in _previews:
        collection = _previews.setdefault("collection", bpy.utils.previews.new())
        items = []
        for index in range(STYLE_COUNT):
            key = f"style_{index:02d}"
            if key not in collection and thumbnail_path(index).is_file():
                collection.load(key, str(thumbnail_path(index)), "IMAGE")
            icon = collection[key].icon_id if key in collection else 0
            items.append((str(index), f"Style {index}", f"Built-in style {index}", icon, index))
        _previews["items"] = items
    return _previews["items"]


def unregister():
    """Free the thumbnails."""
    collection = _previews.pop("collection", None)
    _previews.clear()
    if collection is not None:
        bpy.utils.previews.remove(collection)
