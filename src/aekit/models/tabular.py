"""Autoencoder for mixed tables: robust-scaled numbers with missing masks, embedded categories,
and a cross-entropy head per categorical column (the layout is in ``aekit.data.tabular``).

Every column gets one loss term (``column_losses``), and a row's anomaly score is the sum of
its terms, each divided by that column's ``term_scale`` (``row_scores``; ``row_contributions``
shares it out over the columns, for ``explain``):

- a number: its squared error in scaled units, (x - median) / IQR, on cells that are present
  (an imputed cell is never a target), plus the binary cross-entropy of its missing mask, which
  is reconstructed too: a cell missing where values are usually present scores;
- a category: the cross-entropy of its observed category under the head's softmax (a category
  unseen in training is the "unknown" slot, which training never predicts: a large term).

``term_scale`` (set by :meth:`TabularAutoencoder.calibrate` on the training rows when
training ends: the trainer's ``after_training`` hook; ones until then) is each column's 90th-percentile term on those rows, so that every
column is scored in units of its own usual error: a cell missing where it never is, or a swapped
category, is not capped below a number's squared error by the scale its loss happens to have.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from aekit._registry import register_model
from aekit.checked import Checked, Fraction, NonNegInt, PosInt
from aekit.errors import ConfigError
from aekit.layers import Activation, Unflatten, mlp_stack
from aekit.models.base import AEOutput, Autoencoder, eval_mode

FIT_ROWS = 100_000  # rows the median / IQR are computed on (a seeded-free head of the data)
TERM_QUANTILE = 0.9  # term_scale: this quantile of each column's term on the training rows
TERM_FLOOR = 1e-3  # ... at least this share of the median column's, so float noise in a
# column that is always rebuilt exactly (a constant) cannot dominate the score


@dataclass
class TabularConfig(Checked):
    hidden: list[PosInt] = field(default_factory=lambda: [64])  # encoder widths; decoder mirrors
    latent_dim: PosInt = 8  # code size
    activation: Activation = "elu"  # between layers
    embed_dim: PosInt = 8  # widest category embedding; K categories get ~1.6 (K+1)^0.56
    column_dropout: Fraction = 0.2  # training: share of cells hidden, still reconstructed
    label_smoothing: Fraction = 0.1  # training: bounds a category's term near log(K / 0.1)
    columns: list[str] = field(default_factory=list)  # input order, numbers first; [] = numbers
    numeric: NonNegInt = 0  # how many of `columns` are numbers (inputs: values, then masks)
    categories: list[list[str]] = field(default_factory=list)  # training categories per column
    # column_dropout: a hidden number is set to its median (mask 0.5), a hidden category to
    # the unknown slot, so each column is learnt from the others and an inconsistent cell is
    # blamed on its own column. categories: an input is the index, len(categories) = unseen.


@register_model(
    "tabular",
    TabularConfig,
    "mixed tables: scaled numbers + missing masks, category embeddings and cross-entropy heads",
)
class TabularAutoencoder(Autoencoder):
    def __init__(self, config: TabularConfig, input_shape, pixel_range="01"):
        super().__init__(config, input_shape, pixel_range)
        config.check()
        self._layout(config)
        self.register_buffer("center", torch.zeros(self.n_num))  # training medians
        self.register_buffer("scale", torch.ones(self.n_num))  # training IQRs (> 0)
        self.register_buffer("term_scale", torch.ones(len(self.column_names)))  # calibrate()
        self.embeds = nn.ModuleList(
            nn.Embedding(k + 1, min(config.embed_dim, max(2, round(1.6 * (k + 1) ** 0.56))))
            for k in self.cards
        )
        width = self.n_num + self.n_mask + sum(e.embedding_dim for e in self.embeds)
        heads = self.n_num + self.n_mask + sum(k + 1 for k in self.cards)
        h = list(config.hidden)
        self.encoder = mlp_stack([width, *h, config.latent_dim], config.activation, last_act=False)
        self.decoder = mlp_stack(
            [config.latent_dim, *h[::-1], heads], config.activation, last_act=False
        )
        self.unflatten = Unflatten(self.input_shape)

    def _layout(self, config: TabularConfig) -> None:
        self.cards = [len(c) for c in config.categories]
        if not config.columns:  # plain numbers
            self.n_num, self.n_mask = self.input_dim, 0
            return
        self.n_num = self.n_mask = config.numeric
        want = 2 * config.numeric + len(self.cards)
        if len(config.columns) != config.numeric + len(self.cards) or want != self.input_dim:
            raise ValueError(
                f"tabular: {len(config.columns)} columns ({config.numeric} numbers, "
                f"{len(self.cards)} categories) need {want} inputs; got {self.input_dim}"
            )

    @property
    def column_names(self) -> list[str]:
        """One name per ``column_losses`` column."""
        return list(self.config.columns) or [f"x[{j}]" for j in range(self.n_num)]

    def _inputs(self, x: torch.Tensor, hide: torch.Tensor | None = None):
        """x (B, *input_shape) -> (encoder input, scaled numbers, masks, codes). ``hide``
        (B, n_columns) bool: cells the encoder does not see (a number: its median and a mask
        of 0.5; a category: the unknown slot); in training a random share column_dropout."""
        x = x.flatten(1)
        n, m = self.n_num, self.n_mask
        mask = x[:, n : n + m]
        scaled = (x[:, :n] - self.center) / self.scale
        if m:
            scaled = scaled * (1 - mask)  # imputed: the training median, 0 in scaled units
        if not self.config.columns:  # plain numbers: nothing to hide, no categories
            return scaled, scaled, mask, None
        cards = torch.tensor(self.cards, dtype=torch.long, device=x.device)
        codes = torch.minimum(x[:, n + m :].round().long().clamp_min(0), cards)
        if hide is None and self.training and self.config.column_dropout:
            hide = torch.rand(len(x), n + len(self.cards), device=x.device)
            hide = hide < self.config.column_dropout
        seen_codes, seen, seen_mask = codes, scaled, mask
        if hide is not None and hide.numel():
            seen = scaled.masked_fill(hide[:, :n], 0.0)
            seen_mask = mask.masked_fill(hide[:, :m], 0.5)
            seen_codes = torch.where(hide[:, n:], cards, codes)
        emb = [e(seen_codes[:, i]) for i, e in enumerate(self.embeds)]
        return torch.cat([seen, seen_mask, *emb], 1), scaled, mask, codes

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return self.encoder(self._inputs(x)[0])

    def _recon(self, head: torch.Tensor) -> torch.Tensor:
        """Head outputs -> a row in the input layout: numbers in raw units, mask
        probabilities, the most likely category codes."""
        n, m = self.n_num, self.n_mask
        parts = [head[:, :n] * self.scale + self.center, torch.sigmoid(head[:, n : n + m])]
        for logits in self._split_logits(head):
            parts.append(logits.argmax(1, keepdim=True).to(head.dtype))
        return self.unflatten(torch.cat(parts, 1))

    def _split_logits(self, head: torch.Tensor) -> list[torch.Tensor]:
        if not self.cards:  # (torch.export cannot save a split into no parts)
            return []
        return list(head[:, self.n_num + self.n_mask :].split([k + 1 for k in self.cards], 1))

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return self._recon(self.decoder(z))

    def forward(self, x: torch.Tensor) -> AEOutput:
        z = self.encode(x)
        head = self.decoder(z)
        return AEOutput(recon=self._recon(head), code=z, extras={"head": head})

    def column_losses(
        self, head: torch.Tensor, x: torch.Tensor, smoothing: float = 0.0
    ) -> torch.Tensor:
        """(B, n_columns): each column's term of the loss (module docstring) for the clean rows
        ``x``; their sum over a row is its anomaly score (``smoothing``: training only)."""
        with torch.no_grad():
            _, scaled, mask, codes = self._inputs(x, hide=torch.zeros(0))  # the clean targets
        n, m = self.n_num, self.n_mask
        err = (head[:, :n] - scaled).pow(2)
        if m:
            bce = F.binary_cross_entropy_with_logits(head[:, n : n + m], mask, reduction="none")
            err = err * (1 - mask) + bce
        ce = [
            F.cross_entropy(logits, codes[:, i], reduction="none", label_smoothing=smoothing)
            for i, logits in enumerate(self._split_logits(head))
        ]
        return torch.cat([err, *(c[:, None] for c in ce)], 1)

    def loss_terms(self, out: AEOutput, x, target, loss: str = "mse") -> dict[str, torch.Tensor]:
        """The mean column term (``loss`` is not used: each column has its own)."""
        smoothing = self.config.label_smoothing
        terms = {"recon": self.column_losses(out.extras["head"], target, smoothing).mean()}
        terms.update(self.regularizers(out, x))
        return terms

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        # runs saved before term_scale existed score as they did: every column's scale 1
        state_dict.setdefault(prefix + "term_scale", torch.ones_like(self.term_scale))
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    @torch.no_grad()
    def scaled_terms(self, x: torch.Tensor) -> torch.Tensor:
        """(B, n_columns) in eval mode: each column's term divided by its ``term_scale``, the
        whole row seen by the encoder (an extreme but consistent row scores through the
        bottleneck)."""
        with eval_mode(self):
            return self.column_losses(self.decoder(self.encode(x)), x) / self.term_scale

    @torch.no_grad()
    def row_scores(self, x: torch.Tensor) -> torch.Tensor:
        """(B,) anomaly scores: the sum of a row's scaled column terms (:meth:`scaled_terms`)."""
        return self.scaled_terms(x).sum(1)

    @torch.no_grad()
    def calibrate(self, x: torch.Tensor, batch_size: int = 4096) -> None:
        """Set ``term_scale`` from the rows ``x`` the model was trained on (module docstring):
        each column's ``TERM_QUANTILE`` term, at least ``TERM_FLOOR`` x the median column's."""
        with eval_mode(self):
            terms = torch.cat(
                [
                    self.column_losses(self.decoder(self.encode(xb)), xb)
                    for xb in x[:FIT_ROWS].split(batch_size)
                ]
            )
        q = torch.from_numpy(np.quantile(terms.double().cpu().numpy(), TERM_QUANTILE, axis=0))
        floor = (TERM_FLOOR * q.median()).clamp_min(torch.finfo(torch.float32).tiny)
        self.term_scale.copy_(q.clamp_min(floor).to(self.term_scale))

    @torch.no_grad()
    def row_contributions(self, x: torch.Tensor) -> torch.Tensor:
        """(B, n_columns) in eval mode: each row's score (:meth:`row_scores`) shared out over
        its columns in proportion to their leave-one-out terms: column j's term with column j
        hidden from the encoder, i.e. predicted from the other columns only, so that a wrong
        cell is blamed on its own column rather than on those it misleads. The shares use the
        unscaled terms (the loss's own units): scaled ones blame a number that a swapped
        category misleads, whose usual error is tiny (a measured 0% of swapped categories
        named, against 92% unscaled). A row's contributions sum to its score. (Plain
        numbers: the whole-row scaled terms.)"""
        full = self.scaled_terms(x)
        with eval_mode(self):
            if not self.config.columns:
                return full
            cols = self.n_num + len(self.cards)
            loo = torch.empty(len(x), cols, dtype=x.dtype, device=x.device)
            for j in range(cols):
                hide = torch.zeros(len(x), cols, dtype=torch.bool, device=x.device)
                hide[:, j] = True
                head = self.decoder(self.encoder(self._inputs(x, hide)[0]))
                loo[:, j] = self.column_losses(head, x)[:, j]
            share = loo / loo.sum(1, keepdim=True).clamp_min(torch.finfo(loo.dtype).tiny)
            return share * full.sum(1, keepdim=True)

    def after_training(self, batches) -> bool:
        """The term scales (:meth:`calibrate`) on the training rows."""
        x = _training_rows(batches).to(self.center)
        self.calibrate(x.view(len(x), *self.input_shape))
        return True

    def init_from_data(self, batches) -> None:
        """The robust scaling: median and IQR of each number over the training rows present
        (IQR 0: the standard deviation, else 1). A table of categories only has none."""
        if not self.n_num:
            return
        x = _training_rows(batches).double().cpu()
        num = x[:, : self.n_num]
        if self.n_mask:
            num = num.masked_fill(x[:, self.n_num : 2 * self.n_num] > 0.5, math.nan)
        q = torch.nanquantile(num, torch.tensor([0.25, 0.5, 0.75], dtype=num.dtype), dim=0)
        iqr = q[2] - q[0]
        sd = torch.from_numpy(np.nanstd(num.numpy(), axis=0))
        scale = torch.where(iqr > 1e-12, iqr, torch.where(sd > 1e-12, sd, torch.ones_like(sd)))
        self.center.copy_(torch.nan_to_num(q[1]).to(self.center))
        self.scale.copy_(scale.to(self.scale))


def _training_rows(batches) -> torch.Tensor:
    """The first ``FIT_ROWS`` training rows in the model's range, flattened: (N, D)."""
    data = batches.data
    x = data.to_unit(data.x[:FIT_ROWS]).flatten(1)
    return x * 2 - 1 if batches.pixel_range == "-11" else x


def table_model(model: dict, table: dict) -> dict:
    """The model settings for a mixed table (``table``: the data's fitted encoding, columns /
    numeric / categories): the ``tabular`` family with that layout. ``mlp`` (the default)
    becomes ``tabular``; another family cannot read category codes and is refused."""
    if model.get("name") not in ("mlp", "tabular"):
        raise ConfigError(
            f"the data is a table with categories or missing cells, which model "
            f"{model.get('name')!r} cannot read; use --model tabular (or leave --model out)"
        )
    keep = {k: v for k, v in model.items() if k in TabularConfig.__dataclass_fields__}
    return {**keep, "name": "tabular", **table}
