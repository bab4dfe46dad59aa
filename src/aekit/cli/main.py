"""`aekit` entry point: one sub-command per module, errors as one line on stderr, exit code 2."""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import re
import sys
import tempfile
import traceback

from aekit.errors import AekitError, TrainingInterrupted
from aekit.training.threads import ThreadPolicy

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
    "aekit.cli.cmd_score",
    "aekit.cli.cmd_data",
]


#: a number or a list of numbers (commas or spaces between): argparse reads an argument that
#: starts with "-" as a value only when it matches its negative-number pattern, which misses
#: "-1.2,0.5" and "-1e-3" (so `aekit generate RUN --z -1.2,0.5` would fail)
_NUM = r"[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?"
NEGATIVE_NUMBERS = re.compile(rf"^-(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?([, ]+{_NUM})*,?$")


class Parser(argparse.ArgumentParser):
    """argparse, with its errors as one line (it prints the usage block first), no
    abbreviated options (a typo such as --epoch must not pass for --epochs), and negative
    numbers (and lists of them) read as values."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("allow_abbrev", False)
        super().__init__(*args, **kwargs)
        # argparse's own (private) hook; tests/test_cli.py checks the result on this Python
        self._negative_number_matcher = NEGATIVE_NUMBERS

    def error(self, message: str):
        print(f"aekit: error: {message} (see `{self.prog} --help`)", file=sys.stderr)
        raise SystemExit(2)


def build_parser() -> tuple[argparse.ArgumentParser, dict]:
    parser = Parser(prog="aekit", description="Autoencoders on PyTorch: train, see, measure, use.")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    handlers = {}
    for mod_name in COMMANDS:
        mod = importlib.import_module(mod_name)
        for name in mod.add_parser(sub):
            handlers[name] = mod
    return parser, handlers


def who() -> str:
    """The name an error line starts with: "aekit", or under torchrun "aekit[rank N]", as
    each process prints its own line and one rank's may differ from the others'."""
    if int(os.environ.get("WORLD_SIZE", "1")) > 1:
        return f"aekit[rank {os.environ.get('RANK', '?')}]"
    return "aekit"


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
    # the whole command (loading, evaluation, figures) on the cores other processes leave free;
    # the trainer re-checks while it trains (training/threads.py)
    ThreadPolicy("auto").apply(quiet=True)
    me = who()
    try:
        code = handlers[args.command].run(args) or 0
        sys.stdout.flush()  # here, so that a reader gone early is met by the handler below
        return code
    except TrainingInterrupted as e:  # a checkpoint was written: the message says how to go on
        print(f"{me}: {e}", file=sys.stderr)
        return 130
    except AekitError as e:
        print(f"{me}: error: {one_line(e)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"{me}: interrupted; files written so far are kept", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `aekit ... | head`: the reader has what it wanted; say nothing
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # (Python's own recipe)
        return 141  # as a process killed by SIGPIPE, like `seq 1 1000000 | head -1`
    except OSError as e:  # a read-only or full folder, a missing file: the user's to fix
        where = f" {e.filename}" if e.filename else ""
        print(f"{me}: error: cannot use{where}: {e.strerror or e}", file=sys.stderr)
        return 2
    except MemoryError:
        # no command has a --limit option: name the config key that keeps part of the data
        print(
            f"{me}: error: out of memory; use smaller sizes or less data "
            "(e.g. --set data.limit=N when training)",
            file=sys.stderr,
        )
        return 2
    except Exception as e:  # a bug: one line here, the traceback in a file (or on screen, -v)
        if args.verbose:
            traceback.print_exc()
        where = save_traceback()
        print(
            f"{me}: internal error ({type(e).__name__}: {one_line(e)}): a bug in aekit; "
            f"the traceback is in {where} (or run again with -v)",
            file=sys.stderr,
        )
        return 1


def one_line(e: BaseException) -> str:
    """The first line of an exception's message (some libraries' run over many lines)."""
    text = str(e).strip()
    return text.splitlines()[0] if text else type(e).__name__


def save_traceback() -> str:
    """The current exception's traceback, in a file of its own in the temporary folder."""
    fd, path = tempfile.mkstemp(prefix="aekit-traceback-", suffix=".txt")
    with os.fdopen(fd, "w") as f:
        traceback.print_exc(file=f)
    return path


if __name__ == "__main__":
    sys.exit(main())
