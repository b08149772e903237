"""Command line of the engine: ``python -m diffsynth_render.engine COMMAND``."""

import json
import signal
import sys

from ..contract import Exit, OneLineParser
from . import deflicker_cli, stitch, video_cli, worker


def _info(args):
    from . import environment  # reads package metadata: only this command needs it

    report = environment.describe()
    if args.json:
        print(json.dumps(report))
    else:
        print(f"Python {report['python']} ({report['executable']})")
        for name, version in report["libraries"].items():
            print(f"  {name:<13} {version or 'not installed'}")
        backends = ", ".join(f"{name} ({', '.join(devs)})" for name, devs in report["backends"].items())
        print(f"Kernel backends: {backends or 'none (install torch)'}")
    return 1 if report["missing"] else 0


def build_parser():
    """The argument parser with one sub-command per engine task."""
    parser = OneLineParser(prog="python -m diffsynth_render.engine", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    info = commands.add_parser("info", help="report libraries and kernel backends of this Python")
    info.add_argument("--json", action="store_true", help="print one JSON object")
    info.set_defaults(run=_info)
    deflicker_cli.add_command(commands)
    worker.add_command(commands)
    stitch.add_command(commands)
    video_cli.add_command(commands)
    return parser


def main(argv=None):
    """Run one engine command; returns the process exit status. SIGTERM stops a command as Ctrl-C
    does (``run`` and ``stitch`` stop within a step); either ends it with one line, status 130."""
    args = build_parser().parse_args(argv)
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        return args.run(args)
    except KeyboardInterrupt:
        print(f"{args.command}: cancelled", file=sys.stderr)
        return Exit.CANCELLED


if __name__ == "__main__":
    sys.exit(main())
