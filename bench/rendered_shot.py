"""A rendered shot with a known ideal stylization, for deflicker benchmarks.

The demo's sample shot (moving objects, occlusions, a camera move), its surfaces given procedural
textures that stick to them (generated coordinates), rendered by Cycles as flat colour: that is
the ideal stylization, consistent with the motion by construction. Beside it, the untextured
passes exactly as Stylize renders them, turned into guides and flows by the engine. Made once
per size and length into ``build/bench/rendered_shot_<W>x<H>_<frames>/`` and reused.
"""

from pathlib import Path

import numpy as np

from .report import OUTPUT_DIR

FRAMES = 24
SAMPLES = 32  # anti-aliasing samples of the textured render (emission only: no light noise)


def rendered_shot(size=(512, 288), frames=FRAMES):
    """(clean (N, H, W, 3), guides (N, H, W, 10), flows (N, H, W, 4)) float32 of the textured shot."""
    folder = OUTPUT_DIR / f"rendered_shot_{size[0]}x{size[1]}_{frames}"
    arrays = [folder / f"{name}.npy" for name in ("clean", "guides", "flows")]
    if not all(path.is_file() for path in arrays):
        _render(folder, size, frames)
        _derive(folder, size)
    clean, guides, flows = (np.load(path) for path in arrays)
    return clean, guides.astype(np.float32), flows  # the guides are derived as a job's are: float16


def _render(folder, size, frames):
    """Render the textured frames and the passes with bpy (in this process)."""
    import bpy

    import addon_utils  # importable only once bpy is

    from ..operators.scene_passes import render_passes
    from ..tools.sample_shot import build_sample_shot

    scene = build_sample_shot(frame_end=frames, resolution=size)
    addon_utils.enable("diffsynth_render", default_set=True, handle_error=None)
    numbers = list(range(scene.frame_start, scene.frame_end + 1))
    render_passes(scene, numbers, folder / "exr")
    for index, obj in enumerate(o for o in scene.objects if o.type == "MESH"):
        obj.data.materials.clear()
        obj.data.materials.append(_textured_material(bpy, index))
    world = bpy.data.worlds.new("Backdrop")
    world.color = (0.2, 0.25, 0.35)
    scene.world = world
    scene.render.engine = "CYCLES"
    scene.cycles.samples, scene.cycles.use_denoising, scene.cycles.seed = SAMPLES, False, 0
    scene.view_settings.view_transform = "Standard"
    scene.render.image_settings.color_depth = "16"
    clean = []
    for number in numbers:
        scene.frame_set(number)
        scene.render.filepath = str(folder / "clean" / f"frame_{number:04d}.png")
        bpy.ops.render.render(write_still=True)
        clean.append(_read_png(scene.render.filepath))
    np.save(folder / "clean.npy", np.stack(clean))


PALETTE = [((0.85, 0.45, 0.1), (0.2, 0.1, 0.4)), ((0.95, 0.9, 0.75), (0.6, 0.15, 0.1)),
           ((0.1, 0.55, 0.4), (0.95, 0.85, 0.2)), ((0.15, 0.2, 0.6), (0.95, 0.5, 0.6)),
           ((0.3, 0.3, 0.3), (0.95, 0.95, 0.95)), ((0.55, 0.1, 0.5), (0.4, 0.9, 0.9)),
           ((0.9, 0.25, 0.2), (0.15, 0.35, 0.1))]  # (sRGB) two colours per object
TEXTURES = [("ShaderNodeTexNoise", 5.0), ("ShaderNodeTexBrick", 4.0), ("ShaderNodeTexChecker", 6.0),
            ("ShaderNodeTexVoronoi", 6.0), ("ShaderNodeTexWave", 3.0), ("ShaderNodeTexMagic", 2.0),
            ("ShaderNodeTexChecker", 4.0)]  # (node, scale over the object's bounding box) per object


def _textured_material(bpy, index):
    """Flat colour from a procedural texture in the object's generated (bounding-box)
    coordinates, a different texture and pair of colours for each object."""
    kind, scale = TEXTURES[index % len(TEXTURES)]
    low, high = PALETTE[index % len(PALETTE)]
    material = bpy.data.materials.new(f"Textured {index}")
    material.use_nodes = True
    nodes, links = material.node_tree.nodes, material.node_tree.links
    nodes.clear()
    coordinates = nodes.new("ShaderNodeTexCoord")
    texture = nodes.new(kind)
    texture.inputs["Scale"].default_value = scale
    ramp = nodes.new("ShaderNodeValToRGB")
    ramp.color_ramp.elements[0].color = (*(c ** 2.2 for c in low), 1)  # sRGB → the linear values Blender keeps
    ramp.color_ramp.elements[1].color = (*(c ** 2.2 for c in high), 1)
    emission, output = nodes.new("ShaderNodeEmission"), nodes.new("ShaderNodeOutputMaterial")
    links.new(coordinates.outputs["Generated"], texture.inputs["Vector"])
    links.new(texture.outputs["Fac"] if "Fac" in texture.outputs else texture.outputs["Distance"], ramp.inputs["Fac"])
    links.new(ramp.outputs["Color"], emission.inputs["Color"])
    links.new(emission.outputs["Emission"], output.inputs["Surface"])
    return material


def _read_png(path):
    import cv2

    image = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    return (image[..., 2::-1] / 65535.0).astype(np.float32)


def _derive(folder, size):
    """Guides and flows from the pass EXRs, as the engine derives them for a job."""
    from ..engine.passes import derive_inputs

    exr = sorted(Path(folder, "exr").glob("frame_*.exr"))
    files = derive_inputs(exr, folder / "derived", size)
    for name, kind in (("guides", "guide"), ("flows", "flow")):
        np.save(folder / f"{name}.npy", np.stack([np.load(path) for path in files[kind]]))
