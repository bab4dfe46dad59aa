"""`aekit` entry point: one sub-command per module, errors as one line on stderr, exit code 2."""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

from aekit.errors import AekitError

# each module has add_parser(subparsers) and run(args) -> int
COMMANDS = [
    "aekit.cli.cmd_train",
    "aekit.cli.cmd_info",
    "aekit.cli.cmd_bench",
    "aekit.cli.cmd_eval",
    "aekit.cli.cmd_plot",
    "aekit.cli.cmd_report",
    "aekit.cli.cmd_use",
    "aekit.cli.cmd_explore",
    "aekit.cli.cmd_export",
]


def build_parser() -> tuple[argparse.ArgumentParser, dict]:
    parser = argparse.ArgumentParser(
        prog="aekit", description="Autoencoders on PyTorch: train, see, measure, use."
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    handlers = {}
    for mod_name in COMMANDS:
        mod = importlib.import_module(mod_name)
        for name in mod.add_parser(sub):
            handlers[name] = mod
    return parser, handlers


def main(argv: list[str] | None = None) -> int:
    parser, handlers = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(levelname)s: %(message)s",
        stream=sys.stderr,
    )
    for noisy in ("matplotlib", "PIL"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    if not args.command:
        parser.print_help()
        return 0
    try:
        return handlers[args.command].run(args) or 0
    except AekitError as e:
        print(f"aekit: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("aekit: interrupted; files written so far are kept", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
