"""`aria-nav demo`: the whole graph on a recording, with the spoken warnings, a video and a summary.

`aria-nav demo [--source KIND --input FILE | --scene hazards] [--out DIR] [name:=value ...]` runs on the project's
sample recording by default (or on the scripted hazard scene), shows a live status line, and writes the spoken warnings
as WAV files and an annotated video of what the system saw and said, into a new folder each run (out/demo/<start time>/,
out/demo/latest points to the newest). Exit status 0, or 2 when it could not run (input, settings, a node failed). See
docs/demo.md.
"""
from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path

EXIT_CANNOT_RUN = 2
DEFAULT_OUT = Path("out/demo")


def register(subparsers) -> None:
    from aria_nav import graph
    from aria_nav.demo.inputs import PERCEPTION_MODES

    sources = next(arg.choices for arg in graph.launch_arguments() if arg.name == "source")
    parser = subparsers.add_parser(
        "demo", help="run the whole graph on a recording; write the video and the speech; print a summary",
        description=__doc__.split("\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="examples:\n  aria-nav demo\n  aria-nav demo --source vrs --input walk.vrs device:=cuda\n"
               "  aria-nav demo --perception model --out /tmp/demo\n  aria-nav demo --scene hazards\n"
               "  aria-nav demo --source vrs --input ../shared/data/aria/gen1_everyday_activities.vrs --seconds 10")
    parser.add_argument("assignments", nargs="*", metavar="name:=value",
                        help="launch arguments as for aria-nav launch (device, models, slam, speech, ...)")
    parser.add_argument("--source", choices=sources, default="sample", help="default: %(default)s")
    parser.add_argument("--input", default="", help="the file (VRS, video, bag directory) or device of the source")
    parser.add_argument("--out", type=Path, default=None,
                        help=f"a new folder for the video, WAV files, summary and log (default: "
                             f"{DEFAULT_OUT}/<start time>); an earlier demo's output is never replaced")
    parser.add_argument("--scene", choices=("hazards",), default=None,
                        help="hazards: the scripted hazard scene (a wall, a pole, a head-height board, a kerb, steps, "
                             "a person) played in place of the camera, with its true depth")
    parser.add_argument("--perception", choices=PERCEPTION_MODES, default="auto",
                        help="truth: the sample's true objects and exact metric depth in place of the detectors "
                             "and the depth model (the guidance policy with true distances); model: the models; "
                             "auto (default): truth on the sample, the models elsewhere")
    parser.add_argument("--seconds", type=float, default=0.0,
                        help="play only this many seconds of the recording (default: all of it)")
    parser.set_defaults(func=demo)


class _Terminal:
    """One status line that updates in place on a terminal (a line every few seconds elsewhere), and lines that
    stay above it."""

    def __init__(self):
        self.interactive = sys.stdout.isatty()
        self._shown = ""
        self._printed_at = 0.0

    def status(self, line: str) -> None:
        import time

        if self.interactive:
            width = shutil.get_terminal_size().columns - 1
            print(f"\r{line[:width]:<{len(self._shown)}}", end="", flush=True)
            self._shown = line[:width]
        elif time.monotonic() - self._printed_at >= 3.0:
            print(line, flush=True)
            self._printed_at = time.monotonic()

    def show(self, line: str) -> None:
        self.end_status()
        print(line, flush=True)

    def end_status(self) -> None:
        if self.interactive and self._shown:
            print("\r" + " " * len(self._shown) + "\r", end="", flush=True)
            self._shown = ""


def demo(args: argparse.Namespace) -> int:
    from aria_nav import graph
    from aria_nav.core.sources import SourceError
    from aria_nav.demo.hazard_scene_player import scene_input
    from aria_nav.demo.inputs import open_demo_input
    from aria_nav.demo.check import summary_record
    from aria_nav.demo.report import format_summary
    from aria_nav.demo.run import DemoConfig, run_demo
    from aria_nav.demo.video import VideoError
    from aria_nav.replay.session import GraphFailure
    from aria_nav.runner import LaunchError

    def fail(message: str) -> int:
        terminal.end_status()
        print(f"aria-nav demo: {message}", file=sys.stderr, flush=True)
        return EXIT_CANNOT_RUN

    terminal = _Terminal()
    try:
        arguments = graph.parse_assignments(args.assignments)
        for name in ("source", "input"):
            if name in arguments:
                raise graph.GraphError(f"give the {name} as --{name}, not {name}:=")
        if args.scene and (args.input or args.source != "sample"):
            raise graph.GraphError(f"--scene {args.scene} plays the scene in place of the camera: no --source or "
                                   f"--input with it")
        demo_input = scene_input(args.seconds) if args.scene else open_demo_input(args.source, args.input)
    except (graph.GraphError, SourceError) as exc:
        return fail(str(exc))
    if args.seconds < 0:
        return fail(f"--seconds {args.seconds:g} is negative")
    out = args.out or DEFAULT_OUT / time.strftime("%Y%m%d-%H%M%S")
    config = DemoConfig(demo_input, out, args.perception, arguments, max_duration_s=args.seconds)
    print(f"aria-nav demo: {demo_input.description}"
          f"{f', {demo_input.rgb_frames} RGB frames' if demo_input.rgb_frames else ''}; output in {out}/",
          flush=True)
    try:
        result = run_demo(config, terminal.show, terminal.status)
    except (ValueError, graph.GraphError, LaunchError, GraphFailure, VideoError) as exc:
        return fail(str(exc))
    terminal.end_status()
    summary = format_summary(result)
    print(summary, flush=True)
    (out / "summary.txt").write_text(summary.strip("\n") + "\n")
    (out / "summary.json").write_text(json.dumps(summary_record(result), indent=1) + "\n")
    if args.out is None:
        _point_latest(out)
    return 0


def _point_latest(out: Path) -> None:
    """out/demo/latest -> the newest run (a convenience; a file system without links just has none)."""
    latest = out.parent / "latest"
    try:
        if latest.is_symlink():
            latest.unlink()
        if not latest.exists():
            latest.symlink_to(out.name)
    except OSError:
        pass
