"""`aria-nav`: the project's command line. Each subcommand is a module in aria_nav.commands with
register(subparsers), which adds its parser and sets `func` to the function that runs it."""
from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys
from typing import List, Optional

from aria_nav import commands


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="aria-nav", description=__doc__.split("\n")[0])
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for info in sorted(pkgutil.iter_modules(commands.__path__), key=lambda m: m.name):
        importlib.import_module(f"aria_nav.commands.{info.name}").register(subparsers)
    return parser


def main(argv: Optional[List[str]] = None) -> None:
    args = build_parser().parse_args(argv)
    sys.exit(args.func(args) or 0)


if __name__ == "__main__":
    main()
