"""The scene's own look: a frame rendered with the scene's materials, colours, lights and world
(the *Scene* base image, ``contract.SCENE_BASE``), beside its pass EXR, and the fingerprint it
is cached under.

It is a quick Cycles render (``LOOK_SAMPLES`` samples, denoised fast, light bounced at most
``LOOK_BOUNCES`` times), on the CPU or the GPU as the passes are, through the scene's own view
transform: the colours the artist sees in a render. Its fingerprint holds the passes' (camera,
geometry, size) and everything else the picture shows: the materials and their node trees, the
images they read (and the files' dates), the objects' colours, visibility and attributes (UVs,
colour attributes), the lights, the world and the colour management.
"""

import contextlib
import hashlib
import json
import os

import bpy

import numpy as np

LOOK_SAMPLES = 4  # denoised: as clean as 8 (bench/RESULTS.md, "Scene base"), half the time
LOOK_BOUNCES = 2  # at most (the scene's own count when lower): colour bleeding, not caustics
# OpenImageDenoise at its fast settings: at 720p on 2 cores 0.9 s a frame against 7 s at its
# default (accurate prefilter, high quality), and no difference to see at these samples.
DENOISING = {"denoiser": "OPENIMAGEDENOISE", "denoising_prefilter": "FAST", "denoising_quality": "FAST"}
SIMPLE = {"BOOLEAN", "INT", "FLOAT", "STRING", "ENUM"}
STRUCT_DEPTH = 3  # settings held in structs this deep are seen: a curve node's mapping → curves → points
OBJECT_LOOK = ("color", "pass_index", "is_holdout", "is_shadow_catcher", "visible_camera", "visible_diffuse",
               "visible_glossy", "visible_transmission", "visible_volume_scatter", "visible_shadow", "lightgroup")
SURFACES = {"MESH", "CURVE", "SURFACE", "META", "FONT"}  # the object types a render draws surfaces of
PNG_END = b"\x00\x00\x00\x00IEND\xaeB`\x82"  # the last chunk of every whole PNG


def look_settings(scene):
    """(owner, attribute, value) of each setting the look renders with, read from ``scene`` as
    the user left it (before the passes' settings replace them)."""
    render, cycles, layer = scene.render, scene.cycles, scene.view_layers[0]
    image = render.image_settings
    return [(layer, "material_override", None), (render, "film_transparent", False),
            (cycles, "samples", LOOK_SAMPLES), (cycles, "use_denoising", True),
            *[(cycles, name, value) for name, value in DENOISING.items()],
            (cycles, "max_bounces", min(cycles.max_bounces, LOOK_BOUNCES)),
            (cycles, "pixel_filter_type", cycles.pixel_filter_type), (cycles, "filter_width", cycles.filter_width),
            (image, "media_type", "IMAGE"), (image, "file_format", "PNG"), (image, "color_mode", "RGB"),
            (image, "color_depth", "8")]


@contextlib.contextmanager
def switched(settings):
    """``settings`` ((owner, attribute, value) each; attributes this Blender lacks are skipped)
    in force within the block, the values before restored after it."""
    before = []
    try:
        for owner, attribute, value in settings:
            if hasattr(owner, attribute):
                before.append((owner, attribute, getattr(owner, attribute)))
                setattr(owner, attribute, value)
        yield
    finally:
        for owner, attribute, value in reversed(before):
            setattr(owner, attribute, value)


def lighting(scene, depsgraph):
    """{"world": ..., "lights": {light: [place, settings]}}: what lights the scene (the passes'
    clay shading as well as its look)."""
    lights = {instance_key(instance): [_plain(instance.matrix_world), _pointer(instance.object.data, STRUCT_DEPTH)]
              for instance in depsgraph.object_instances if instance.object.type == "LIGHT" and instance.show_self}
    return {"world": _pointer(scene.world, STRUCT_DEPTH), "lights": lights}


def look_fingerprint(scene, depsgraph, passes_state):
    """A stable text of everything the frame's look depends on, ``passes_state`` (the passes'
    fingerprint, their lighting included) as well."""
    cycles = scene.cycles
    state = {"passes": passes_state, "frame": scene.frame_current,  # an image sequence's texture moves with it
             "render": [LOOK_SAMPLES, DENOISING, min(cycles.max_bounces, LOOK_BOUNCES), cycles.pixel_filter_type,
                        round(cycles.filter_width, 6)],
             "view": _struct(scene.view_settings), "display": scene.display_settings.display_device,
             "objects": {}, "materials": {}}
    for instance in depsgraph.object_instances:
        obj = instance.object
        if instance.show_self and obj.type in SURFACES:
            slots = [[slot.link, slot.material.name if slot.material else None] for slot in obj.material_slots]
            settings = [_plain(getattr(obj, name, None)) for name in OBJECT_LOOK]
            state["objects"][instance_key(instance)] = [settings, slots, attributes_hash(obj)]
            for slot in obj.material_slots:
                if slot.material and slot.material.name not in state["materials"]:
                    state["materials"][slot.material.name] = _pointer(slot.material, STRUCT_DEPTH)
    return json.dumps(state, sort_keys=True)


def instance_key(instance):
    """An object instance's name in a fingerprint: its object's, and which instance of it."""
    obj = instance.object
    return f"{obj.name}/{instance.random_id}" if instance.is_instance else obj.name


def attributes_hash(obj):
    """A hash of the evaluated geometry's attributes (positions, UV maps, colour attributes,
    material indices, ...), the names Blender keeps for itself (``.select_vert``) left out."""
    mesh = obj.to_mesh()
    digest = hashlib.sha256()
    try:
        for attribute in sorted(mesh.attributes, key=lambda a: (a.domain, a.name)):
            if attribute.name.startswith(".") or attribute.data_type == "STRING" or not len(attribute.data):
                continue
            key = next(name for name in ("value", "vector", "color") if hasattr(attribute.data[0], name))
            first = getattr(attribute.data[0], key)
            values = np.empty(len(attribute.data) * (len(first) if hasattr(first, "__len__") else 1), np.float64)
            attribute.data.foreach_get(key, values)
            digest.update(f"{attribute.domain}/{attribute.name}/{attribute.data_type}".encode() + values.tobytes())
        return digest.hexdigest()[:16]
    finally:
        obj.to_mesh_clear()


def png_is_whole(path):
    """Whether the PNG at ``path`` ends with the chunk every whole PNG ends with."""
    try:
        with open(path, "rb") as file:
            file.seek(-len(PNG_END), os.SEEK_END)
            return file.read() == PNG_END
    except OSError:
        return False


def _struct(struct, skip=frozenset(), depth=STRUCT_DEPTH):
    """{property: value} of what an RNA struct sets: its writable simple properties, the IDs it
    points to, and the structs and collections it holds, ``depth`` levels down."""
    state = {}
    for prop in struct.bl_rna.properties:
        name = prop.identifier
        if name == "rna_type" or name in skip:
            continue
        if prop.type in SIMPLE and not prop.is_readonly:
            state[name] = _plain(_read(struct, name))
        elif prop.type == "POINTER":
            state[name] = _pointer(_read(struct, name), depth)
        elif prop.type == "COLLECTION" and depth > 0:
            state[name] = [_struct(item, depth=depth - 1) for item in _read(struct, name)]
    return state


def _read(struct, name):
    """``struct.name``; a property Blender has deprecated (and warns about) is read all the same."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        return getattr(struct, name)


def _pointer(value, depth):
    if value is None:
        return None
    if isinstance(value, bpy.types.NodeTree):
        return _node_tree(value)
    if isinstance(value, bpy.types.Image):
        return _image(value)
    if isinstance(value, (bpy.types.Material, bpy.types.Light, bpy.types.World)):
        return _struct(value, _id_bookkeeping(), depth)
    if isinstance(value, (bpy.types.ID, bpy.types.Node, bpy.types.NodeSocket)):
        return value.name
    return _struct(value, depth=depth - 1) if depth > 0 else None


def _node_tree(tree):
    layout = _node_layout()
    nodes = {node.name: [node.bl_idname, _struct(node, layout),
                         [_plain(_read(socket, "default_value")) if hasattr(socket, "default_value") else None
                          for socket in node.inputs]] for node in tree.nodes}
    links = sorted([link.from_node.name, link.from_socket.identifier, link.to_node.name, link.to_socket.identifier,
                    link.is_muted] for link in tree.links)
    return {"tree": tree.name, "nodes": nodes, "links": links}


def _id_bookkeeping():
    """The properties every ID has (its name, users, library, tags): none changes a picture."""
    return frozenset(prop.identifier for prop in bpy.types.ID.bl_rna.properties)


def _node_layout():
    """The properties every node has that place and show it in the editor (all of ``Node``'s but
    ``mute``), and its sockets (read on their own)."""
    return frozenset(prop.identifier for prop in bpy.types.Node.bl_rna.properties) - {"mute"}


def _image(image):
    state = [image.name, image.source, image.filepath, image.colorspace_settings.name, image.alpha_mode]
    if image.source == "GENERATED":
        state += [image.generated_type, _plain(image.generated_color), image.generated_width, image.generated_height]
    path = bpy.path.abspath(image.filepath, library=image.library)
    if image.packed_file is not None:
        state.append(image.packed_file.size)
    elif os.path.isfile(path):
        stat = os.stat(path)
        state += [stat.st_mtime_ns, stat.st_size]
    if image.is_dirty:  # painted in Blender and not saved: only its pixels tell
        pixels = np.empty(len(image.pixels), np.float32)
        image.pixels.foreach_get(pixels)
        state.append(hashlib.sha256(pixels.tobytes()).hexdigest()[:16])
    return state


def _plain(value):
    """``value`` as plain JSON: floats rounded, arrays and enum sets as lists, IDs by name."""
    if isinstance(value, float):
        return round(value, 6)
    if isinstance(value, (str, bool, int)) or value is None:
        return value
    if isinstance(value, bpy.types.ID):
        return value.name
    if isinstance(value, set):
        return sorted(value)
    try:
        return [_plain(item) for item in value]
    except TypeError:
        return repr(value)
