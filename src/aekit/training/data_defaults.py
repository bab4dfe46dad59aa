"""Defaults that fit the user's data, applied where the config first meets the data: a batch no
larger than the training set, and tabular settings for (N, D) rows. Only settings the user did
not give change (``Config.is_given``: a value given equal to its default still wins), and each
change is logged."""

from __future__ import annotations

import dataclasses
import logging
import math

from aekit._registry import model_config
from aekit.config import Config
from aekit.data import Dataset
from aekit.models.mlp import MLPConfig
from aekit.models.tabular import table_model

log = logging.getLogger(__name__)

SMALL_VAL = 20  # validation splits smaller than this give noisy figures and metrics
TABLE_STEPS = 2000  # optimiser steps a table gets at least (20 epochs of 600 rows are 100)
TABLE_LR = 1e-2  # Adam on min-max scaled columns (3e-3: the linear AE 1.015x PCA, 1e-2: 1.005x)
TABLE_HIDDEN = [64]  # hidden widths for tables of up to 64 columns ([256, 64] overfits 600 rows)
TINY_IMAGES = 500  # fewer training images than this: the default model is PCA-started linear
IMAGE_STEPS = 2000  # optimiser steps a small image set (< SMALL_IMAGES) gets at least
SMALL_IMAGES = 2000
TABLE_ACTIVATION = "elu"  # smooth: ReLU's kinks left 1.04-1.13x PCA on near-linear tables


def fit_to_data(cfg: Config, train: Dataset, val: Dataset) -> Config:
    """``cfg`` with its default batch size, and for tables its default code size, widths,
    output activation, lr and epochs, fitted to the data (a new Config; ``cfg`` is unchanged)."""
    cfg = dataclasses.replace(cfg, train=dataclasses.replace(cfg.train), model=dict(cfg.model))
    t = cfg.train
    if "table" in train.info:  # categories or missing cells: the tabular model's layout
        cfg.model = table_model(cfg.model, train.info["table"])
    if train.x.dim() == 2 and train.x.dtype.is_floating_point:
        _table_defaults(cfg, train.x.shape[1], len(train))
    elif train.is_image:
        _small_image_defaults(cfg, len(train))
    if not cfg.is_given("train.batch_size") and t.batch_size > len(train):
        log.info("batch size %d -> %d: the whole training set", t.batch_size, len(train))
        t.batch_size = len(train)
    if 0 < len(val) < SMALL_VAL and val is not train:
        log.warning(
            "the validation split has only %d samples: its losses and figures are noisy; "
            "use more data or a larger --set data.val_fraction",
            len(val),
        )
    return cfg


def _small_image_defaults(cfg: Config, n_train: int) -> None:
    """Few images. Under TINY_IMAGES, with no model chosen, the linear autoencoder started at
    the principal components: a nonlinear one memorises so few images (Fashion-MNIST at 64x64,
    default MLP: 36 images 1.95x PCA's validation error, 180 images 1.41x even after 2,000
    steps; 900 images 0.93x after 2,400 steps). Under SMALL_IMAGES, at least IMAGE_STEPS
    steps (the default 20 epochs of 900 images are 160 steps: 1.63x PCA)."""
    t, m = cfg.train, cfg.model
    if n_train < TINY_IMAGES and not any(
        cfg.is_given(f"model.{k}") for k in m if k != "latent_dim"
    ):
        if not cfg.is_given("train.optimizer"):  # Adam's per-weight steps would leave the optimum
            t.optimizer = "sgd"
        cfg.model = {
            "name": "linear",
            "init": "pca",
            **{k: v for k, v in m.items() if k == "latent_dim"},
        }
        log.info(
            "%d training images: a nonlinear autoencoder would memorise them, so the model is "
            "the linear one started at the principal components (PCA), trained with SGD; pass "
            "--model mlp to train one anyway",
            n_train,
        )
    elif n_train < SMALL_IMAGES and not cfg.is_given("train.epochs"):
        steps = math.ceil(n_train / min(t.batch_size, n_train))
        epochs = max(t.epochs, math.ceil(IMAGE_STEPS / steps))
        if epochs > t.epochs:
            log.info("%d training images: %d epochs (%d steps)", n_train, epochs, epochs * steps)
            t.epochs = epochs


def _table_defaults(cfg: Config, n_features: int, n_train: int) -> None:
    """Rows of D numbers: a code smaller than D (PCA at D components is exact), small hidden
    layers with a smooth activation, a linear output (min-max scaled columns reach 0 and 1, where a sigmoid cannot),
    about ten steps an epoch, lr 1e-2, and at least TABLE_STEPS steps."""
    t, m = cfg.train, cfg.model
    mc = model_config(m["name"], {k: v for k, v in m.items() if k != "name"})
    changed = {}
    if "latent_dim" not in m and hasattr(mc, "latent_dim"):
        changed["latent_dim"] = max(1, min(mc.latent_dim, n_features // 4))
    if "hidden" not in m and hasattr(mc, "hidden") and n_features <= 64:
        changed["hidden"] = list(TABLE_HIDDEN)
    if "activation" not in m and hasattr(mc, "activation"):
        changed["activation"] = TABLE_ACTIVATION
    if "output_activation" not in m and hasattr(mc, "output_activation") and t.loss != "bce":
        changed["output_activation"] = "none"
    if "batchnorm" not in m and isinstance(mc, MLPConfig) and mc.batchnorm:
        changed["batchnorm"] = False  # the table figures above were measured without it
    m.update(changed)
    if not cfg.is_given("train.batch_size"):  # about 10 steps an epoch: 600 rows -> batch 60
        changed["batch_size"] = t.batch_size = min(n_train, max(16, min(128, n_train // 10)))
    if not cfg.is_given("train.lr"):
        changed["lr"] = t.lr = TABLE_LR
    if not cfg.is_given("train.epochs"):
        steps = math.ceil(n_train / t.batch_size)
        t.epochs = max(t.epochs, math.ceil(TABLE_STEPS / steps))
        changed["epochs"] = t.epochs
    if changed:
        log.info(
            "table of %d columns: %s (set any of them to override)",
            n_features,
            ", ".join(f"{k}={v}" for k, v in changed.items()),
        )
