"""`aekit train`: defaults < --recipe < --config FILE < flags < --set section.key=value."""

from __future__ import annotations

import argparse
import os
import sys

from aekit.cli.flags import Once
from aekit.config import (
    Config,
    Loss,
    Optimizer,
    Schedule,
    TrainConfig,
    describe,
    load_config_file,
    parse_set,
)
from aekit.errors import ConfigError
from aekit.recipes import recipe_configs

DEFAULT = TrainConfig()  # the defaults the flags' help names
# flag -> (section, key)
FLAGS = {
    "data": ("data", "name"),
    "data_dir": ("data", "data_dir"),
    "label_column": ("data", "label_column"),
    "image_size": ("data", "image_size"),
    "pixel_range": ("data", "pixel_range"),
    "model": ("model", "name"),
    "latent_dim": ("model", "latent_dim"),
    "epochs": ("train", "epochs"),
    "batch_size": ("train", "batch_size"),
    "lr": ("train", "lr"),
    "optimizer": ("train", "optimizer"),
    "schedule": ("train", "schedule"),
    "loss": ("train", "loss"),
    "seed": ("train", "seed"),
    "device": ("train", "device"),
    "precision": ("train", "precision"),
    "name": ("run", "name"),
    "out": ("run", "out_dir"),
}


def add_data_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--data", help="dataset name (`aekit datasets`) or a path: image folder, .npy/.npz, .csv"
    )
    p.add_argument("--data-dir", help="folder with the IDX files (mnist, fashion-mnist)")
    p.add_argument(
        "--image-size", type=int, nargs=2, metavar=("H", "W"), help="resize images to H W"
    )


def add_parser(sub) -> list[str]:
    p = sub.add_parser(
        "train",
        help="train an autoencoder and write a run folder",
        description="Train an autoencoder. Settings: defaults < --recipe < --config < flags < "
        "--set. Several processes training one model (DDP): "
        "torchrun --nproc_per_node=N -m aekit.cli.main train ...",
    )
    p.add_argument(
        "--resume",
        metavar="RUN_DIR",
        help="continue RUN_DIR from its last checkpoint, in place, with its own settings; "
        "--epochs N (or --set train.epochs=N) extends a finished run",
    )
    p.add_argument("--recipe", action=Once, help="a classic experiment (`aekit recipes`)")
    p.add_argument("--config", action=Once, help="a run.toml: [data] [model] [train] [run]")
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="SECTION.KEY=VALUE",
        help="override any key, e.g. --set model.hidden=[128,64] (repeatable)",
    )
    add_data_flags(p)
    p.add_argument(
        "--label-column",
        metavar="NAME",
        help="a CSV's column of labels: kept out of the model's input (default: a column "
        "named label, target, y or class)",
    )
    p.add_argument("--pixel-range", choices=["01", "-11"], help="scale pixels to [0,1] or [-1,1]")
    p.add_argument("--model", help="model name (`aekit models`)")
    p.add_argument("--latent-dim", type=int, help="code size")
    p.add_argument(
        "--epochs", type=int, help=f"passes over the training data (default {DEFAULT.epochs})"
    )
    p.add_argument(
        "--batch-size",
        type=int,
        help=f"samples per optimiser step (default {DEFAULT.batch_size}, at most the training set)",
    )
    p.add_argument("--lr", type=float, help="learning rate")
    p.add_argument("--optimizer", help=describe(Optimizer))
    p.add_argument("--schedule", help=describe(Schedule))
    p.add_argument("--loss", help=describe(Loss))
    p.add_argument(
        "--seed",
        type=int,
        help=f"seed of the weights, batch order and noise (default {DEFAULT.seed})",
    )
    p.add_argument("--device", help="auto, cpu, cuda, cuda:N")
    p.add_argument("--precision", help="fp32 (default), bf16 (autocast), fp16 (CUDA)")
    p.add_argument("--name", help="run folder name")
    p.add_argument("--out", help="parent folder of run folders (default: runs)")
    p.add_argument("--tensorboard", action="store_true", help="also write TensorBoard event files")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    return ["train"]


def configs_from_args(args) -> list[tuple[str | None, Config]]:
    """(variant name, config) of each run to train: one per variant of ``--recipe`` (one
    with the name None otherwise); every config is built, so checked, before any run starts."""
    base = None
    if getattr(args, "resume", None):
        if args.recipe or args.config:
            raise ConfigError(
                f"--resume takes the run's settings from {args.resume}/config.json; drop "
                "--recipe/--config (flags and --set may still change train.epochs and the like)"
            )
        from aekit.training.checkpoint import resume_config

        base = resume_config(args.resume)
    flags: dict = {}
    for attr, (section, key) in FLAGS.items():
        v = getattr(args, attr, None)
        if v is not None:
            flags.setdefault(section, {})[key] = list(v) if isinstance(v, tuple) else v
    if args.tensorboard:
        flags.setdefault("train", {})["tensorboard"] = True
    file = load_config_file(args.config) if args.config else {}
    return recipe_configs(args.recipe, file, flags, parse_set(args.set), base=base)


def run(args) -> int:
    import aekit
    from aekit.cli.progress import ProgressBar
    from aekit.run import CARD, CHECKPOINT, CONFIG, METRICS, PLOTS, REPORT, SUMMARY, WEIGHTS

    cfgs = configs_from_args(args)  # all checked first
    main_rank = os.environ.get("RANK", "0") == "0"  # under torchrun, rank 0 speaks for all
    show = not args.no_progress and sys.stderr.isatty() and main_rank
    done = []
    for vname, cfg in cfgs:
        if vname is not None:
            print(f"== {args.recipe}: variant {vname!r}")
        run = aekit.train(cfg, callbacks=[ProgressBar(show)], resume=args.resume)
        if not main_rank:
            continue
        print((run.run_dir / SUMMARY).read_text(), end="")
        names = [CONFIG, WEIGHTS, METRICS, REPORT, CARD, f"{PLOTS}/", f"{CHECKPOINT}/"]
        present = [n for n in names if (run.run_dir / n.rstrip("/")).exists()]
        print(f"files: {run.run_dir}/ ({', '.join(present)})")
        done.append((vname, run))
    if len(done) > 1 and main_rank:
        w = max(len(v) for v, _ in done) + 2
        print(f"\n{'variant':<{w}}{'val_loss':>12}{'val_mse':>12}{'vs PCA':>9}  run folder")
        for vname, run in done:
            r = run.result
            print(
                f"{vname:<{w}}{r.get('val_loss', float('nan')):>12.5g}"
                f"{r.get('val_mse', float('nan')):>12.5g}"
                f"{r.get('val_mse_over_pca', float('nan')):>9.3f}  {run.run_dir}"
            )
    return 0
