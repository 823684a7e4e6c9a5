"""`aria-nav launch [name:=value ...]`: the whole graph as separate node processes, without a ROS installation.

Same arguments as `ros2 launch aria_nav nav.launch.py` (both read aria_nav.graph); see docs/launch.md.
"""
from __future__ import annotations

import argparse
import shlex
import sys


def _arguments_help() -> str:
    from aria_nav import graph

    lines = ["launch arguments (name:=value):"]
    for arg in graph.launch_arguments():
        choices = f" [{'|'.join(arg.choices)}]" if arg.choices else ""
        lines.append(f"  {arg.name}{choices} (default: {arg.default or 'empty'})\n      {arg.description}")
    lines.append("nodes: " + ", ".join(spec.name for spec in graph.NODES))
    return "\n".join(lines)


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "launch", help="start the graph (every node its own process), like ros2 launch aria_nav nav.launch.py",
        description=__doc__.split("\n")[0], epilog=_arguments_help(),
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("assignments", nargs="*", metavar="name:=value", help="launch arguments (listed below)")
    parser.add_argument("--nodes", default=None, metavar="NAME[,NAME...]",
                        help="start only these nodes, whatever the on/off arguments say")
    parser.add_argument("--dry-run", action="store_true", help="print each node's command line and exit")
    parser.set_defaults(func=launch)


def launch(args: argparse.Namespace) -> int:
    from aria_nav import graph
    from aria_nav.runner import LaunchError, Runner

    nodes = [name.strip() for name in args.nodes.split(",") if name.strip()] if args.nodes is not None else None
    try:
        runner = Runner(graph.parse_assignments(args.assignments), nodes=nodes)
    except (graph.GraphError, LaunchError) as exc:
        print(f"aria-nav launch: {exc}", file=sys.stderr)
        return 2
    if args.dry_run:
        for name, argv in runner.commands.items():
            print(f"{name}: {shlex.join(argv)}")
        for name in runner.not_installed:
            print(f"{name}: not installed here")
        return 0
    return runner.run()
