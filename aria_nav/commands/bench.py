"""`aria-nav bench ...`: measurements of the running graph. Numbers are printed (and saved as JSON), never asserted."""
from __future__ import annotations

import argparse
import json
import platform
import sys
from pathlib import Path


def _size(text: str) -> tuple:
    try:
        width, height = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a size like 704x704") from None
    return width, height


def _node_parameter(text: str) -> tuple:
    import yaml

    target, sep, value = text.partition("=")
    node, dot, name = target.partition(".")
    if not (sep and dot and node and name):
        raise argparse.ArgumentTypeError(f"'{text}' is not NODE.PARAM=VALUE")
    return node, name, yaml.safe_load(value)  # the ROS command-line typing: 518 int, 0.5 float, true bool


def register(subparsers) -> None:
    parser = subparsers.add_parser("bench", help="measure the graph: transport, latency, throughput")
    kinds = parser.add_subparsers(dest="kind", metavar="KIND", required=True)
    transport = kinds.add_parser("transport", help="cost of one image hop between two processes over DDS, "
                                                   "per image size and Fast DDS profile")
    transport.add_argument("--sizes", type=_size, nargs="+", default=[(1408, 1408), (704, 704), (640, 480)],
                           help="image sizes WxH (rgb8), default: %(default)s")
    transport.add_argument("--count", type=int, default=100, help="images per measurement")
    transport.add_argument("--rate", type=float, default=30.0, help="images per second")
    transport.add_argument("--json", type=Path, help="also write the rows to this JSON file")
    transport.set_defaults(func=bench_transport)

    graph = kinds.add_parser("graph", help="the whole graph as deployed (separate processes over DDS) on the sample "
                                           "recording at a fixed input rate: per-stage latency from the camera "
                                           "stamp, throughput, drops, CPU/GPU memory per process, and the floor "
                                           "(the same models in a bare loop)")
    graph.add_argument("--rate", type=float, default=30.0, help="camera input rate, Hz (default: %(default)s)")
    graph.add_argument("--duration", type=float, default=20.0, help="measured seconds (default: %(default)s)")
    graph.add_argument("--warmup", type=float, default=8.0, help="seconds discarded after the first output")
    graph.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    graph.add_argument("--rgb-size", type=int, default=0, help="camera's published RGB size (0: its default, 704)")
    graph.add_argument("--set", action="append", default=[], metavar="NODE.PARAM=VALUE", type=_node_parameter,
                       help="a node parameter for this run (repeatable), e.g. depth.output_width=518")
    graph.add_argument("--no-floor", action="store_true", help="skip the bare-loop floor measurement")
    graph.add_argument("--floor-only", action="store_true",
                       help="measure only the floor (the models in a bare loop, with the --set parameters)")
    graph.add_argument("--floor-frames", type=int, default=500, help="frames of the floor (default: %(default)s)")
    graph.add_argument("--sweep", type=float, nargs="+", metavar="HZ",
                       help="instead: increasing input rates; reports the highest with <= 1%% drops on the RGB path")
    graph.add_argument("--json", type=Path, help="also write the report to this JSON file")
    graph.add_argument("launch_arguments", nargs="*", metavar="name:=value",
                       help="launch arguments for the graph (models, slam, speech, ...), as for aria-nav launch")
    graph.set_defaults(func=bench_graph)

    depth_size = kinds.add_parser("depth-size", help="box distances on smaller depth images than the network's "
                                                     "518x518 (sample scene's exact depth): how small fusion's "
                                                     "depth can be")
    depth_size.add_argument("--json", type=Path, help="also write the rows to this JSON file")
    depth_size.set_defaults(func=bench_depth_size)

    table = kinds.add_parser("table", help="print the README's table of a saved graph report (--json of bench "
                                           "graph); --update rewrites that table in a README")
    table.add_argument("report", type=Path, help="JSON report of aria-nav bench graph")
    table.add_argument("--update", type=Path, metavar="README", help="replace the table between the bench-table "
                                                                     "markers of this file")
    table.set_defaults(func=bench_table)

    shutdown = kinds.add_parser("shutdown", help="stop the whole graph (and a bag recorder) again and again with "
                                                 "SIGINT and/or SIGTERM under a CPU burner on every core: stop "
                                                 "time of every node, escalations, complete bags and WAV files")
    shutdown.add_argument("--cycles", type=int, default=50, help="stops per signal (default: %(default)s)")
    shutdown.add_argument("--signals", nargs="+", choices=("SIGINT", "SIGTERM"), default=["SIGINT", "SIGTERM"])
    shutdown.add_argument("--no-burn", action="store_true", help="without the CPU burner")
    shutdown.add_argument("--second-after", type=float, metavar="S",
                          help="send a second signal S seconds after the first, measure until all are gone")
    shutdown.add_argument("--json", type=Path, help="also write every stop's numbers to this JSON file")
    shutdown.add_argument("--problem-log", type=Path, help="append the output of every stop with a problem here")
    shutdown.add_argument("launch_arguments", nargs="*", metavar="name:=value",
                          help="launch arguments for the graph, as for aria-nav launch")
    shutdown.set_defaults(func=bench_shutdown)

    outages = kinds.add_parser("outages", help="what the wearer hears: the looped sample for a while (health "
                                               "sentences, memory), then kill -9 of each node in turn")
    outages.add_argument("--soak-minutes", type=float, default=10.0, help="0: no soak (default: %(default)s)")
    outages.add_argument("--kill", nargs="*", default=["camera", "detector", "depth", "fusion", "speech"],
                         metavar="NODE", help="nodes to kill in turn (default: %(default)s)")
    outages.add_argument("--settle", type=float, default=30.0, help="seconds listened to after a node is back")
    outages.add_argument("launch_arguments", nargs="*", metavar="name:=value",
                         help="launch arguments for the graph, as for aria-nav launch")
    outages.set_defaults(func=bench_outages)


def bench_transport(args: argparse.Namespace) -> int:
    from aria_nav.bench import transport

    rows = transport.run(args.sizes, count=args.count, rate_hz=args.rate)
    print(f"one-hop image transport on {platform.node()} ({platform.processor() or platform.machine()}), "
          f"{args.count} images at {args.rate:g} Hz, sensor-data QoS (best effort, keep last 1)")
    print(transport.format_table(rows))
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))
    return 0


def bench_graph(args: argparse.Namespace) -> int:
    from aria_nav import graph as graph_description
    from aria_nav.bench import graph

    try:
        arguments = graph_description.parse_assignments(args.launch_arguments)
        graph_description.resolve_arguments(arguments)
    except graph_description.GraphError as exc:
        print(f"aria-nav bench: {exc}", file=sys.stderr)
        return 2
    node_parameters: dict = {}
    for node, name, value in args.set:
        node_parameters.setdefault(node, {})[name] = value
    config = graph.BenchConfig(rate_hz=args.rate, duration_s=args.duration, warmup_s=args.warmup,
                               device=args.device, arguments=arguments, rgb_size=args.rgb_size,
                               node_parameters=node_parameters)
    print(f"machine: {platform.node()} ({platform.processor() or platform.machine()}), device {args.device}")
    if args.floor_only:
        report = {"config": {"device": args.device, "arguments": arguments, "rgb_size": args.rgb_size,
                             "node_parameters": node_parameters},
                  "floor": graph.measure_floor(config, args.floor_frames)}
        print(graph.format_floor(report["floor"]))
    elif args.sweep:
        report = graph.sweep(config, sorted(args.sweep))
        print(f"highest sustained input rate with <= 1% drops on the RGB path: {report['max_sustained_rate_hz']} Hz")
    else:
        report = graph.run_graph(config)
        if not args.no_floor:
            report["floor"] = graph.measure_floor(config, args.floor_frames)
        print(graph.format_report(report, report.get("floor")))
        print(graph.markdown_table(report))
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))
    return 0


def bench_table(args: argparse.Namespace) -> int:
    from aria_nav.bench import graph

    try:
        report = json.loads(args.report.read_text())
        table = graph.markdown_table(report, source=args.report.name)
    except (OSError, ValueError, KeyError) as exc:
        print(f"aria-nav bench: {args.report}: not a bench graph report ({type(exc).__name__}: {exc})",
              file=sys.stderr)
        return 2
    print(table)
    if args.update:
        try:
            args.update.write_text(graph.replace_readme_table(args.update.read_text(), table))
        except (OSError, ValueError) as exc:
            print(f"aria-nav bench: {args.update}: {exc}", file=sys.stderr)
            return 2
    return 0


def bench_depth_size(args: argparse.Namespace) -> int:
    from aria_nav.bench import depth_size

    rows = depth_size.evaluate()
    print(depth_size.format_table(rows))
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))
    return 0


def bench_shutdown(args: argparse.Namespace) -> int:
    import dataclasses
    import os
    import signal

    from aria_nav.bench import shutdown

    print(f"machine: {platform.node()}, {os.cpu_count()} cores, load average "
          f"{' '.join(f'{v:.1f}' for v in os.getloadavg())}; CPU burner {'off' if args.no_burn else 'on'}",
          flush=True)
    results = shutdown.run_cycles(args.cycles, [signal.Signals[name] for name in args.signals],
                                  args.launch_arguments, burn=not args.no_burn, second_after_s=args.second_after,
                                  report=lambda line: print(line, flush=True), problem_log=args.problem_log)
    print(f"load average at the end: {' '.join(f'{v:.1f}' for v in os.getloadavg())}")
    print(shutdown.summarise(results))
    if args.json:
        rows = [{k: v for k, v in dataclasses.asdict(r).items() if k != "output"} for r in results]
        args.json.write_text(json.dumps(rows, indent=2))
    return 0 if all(r.clean for r in results) else 1


def bench_outages(args: argparse.Namespace) -> int:
    import os

    from aria_nav import graph as graph_description
    from aria_nav.bench import outages

    arguments = graph_description.parse_assignments(args.launch_arguments)
    print(f"machine: {platform.node()}, {os.cpu_count()} cores, load average "
          f"{' '.join(f'{v:.1f}' for v in os.getloadavg())}", flush=True)
    report = lambda line: print(line, flush=True)  # noqa: E731
    if args.soak_minutes > 0:
        result = outages.soak(args.soak_minutes * 60, arguments, report=report)
        print(outages.format_soak(result), flush=True)
    if args.kill:
        results = outages.kill_each(args.kill, arguments, args.settle, report=report)
        print("\n".join(outages.format_kill(result) for result in results))
    print(f"load average at the end: {' '.join(f'{v:.1f}' for v in os.getloadavg())}")
    return 0
