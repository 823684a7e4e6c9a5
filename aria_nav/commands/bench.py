"""`aria-nav bench ...`: measurements of the running graph. Numbers are printed (and saved as JSON), never asserted."""
from __future__ import annotations

import argparse
import json
import platform
from pathlib import Path


def _size(text: str) -> tuple:
    try:
        width, height = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a size like 704x704") from None
    return width, height


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


def bench_transport(args: argparse.Namespace) -> int:
    from aria_nav.bench import transport

    rows = transport.run(args.sizes, count=args.count, rate_hz=args.rate)
    print(f"one-hop image transport on {platform.node()} ({platform.processor() or platform.machine()}), "
          f"{args.count} images at {args.rate:g} Hz, sensor-data QoS (best effort, keep last 1)")
    print(transport.format_table(rows))
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))
    return 0
