"""`aria-nav replay [INPUT] --golden FILE [--update-golden]`: deterministic regression replay of the graph.

Runs the graph in lock-step on a recording (every frame processed once, in order; aria_nav.replay.run), compares
its detections, depth statistics, obstacles and announcements with a golden file within tolerances and prints what
differs. Exit status: 0 matches, 1 regression, 2 the replay could not run (input, settings, golden file, graph).
The golden file holds the settings it was made with; they are the starting point of every replay against it, and
what the command line gives is applied on top. See docs/bags.md.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import Dict, List

import yaml

EXIT_REGRESSION = 1
EXIT_CANNOT_RUN = 2
PROGRESS_EVERY = 10  # frames between progress lines when stderr is not a terminal


def _positive_int(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"'{text}' is not a whole number >= 1")
    return int(text)


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "replay", help="deterministic regression replay of a recording against a golden file",
        description=__doc__.split("\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="examples:\n"
               "  aria-nav replay --golden test/golden/sample_replay.json          # the sample, golden's settings\n"
               "  aria-nav replay walk_bag depth_model:=depth_anything_v2_small_266.onnx --golden walk.json "
               "--update-golden\n"
               "  aria-nav replay --golden test/golden/sample_replay.json --set detector.conf_threshold=0.3")
    parser.add_argument("items", nargs="*", metavar="INPUT | name:=value",
                        help="the recording (default: the packaged sample), then launch arguments as for "
                             "aria-nav launch (models, slam, params_file, ...); all of them in one group, before or "
                             "after the options")
    parser.add_argument("--golden", type=Path, required=True, help="golden file (JSON) to compare with or write")
    parser.add_argument("--update-golden", action="store_true", help="write this run as the golden file")
    parser.add_argument("--source", choices=("bag", "vrs", "video"), help="kind of INPUT (default: the golden's, "
                                                                           "else bag)")
    parser.add_argument("--stride", type=_positive_int, help="replay every Nth frame only (IMU samples all; "
                                                              "default: the golden's, else 1)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="NODE.PARAM=VALUE",
                        help="parameter override of a node (camera: how frames are prepared), YAML value; "
                             "repeatable")
    parser.add_argument("--verbose", "-v", action="store_true", help="show the nodes' output")
    parser.set_defaults(func=replay)


def parse_override(text: str) -> tuple:
    """'node.param=value' -> (node, param, value); the value is read as YAML (0.3, true, [1, 2], text)."""
    target, sep, value_text = text.partition("=")
    node, dot, param = target.partition(".")
    if not sep or not dot or not node or not param:
        raise ValueError(f"--set '{text}': write NODE.PARAM=VALUE, e.g. detector.conf_threshold=0.3")
    try:
        value = yaml.safe_load(value_text) if value_text.strip() else ""
    except yaml.YAMLError:
        raise ValueError(f"--set '{text}': the value is not YAML") from None
    items = value if isinstance(value, list) else [value]
    if not all(isinstance(v, (bool, int, float, str)) for v in items):
        raise ValueError(f"--set '{text}': {value!r} is not a parameter value (bool, number, text or a list)")
    return node, param, value


def _merged_settings(args: argparse.Namespace, base: Dict) -> Dict:
    from aria_nav import graph

    arguments = dict(base.get("arguments", {}))
    arguments.update(graph.parse_assignments([item for item in args.items if ":=" in item]))
    overrides: Dict[str, Dict] = {node: dict(params) for node, params in base.get("overrides", {}).items()}
    for text in args.overrides:
        node, param, value = parse_override(text)
        overrides.setdefault(node, {})[param] = value
    return {"source": args.source or base.get("source", "bag"), "stride": args.stride or base.get("stride", 1),
            "arguments": arguments, "overrides": overrides}


def _progress_printer():
    interactive = sys.stderr.isatty()

    def show(index: int, t_s: float, seconds_per_frame: float) -> None:
        line = f"replay: frame {index} (t={t_s:.2f} s), {seconds_per_frame:.2f} s per frame"
        if interactive:
            print(f"\r{line}   ", end="", file=sys.stderr, flush=True)
        elif index % PROGRESS_EVERY == 0:
            print(line, file=sys.stderr, flush=True)
    return show


def _shown_path(path: str) -> str:
    """Relative to the current directory when inside it: what the golden file records, the same on every checkout."""
    relative = os.path.relpath(path)
    return path if relative.startswith("..") else relative


def _fail(message: str) -> int:
    print(f"aria-nav replay: {message}", file=sys.stderr, flush=True)
    return EXIT_CANNOT_RUN


def replay(args: argparse.Namespace) -> int:
    from aria_nav import graph, paths
    from aria_nav.core.replay import GoldenError, RunRecord, compare, format_comparison
    from aria_nav.replay.run import ReplayConfig, ReplayError, run_replay
    from aria_nav.replay.session import GraphFailure

    inputs: List[str] = [item for item in args.items if ":=" not in item]
    if len(inputs) > 1:
        return _fail(f"one recording at a time (got {', '.join(inputs)}); launch arguments are name:=value")
    golden = None
    try:
        golden = RunRecord.load(args.golden)
    except GoldenError as exc:
        if not args.update_golden:
            return _fail(str(exc))
        if args.golden.exists():
            print(f"aria-nav replay: not reusing the settings of {args.golden}: {exc}", file=sys.stderr)
    try:
        settings = _merged_settings(args, golden.settings if golden else {})
    except (ValueError, graph.GraphError) as exc:
        return _fail(str(exc))
    config = ReplayConfig(_shown_path(inputs[0] if inputs else str(paths.sample_dir())), settings["source"],
                          settings["arguments"], settings["overrides"], settings["stride"])
    echo = (lambda source, line: print(f"[{source}] {line}", file=sys.stderr, flush=True)) if args.verbose else None
    started = time.monotonic()
    try:
        run = run_replay(config, _progress_printer(), echo)
    except (ReplayError, GraphFailure) as exc:
        return _fail(str(exc))
    except KeyboardInterrupt:
        return _fail("interrupted")
    if sys.stderr.isatty():
        print(file=sys.stderr)
    elapsed = time.monotonic() - started
    said = len(run.announcements)
    print(f"replayed {len(run.frames)} frames of {config.input} in {elapsed:.1f} s "
          f"({said} announcement{'s' * (said != 1)})")
    if args.update_golden:
        run.save(args.golden)
        print(f"golden file written: {args.golden}")
        return 0
    result = compare(golden, run)
    print(format_comparison(result, str(args.golden), run))
    return 0 if result.passed else EXIT_REGRESSION
