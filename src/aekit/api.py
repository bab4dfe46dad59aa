"""The public Python API, mirroring the CLI: train, load, datasets and models."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from aekit.config import Config
from aekit.run import SUMMARY, Run, read_run_config
from aekit.training.trainer import Trainer, config_from_any


def train(
    config: Config | dict | str | Path | None = None,
    callbacks: list[Any] = (),
    *,
    report: bool = True,
    resume: str | Path | None = None,
    fit_defaults: bool = True,
    figures: bool = True,
    **sections,
) -> Run:
    """Train a model as configured and write its run folder.

    ``config`` is a :class:`Config`, a nested dict ({"model": {...}, "train": {...}}), or a
    path to a TOML file; keyword sections (``train={"epochs": 5}``) are applied on top.
    ``data`` may also be the samples themselves: a NumPy array (N, D) or images, or an
    :class:`aekit.data.Dataset` (``aekit.train(data=X, model={"name": "linear"})``); nothing is
    written to disk for it, and the run folder names it by its shape.
    ``report``: also write eval.json, the ``run.after`` figures, report.html, README.md and,
    for plain autoencoders, prior.json (a Gaussian fitted to the training codes).
    ``resume``: a run folder to continue, in place, from its last checkpoint up to
    ``train.epochs``; without ``config`` its own config.json is the starting point
    (``aekit.train(resume=run_dir, train={"epochs": 40})`` extends it), and with one the
    settings it does not give are the run's own (those fitted to its data, its precision). Under ``torchrun`` every
    process calls this; only rank 0 writes files, and the others get a Run with no ``result``.
    ``fit_defaults``: settings not given fit the data (a batch no larger than the
    training set; for tables a smaller code, lr 1e-2, at least 2,000 steps: see
    ``aekit.training.data_defaults``) and the machine (bf16 autocast for a model with
    convolutions on a CPU with native bfloat16); False keeps every setting as given.
    ``figures``: draw plots/loss.png and the reconstruction grids; False draws none (for a
    run folder that is thrown away, as the scikit-learn estimators' are).
    """
    from aekit.data import Dataset, array_to_dataset, in_memory

    args = (config, callbacks, report, resume, fit_defaults, figures)
    data = sections.get("data")
    if data is None or isinstance(data, dict):
        return _train(*args, sections)
    if not isinstance(data, Dataset):
        data = array_to_dataset(data, None, "array")
    with in_memory(data) as name:
        return _train(*args, {**sections, "data": {"name": name}})


def _train(
    config, callbacks, report: bool, resume, fit_defaults: bool, figures: bool, sections: dict
) -> Run:
    from aekit.config import apply_config_dict
    from aekit.report.figures import check_kinds
    from aekit.viz.run_plots import RunPlots

    if resume is not None and config is None:
        config = Run.load(resume).config
    cfg = config_from_any(config)
    if sections:
        cfg = apply_config_dict(cfg, sections)
    check_kinds(cfg.run.after)  # the config checks only their form; before any run folder
    cbs = [*([RunPlots(cfg.train.recon_every)] if figures else []), *callbacks]
    if cfg.train.tensorboard:
        from aekit.training.tensorboard import TensorBoardLogger

        cbs.append(TensorBoardLogger())

    def end_of_run(state) -> None:  # under the run folder's lock; a --resume redoes it
        info = read_run_config(state.run_dir)
        run = Run(
            state.run_dir, info, state.model.eval(), config=state.config, history=state.history
        )
        _write_summary_txt(run)
        if report:
            from aekit.report.finish import finish_run

            finish_run(run, cfg.run.after)

    trainer = Trainer(cfg, cbs, resume=resume, end_of_run=end_of_run, fit_defaults=fit_defaults)
    state = trainer.run()
    cfg = state.config  # with the defaults fitted to the data
    if state.rank != 0:
        return Run(state.run_dir, {}, state.model.eval(), config=cfg, history=state.history)
    info = read_run_config(state.run_dir)
    return Run(state.run_dir, info, state.model.eval(), config=cfg, history=state.history)


def train_recipe(
    name: str, callbacks: list[Any] = (), *, report: bool = True, **sections
) -> list[Run]:
    """Train a named recipe (``aekit recipes``): one :class:`Run` per ``[[variants]]`` table,
    in order (one when it has none), each in its own run folder. Keyword sections
    (``data={"limit": 500}``) apply to all; every variant's config is checked before any
    trains. ``report``: as for :func:`train`."""
    from aekit.recipes import recipe_configs

    cfgs = recipe_configs(name, sections)
    return [train(cfg, callbacks, report=report) for _, cfg in cfgs]


def load(run_dir: str | Path, device: str | torch.device = "cpu") -> torch.nn.Module:
    """The trained model of a run folder, with ``encode``, ``decode``, ``reconstruct``: eval
    mode, parameters frozen (``requires_grad_(True)`` to train it on). Its run folder (config,
    data, metrics, prior) is ``aekit.Run.load(run_dir)``; this is ``Run.load(run_dir).model``.
    """
    return Run.load(run_dir, device).model


def _write_summary_txt(run: Run) -> None:
    run_dir, info = run.path, run.info
    r = run.result
    lines = [
        f"run: {run_dir}",
        f"model: {info['model']['name']}  parameters: {info['parameters']:,}  input: {info['input_shape']}",
        f"data: {info['data']['name']}  train {info['data']['n_train']}  validation {info['data']['n_val']}",
        f"epochs: {r.get('epochs')}  steps: {r.get('steps')}  time: {r.get('train_seconds')} s  device: {info['device']}  precision: {run.config.train.precision}",
        f"final train loss: {r.get('train_loss', float('nan')):.6g}",
        f"final validation loss: {r.get('val_loss', float('nan')):.6g}",
    ]
    lines += [
        f"{k}: {v:.6g}"
        for k, v in r.items()
        if isinstance(v, float) and k not in ("train_loss", "val_loss")
    ]
    (run_dir / SUMMARY).write_text("\n".join(lines) + "\n")
