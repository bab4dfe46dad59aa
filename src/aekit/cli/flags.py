"""Arguments several commands share: a run folder, and the data to use it on."""

from __future__ import annotations

import argparse

RUN_DIR = "a run folder made by `aekit train`"
SPLITS = ("all", "train", "val", "test")


class Once(argparse.Action):
    """An option given at most once: a second value is an error, not a silent override."""

    def __call__(self, parser, namespace, values, option_string=None):
        if getattr(namespace, self.dest, None) != self.default:
            parser.error(
                f"{option_string} given twice ({getattr(namespace, self.dest)!r} and "
                f"{values!r}); give it once"
            )
        setattr(namespace, self.dest, values)


def add_run_and_data(
    p: argparse.ArgumentParser,
    split: str,
    split_help: str,
    data_help: str = "dataset name or path (default: the run's data)",
) -> None:
    """RUN_DIR, --data, --data-dir and --split (default ``split``)."""
    p.add_argument("run_dir", help=RUN_DIR)
    p.add_argument("--data", help=data_help)
    p.add_argument("--data-dir", help="folder with the IDX files (mnist, fashion-mnist)")
    p.add_argument("--split", default=split, choices=SPLITS, help=split_help)
