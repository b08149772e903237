"""The style picker: a thumbnail of each built-in style, loaded into a ``bpy.utils.previews``
collection, as the items of the scene's style enum: the styles on the sample shot
(``assets/styles``), or on the scene's own frame once its style gallery is painted (the folder in
``scene.diffsynth.gallery_dir``; files named by ``contract.style_thumbnail``)."""

from pathlib import Path

import bpy
import bpy.utils.previews

from ..contract import STYLE_COUNT, style_thumbnail

THUMBNAILS = Path(__file__).absolute().parent.parent / "assets" / "styles"
# "collection": the loaded thumbnails; "items": {thumbnail folder and its version: enum items},
# which Blender keeps pointers into.
_previews = {}


def thumbnail_path(index: int, folder: Path = THUMBNAILS) -> Path:
    """The thumbnail of built-in style ``index`` in ``folder`` (the sample shot's by default)."""
    return folder / style_thumbnail(index)


def style_items(self, context):
    """Enum items of the built-in styles, each with its thumbnail as the icon: this scene's
    gallery where it has one (``self``: the shot settings), else the sample shot's."""
    folder = Path(getattr(self, "gallery_dir", "") or THUMBNAILS)
    if not thumbnail_path(0, folder).is_file():
        folder = THUMBNAILS
    version = f"{folder}@{thumbnail_path(0, folder).stat().st_mtime_ns if folder != THUMBNAILS else 0}"
    items = _previews.setdefault("items", {})
    if version not in items:
        if "collection" not in _previews:
            _previews["collection"] = bpy.utils.previews.new()
        collection = _previews["collection"]
        items[version] = []
        for index in range(STYLE_COUNT):
            key, path = f"{version}/{index}", thumbnail_path(index, folder)
            if key not in collection and path.is_file():
                collection.load(key, str(path), "IMAGE")
            icon = collection[key].icon_id if key in collection else 0
            items[version].append((str(index), f"Style {index}", f"Built-in style {index}", icon, index))
    return items[version]


def unregister():
    """Free the thumbnails."""
    collection = _previews.pop("collection", None)
    _previews.clear()
    if collection is not None:
        bpy.utils.previews.remove(collection)
