"""``python -m diffsynth_render.engine deflicker``: deflicker a PNG sequence made elsewhere.

PatchMatch matches on the guide frames and on the fine detail of the frames themselves, so a
guide without texture (flat shading) does not scramble the frames' texture.

Bad input (mismatched counts or sizes, an empty folder, an unreadable image, an output folder
that is also an input, a file, holds files this engine did not write or cannot be written) is reported
before any work, with exit status 2. The frames go to a new folder put in the place of ``--out``
when all are written: it never mixes two runs' frames. An alpha channel is kept as it was.
"""

from pathlib import Path

from ..contract import BACKENDS, BLEND_MODES, WEIGHTINGS, Exit
from ..job_spec import Smoothing, default


def add_command(commands):
    """Add the ``deflicker`` sub-command to an argparse sub-parser set."""
    parser = commands.add_parser("deflicker", help="deflicker a frame sequence by patch blending on guide frames",
                                 description=__doc__)
    parser.add_argument("--guide", action="append", required=True, type=Path, metavar="DIR",
                        help="folder of guide frames (PNG or .npy); repeat to stack passes as channels")
    parser.add_argument("--frames", required=True, type=Path, metavar="DIR", help="folder of PNG frames to smooth")
    parser.add_argument("--out", required=True, type=Path, metavar="DIR", help="folder for the smoothed PNGs")
    parser.add_argument("--mode", choices=BLEND_MODES, default=default(Smoothing, "mode"))
    parser.add_argument("--window", type=int, default=15, help="frames blended on each side (default 15)")
    parser.add_argument("--weighting", choices=WEIGHTINGS, default=default(Smoothing, "weighting"))
    parser.add_argument("--keep-detail", action="store_true",
                        help="scale the blend's fine detail back to each frame's own (brushwork that differs "
                             "frame to frame stays sharp; noise that differs comes back too)")
    parser.add_argument("--estimate-motion", action="store_true",
                        help="blend along the motion between frames, estimated from the first --guide (pictures: "
                             "the footage) with DeepFlow, each step trusted only where it lands on its own "
                             "colour and the step back returns (as Stylize does for footage)")
    parser.add_argument("--backend", choices=BACKENDS, default="auto")
    parser.add_argument("--device", default=None, help="torch device: cpu, cuda, cuda:1, mps")
    parser.set_defaults(run=run)


def run(args):
    """Run the command; returns the exit status."""
    from ..contract import cancel_file, result_folder
    from .deflicker import BlendSettings, PatchBlender
    from .deflicker.detail import frame_detail
    from .estimated_motion import EstimatedMotion
    from .process_control import Events, StopRequest, guarded

    events = Events(False, "deflicker")
    try:
        guides, motion_guide, frames, names, bits = _inputs(args)
        settings = BlendSettings(mode=args.mode, window=args.window, weighting=args.weighting,
                                 keep_detail=args.keep_detail, backend=args.backend, device=args.device)
        colour = frames.map(lambda frame: frame[..., :3], 3)
        texture = colour.map(lambda frame: frame_detail(frame[None])[0], 3)
        flows = EstimatedMotion(motion_guide).flows if args.estimate_motion else None
        patch_blender = PatchBlender(guides, settings, flows=flows, texture=texture, keep_fields=False)
        partial = result_folder(args.out)
    except ValueError as error:
        return events.error("input", str(error))
    stop = StopRequest(events, cancel_file(partial), partial)
    needed = len(names) * frames.shape[1] * frames.shape[2] * 4
    return guarded(events, stop, lambda: _deflicker(args, frames, colour, names, bits, patch_blender, partial, stop),
                   (args.out.parent, needed), "--out")


def _deflicker(args, frames, colour, names, bits, patch_blender, partial, stop):
    """Blend ``colour`` into ``partial`` and put it in the place of ``--out``; exit status."""
    import dataclasses
    import json

    import numpy as np

    from ..contract import MADE_BY, RESULT_FILE, replace_folder, write_text_atomically
    from .image_sequences import write_png
    from .progress import ProgressBar

    bar = ProgressBar("deflicker")

    def progress(done, total):
        stop.check()
        bar(done, total)

    alpha = frames.shape[-1] == 4
    for index, smoothed in patch_blender.stream(colour, progress):
        stop.check()
        frame = np.asarray(smoothed)
        if alpha:  # kept as it was: only colour is blended
            frame = np.concatenate([frame, frames[index][..., 3:]], axis=-1)
        write_png(partial / names[index], frame, bits)
    write_text_atomically(partial / RESULT_FILE, json.dumps(
        {"made_by": MADE_BY, "frames": names, "guides": [str(folder) for folder in args.guide],
         "estimated_motion": patch_blender.fields.flows is not None, "source": str(args.frames),
         "settings": dataclasses.asdict(patch_blender.settings)}, indent=1))
    replace_folder(partial, args.out)
    kept = "; their alpha kept as it was (only colour is blended)" if alpha else ""
    print(f"deflicker: {len(names)} frames written to {args.out} ({patch_blender.estimations} NNFs estimated)"
          f"{kept}")
    return Exit.DONE


def _inputs(args):
    """(guides, the first guide alone, frames (``Frames``), frame names, bits), every folder checked
    against the frames."""
    from ..shot.frames import stacked
    from .image_sequences import NPY, PNG, open_sequence

    inputs = [*args.guide, args.frames]
    out = args.out.resolve()
    for folder in inputs:
        if folder.resolve() == out:
            raise ValueError(f"--out {args.out} is also an input folder; choose another")
    frames, names, bits = open_sequence(args.frames, (PNG,), alpha=True)
    guides = []
    for folder in args.guide:
        guide, _, _ = open_sequence(folder, (PNG, NPY))
        if guide.shape[:3] != frames.shape[:3]:
            raise ValueError(f"--guide {folder} has {len(guide)} frames of {guide.shape[2]}x{guide.shape[1]} but "
                             f"--frames {args.frames} has {len(frames)} of {frames.shape[2]}x{frames.shape[1]}")
        guides.append(guide)
    return stacked(guides), guides[0], frames, names, bits
