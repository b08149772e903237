"""Whether an OpenEXR file is whole, read with the standard library alone (Blender's Python has
no OpenEXR module): its headers parse, every chunk its offset tables name starts inside the file,
and the last of them ends inside it.

OpenEXR writes a file's offset tables last, when it closes the file, so a write cut short (a full
disk, a killed process) leaves zeros or offsets past the end; a copy cut short loses chunks. Both
read as not whole here. Scanline and tiled files, single- and multi-part, are understood (and
tested); deep data is read by the specification's chunk layout, untested, as Blender writes none.
"""

import math
import struct
from pathlib import Path

MAGIC = 20000630
MULTIPART, TILED, LONG_NAMES, DEEP = 0x1000, 0x200, 0x400, 0x800
# Scanlines per chunk by compression (the header's ``compression`` byte).
LINES_PER_CHUNK = {0: 1, 1: 1, 2: 1, 3: 16, 4: 32, 5: 16, 6: 32, 7: 32, 8: 32, 9: 256, 10: 256}


def exr_is_whole(path: str | Path) -> bool:
    """True when ``path`` is an OpenEXR file with every chunk in place; False for a missing,
    truncated or unfinished file, or one that is not an EXR."""
    try:
        with open(path, "rb") as file:
            return _whole(file, Path(path).stat().st_size)
    except (OSError, ValueError, KeyError, struct.error, ZeroDivisionError):
        return False


def _whole(file, size):
    magic, version = struct.unpack("<ii", file.read(8))
    if magic != MAGIC:
        return False
    multipart = bool(version & MULTIPART)
    headers = []
    while True:
        header = _header(file)
        if not header:
            if multipart and headers:
                break
            return False
        headers.append(header)
        if not multipart:
            break
    tables = [struct.unpack(f"<{count}Q", file.read(8 * count)) for count in map(_chunk_count, headers)]
    # A chunk: (part number if multipart), a tile's 4 ints or a scanline's y, then its data size
    # (deep chunks: two 64-bit sizes and the packed data after a 64-bit offset table size).
    deep = bool(version & DEEP)
    # Every offset must lie inside the file; the chunk that starts last must end inside it too (a
    # cut anywhere leaves that one short): one read a part, not one a chunk (25 ms a 1080p pass EXR
    # when every chunk was read, 24 000 chunks for 240 cached frames).
    for part, table in enumerate(tables):
        if not table or not all(0 < offset < size for offset in table):
            return False
        tiled = headers[part].get(b"type", b"tiledimage" if version & TILED else b"scanlineimage").startswith(b"tiled")
        lead = 4 * multipart + (16 if tiled else 4)
        last = max(table)
        file.seek(last + lead)
        if deep:
            table_size, packed, _ = struct.unpack("<qqq", file.read(24))
            end = last + lead + 24 + table_size + packed
        else:
            end = last + lead + 4 + struct.unpack("<i", file.read(4))[0]
        if end > size:
            return False
    return True


def _header(file):
    """{name: raw value} of the next header; empty at the empty header ending a multi-part list."""
    header = {}
    while (name := _string(file)) != b"":
        _string(file)  # the attribute's type
        length = struct.unpack("<i", file.read(4))[0]
        value = file.read(length)
        if len(value) != length:
            raise ValueError("header cut short")
        header[name] = value
    return header


def _string(file, longest=256):
    text = bytearray()
    while (byte := file.read(1)) != b"\0":
        if not byte or len(text) >= longest:
            raise ValueError("not a header string")
        text += byte
    return bytes(text)


def _chunk_count(header):
    """The chunks of a part: its ``chunkCount`` (every multi-part header has one), else what its
    data window and compression (scanlines) or tile description (tiles, one level) make."""
    if b"chunkCount" in header:
        return struct.unpack("<i", header[b"chunkCount"])[0]
    xmin, ymin, xmax, ymax = struct.unpack("<iiii", header[b"dataWindow"])
    if b"tiles" in header:
        width, height, mode = struct.unpack("<IIB", header[b"tiles"])
        if mode & 0x0F:  # mipmaps or ripmaps: not written by Blender, not checked here
            raise ValueError("multi-level tiles")
        return math.ceil((xmax - xmin + 1) / width) * math.ceil((ymax - ymin + 1) / height)
    return math.ceil((ymax - ymin + 1) / LINES_PER_CHUNK[header[b"compression"][0]])
