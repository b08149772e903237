"""``python -m diffsynth_render.engine stitch JOB.json``: the chunks of a shot split for a farm
(``engine run JOB --chunk K/N``), assembled into the whole shot with no visible seam.

Every chunk must be complete: its folder holds a result.json naming this very job (a chunk of
an edited job is not trusted). A frame only one chunk rendered is copied as it is. Where two
chunks overlap, the earlier chunk's frames fade into the later one's, and the seam (the overlap
and a blending window of frames on each side) is patch-blended on the shot's guides and flows,
so both chunks' paint is matched along the motion before it is mixed. The shot goes to
OUTPUT/final (or ``--out``) through a temporary folder: an interrupted stitch leaves the last
complete one, or none.
"""

import json
import time
from pathlib import Path

from ..chunking import CHUNKS_FOLDER, FINAL_FOLDER
from ..contract import MADE_BY, RESULT_FILE, cancel_file, replace_folder, result_folder, write_text_atomically


def add_command(commands):
    """Add the ``stitch`` sub-command to an argparse sub-parser set."""
    parser = commands.add_parser("stitch", help="assemble the chunks of a job split for a farm into one shot",
                                 description=__doc__)
    parser.add_argument("job", type=Path, help="the job JSON file the chunks were rendered from")
    parser.add_argument("--out", type=Path, help=f"folder for the whole shot (default: OUTPUT/{FINAL_FOLDER})")
    parser.add_argument("--progress", choices=("jsonl", "bar"), default="bar",
                        help="JSON lines on stdout (for programs) or a progress bar on stderr")
    parser.set_defaults(run=run)


def run(args):
    """Run the command; returns the exit status."""
    from .job import JobError, read_job
    from .process_control import Events, StopRequest, guarded, space_needed

    events = Events(args.progress == "jsonl", "stitch")
    try:
        job = read_job(args.job)
        folders = chunk_folders(job)
    except JobError as error:
        return events.error("job", f"{args.job}: cannot stitch", error.problems)
    output = (args.out or job.output / FINAL_FOLDER).absolute()
    try:
        partial = result_folder(output)
    except ValueError as error:
        return events.error("job", f"{args.job}: the output folder cannot take the frames", [f"--out: {error}"])
    stop = StopRequest(events, cancel_file(args.job), partial)

    def work():
        from .progress import StageClock

        started = time.perf_counter()
        events.estimate.clock = StageClock()
        names = stitch(job, folders, partial, events, stop)
        return events.done(replace_folder(partial, output), names, time.perf_counter() - started)

    return guarded(events, stop, work, (output.parent, space_needed(job, job.chunks[-1].stop)))


def chunk_folders(job):
    """Each chunk's folder, checked complete and rendered from ``job``; raises ``JobError`` with
    one problem per chunk that is not."""
    from .job import JobError

    if job.chunks is None:
        raise JobError(["chunks: the job does not split the shot (no chunks field): there is nothing to stitch"])
    folders, problems = [], []
    for chunk in job.chunks:
        folder = job.output / CHUNKS_FOLDER / chunk.folder_name
        label, command = f"chunk {chunk.number}/{chunk.count}", f"engine run JOB --chunk {chunk.number}/{chunk.count}"
        try:
            made = json.loads((folder / RESULT_FILE).read_text()).get("chunk_of", {})
        except (OSError, ValueError):
            problems.append(f"{label}: {folder} is missing or unfinished; render it with {command}")
            continue
        names = [job.frame_name(index) for index in chunk.frames]
        if made.get("job") != job.digest or made.get("frames") != [chunk.start, chunk.stop]:
            problems.append(f"{label}: {folder} was rendered from another version of the job; render it again "
                            f"with {command}")
        elif not all((folder / name).is_file() for name in names):
            problems.append(f"{label}: frames are missing from {folder}; render it again with {command}")
        folders.append(folder)
    if problems:
        raise JobError(problems)
    return folders


def stitch(job, folders, partial, events, stop):
    """Write the whole shot into the empty folder ``partial`` from the chunks in ``folders``;
    returns the frame names."""
    import shutil

    from .image_sequences import write_png

    chunks, steps, clock = job.chunks, job.steps, events.estimate.clock
    for number, (earlier, later) in enumerate(zip(chunks, chunks[1:])):
        events.estimate.expect("blend", earlier.stop - later.start + 2 * job.settings.blend.window, number)
    events.estimate.expect("write", chunks[-1].stop, steps)
    owner = {index: (chunk, folder) for chunk, folder in zip(reversed(chunks), reversed(folders))
             for index in chunk.frames}  # the earliest chunk that has the frame
    blended = set()  # seam frames, written as each seam is blended (one seam held at a time)
    for number, (earlier, later) in enumerate(zip(chunks, chunks[1:])):
        stop.check()
        with clock("blend"):
            seam = _seam_frames(job, range(later.start, earlier.stop), (earlier, later), folders[number:number + 2],
                                number, events, stop)
        with clock("write"):
            for index, (frame, bits) in seam.items():
                write_png(partial / job.frame_name(index), frame, bits)
                blended.add(index)
    names = []
    for index in range(chunks[-1].stop):
        stop.check()
        name = job.frame_name(index)
        if index not in blended:
            with clock("write"):
                shutil.copyfile(owner[index][1] / name, partial / name)
        names.append(name)
        events.progress("write", steps, steps, index + 1, chunks[-1].stop)
    seams = [[later.start + job.first_frame, earlier.stop - 1 + job.first_frame]
             for earlier, later in zip(chunks, chunks[1:])]
    write_text_atomically(partial / RESULT_FILE, json.dumps(
        {"made_by": MADE_BY, "job": str(job.path), "job_digest": job.digest, "frames": names,
         "chunks": [str(f) for f in folders],
         "seams": seams}, indent=1))
    return names


def _seam_frames(job, seam, pair, folders, number, events, stop):
    """{shot index: (frame, bits)} for the frames of ``seam`` (the shot indices the chunks ``pair``
    share, their frames in ``folders``; the ``number``-th seam): cross-faded, then patch-blended with a
    window of frames on each side."""
    import numpy as np

    from .deflicker import PatchBlender
    from .image_sequences import read_image
    from .shot_inputs import read_inputs

    earlier, later = pair
    window = job.settings.blend.window
    low, high = max(seam.start - window, earlier.start), min(seam.stop + window, later.stop)
    frames, bits = [], 8
    for index in range(low, high):
        fade = np.clip((index - seam.start + 1) / (len(seam) + 1), 0, 1)
        images = [read_image(folder / job.frame_name(index))
                  for folder, weight in zip(folders, (1 - fade, fade)) if weight > 0]
        bits = images[0][1]
        frames.append(images[0][0] if len(images) == 1 else (1 - fade) * images[0][0] + fade * images[1][0])
    inputs = read_inputs(_guides_only(job.part(low, high, None)))
    guides, flows = inputs.guides, inputs.flows
    steps = job.steps

    def progress(done, total):
        stop.check()
        events.progress("blend", number, steps, done, total)

    blender = PatchBlender.for_shot(guides, job.settings.blend, flows, keep_fields=False)
    return {low + offset: (np.clip(np.asarray(frame), 0, 1), bits)
            for offset, frame in blender.stream(np.stack(frames), progress) if low + offset in seam}


def _guides_only(job):
    import dataclasses

    return dataclasses.replace(job, controls={})
