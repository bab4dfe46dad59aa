"""A run folder, and the one object that reads it: ``Run.load(dir)``.

```
runs/<name>/
  config.json          the resolved config, the model's config, the data split, "result"
  model.safetensors    weights only: loading never unpickles anything
  metrics.jsonl        one JSON object per logged step and one per epoch ("epoch_end")
  eval.json            metrics on the test split beside the PCA baseline (`aekit eval`)
  prior.json           plain autoencoders: a density fitted to the training codes
  checkpoint/          optimizer, scheduler, RNG and epoch state, for exact resume
  plots/  report.html  README.md (the model card)  summary.txt  model_summary.txt
```

Training writes a new folder (:mod:`aekit.training.run_dir`); everything that reads one, and
every command that uses a trained model, goes through :class:`Run`.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load_file, save_file

from aekit._registry import create_model
from aekit.config import Config
from aekit.data import Dataset, chunks, has_test_split, load_dataset
from aekit.data.files import csv_header
from aekit.data.tabular import MISSING, TableSpec, as_number, conform_table
from aekit.errors import AekitError, DataError
from aekit.evaluation.evaluate import (
    decode_unit,
    encode_unit,
    evaluate,
    has_own_prior,
    reconstruct_unit,
    sample_unit,
    unit_images,
    unit_rows,
)
from aekit.evaluation.prior import CodePrior

log = logging.getLogger(__name__)

CONFIG = "config.json"
WEIGHTS = "model.safetensors"
METRICS = "metrics.jsonl"
EVAL = "eval.json"
PRIOR = "prior.json"
CHECKPOINT = "checkpoint"
CHECKPOINT_STATE = "state.json"  # in CHECKPOINT: the commit point (training/checkpoint.py)
PLOTS = "plots"
REPORT = "report.html"
CARD = "README.md"
SUMMARY = "summary.txt"
MODEL_SUMMARY = "model_summary.txt"


def _file_mode() -> int:
    """The mode ``open()`` gives a new file here: 0o666 less the process's umask."""
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


def save_tensors(tensors: dict[str, torch.Tensor], path: Path) -> None:
    """safetensors' ``save_file``, with the permissions of every other file aekit writes: it
    creates its file readable by its owner only (0600), which left a shared run's weights
    unreadable to those who could read its config.json and report."""
    save_file(tensors, str(path))
    os.chmod(path, _file_mode())


def file_in_the_way(folder: Path) -> Path | None:
    """The file (not a folder) at ``folder`` or at one of its parents, where there is one:
    making the folder would fail on it."""
    return next((p for p in (folder, *folder.parents) if p.exists() and not p.is_dir()), None)


def atomic_write(path: Path, write: Callable[[Path], None]) -> None:
    """``write(tmp)`` then rename over ``path``: a reader sees the old file or the new one, never
    half of one; when the write fails (disk full, read-only folder) no ``*.tmp`` is left."""
    path = Path(path)
    if path.is_dir():
        raise AekitError(f"cannot write {str(path)!r}: it is a folder; name a file in it instead")
    tmp = path.with_name(path.name + ".tmp")
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise


def atomic_write_text(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file, so a reader never sees half of it."""
    atomic_write(path, lambda tmp: tmp.write_text(text))


def read_run_config(run_dir: str | Path) -> dict[str, Any]:
    """A run folder's config.json; AekitError for a folder that is not a run."""
    p = Path(run_dir)
    if not (p / CONFIG).is_file():
        raise AekitError(
            f"{str(p)!r} is not a run folder (no {CONFIG}); pass a folder made by `aekit train`"
        )
    try:
        info = json.loads((p / CONFIG).read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise AekitError(f"{str(p / CONFIG)!r} is corrupt ({e})") from None
    if not isinstance(info, dict):
        raise AekitError(f"{str(p / CONFIG)!r} is not a run config (a JSON object)")
    return info


def read_metrics(run_dir: str | Path) -> list[dict]:
    """Every record of a run's metrics.jsonl, in order (per-step and per-epoch); [] if none.
    A last line cut short is left out: training killed mid-write leaves one (``--resume`` cuts
    it off), and so does reading while training writes; a corrupt line before it is an
    AekitError that names it."""
    p = Path(run_dir) / METRICS
    if not p.is_file():
        return []
    lines = [(i, ln) for i, ln in enumerate(p.read_text(errors="replace").splitlines(), 1)]
    lines = [(i, ln) for i, ln in lines if ln.strip()]
    records = []
    for k, (i, line) in enumerate(lines):
        try:
            rec = json.loads(line)
        except json.JSONDecodeError:
            rec = None
        if isinstance(rec, dict):
            records.append(rec)
        elif k == len(lines) - 1:
            log.debug("%s: line %d is cut short; left out", p, i)
        else:
            raise AekitError(
                f"{str(p)!r} line {i} is not a JSON record (a damaged file); delete that line"
            )
    return records


def _build_model(run_dir: Path, info: dict[str, Any], device: str | torch.device):
    """Rebuild the model from config.json and load model.safetensors: eval mode, and its
    parameters do not track gradients (``model.encode(x).numpy()`` works; train a copy with
    ``requires_grad_(True)``)."""
    try:
        m = dict(info["model"])
        name = m.pop("name")
        model = create_model(name, tuple(info["input_shape"]), info["pixel_range"], **m)
    except (KeyError, TypeError) as e:
        raise AekitError(f"{str(run_dir / CONFIG)!r} does not describe a model ({e})") from None
    if not (run_dir / WEIGHTS).is_file():
        raise AekitError(f"{str(run_dir)!r} has no {WEIGHTS} (training did not finish?)")
    try:
        state = load_file(str(run_dir / WEIGHTS))
    except Exception as e:  # safetensors raises its own error types
        raise AekitError(f"cannot read {str(run_dir / WEIGHTS)!r} ({e})") from None
    bad = [k for k, v in state.items() if v.is_floating_point() and not torch.isfinite(v).all()]
    if bad:
        raise AekitError(
            f"{str(run_dir / WEIGHTS)!r} holds NaN or infinite weights ({bad[0]}): the run "
            "diverged; train again with a lower --lr or --set train.grad_clip=1.0"
        )
    try:
        model.load_state_dict(state)
    except RuntimeError as e:  # another architecture's weights: missing, unexpected, mis-sized
        first = str(e).splitlines()[1].strip() if "\n" in str(e) else str(e)
        raise AekitError(
            f"{str(run_dir / WEIGHTS)!r} does not fit the model in {CONFIG} ({first})"
        ) from None
    return model.requires_grad_(False).to(device).eval()


def load_model(run_dir: str | Path, device: str | torch.device = "cpu"):
    """The trained model of a run folder (eval mode, no gradients): ``Run.load(dir).model``."""
    return Run.load(run_dir, device).model


def _same_source(a, b) -> bool:
    """Whether the dataset names or paths ``a`` and ``b`` are the same source (``x.npy`` and
    ``./x.npy`` are; a relative path is read from the current folder, as load_dataset does)."""
    if str(a) == str(b):
        return True
    pa, pb = Path(a), Path(b)
    return pa.exists() and pb.exists() and pa.resolve() == pb.resolve()


class Run:
    """A run folder: what it was trained with (``info``, ``config``), the trained ``model``,
    its data, its training log (``metrics()``) and results (``result``, ``evaluation()``).

    ``encode``/``decode``/``reconstruct``/``sample`` work in [0, 1] pixel units whatever the
    model's pixel range, batched, without gradients, leaving the model's train/eval mode as
    it was. ``aekit.train`` returns a Run; ``Run.load(dir)`` reads one.
    """

    def __init__(
        self,
        path: str | Path,
        info: dict[str, Any],
        model: torch.nn.Module | None = None,
        *,
        config: Config | None = None,
        history: list[dict] | None = None,
        device: str | torch.device = "cpu",
    ):
        self.path = Path(path)
        self.info = info  # config.json as a dict
        self.device = device
        self._model = model
        self._config = config
        self._history = history

    @classmethod
    def load(cls, path: str | Path, device: str | torch.device = "cpu", model=None) -> Run:
        """Read a run folder's config.json (AekitError for a folder that is not a run); the
        model is loaded on first use of ``.model`` (or is ``model``, already loaded)."""
        return cls(path, read_run_config(path), model, device=device)

    def __repr__(self) -> str:
        return f"Run({str(self.path)!r})"

    # -- what the run is ---------------------------------------------------------------------
    @property
    def run_dir(self) -> Path:
        return self.path

    @property
    def model(self) -> torch.nn.Module:
        if self._model is None:
            self._model = _build_model(self.path, self.info, self.device)
        return self._model

    @property
    def config(self) -> Config:
        if self._config is None:
            self._config = Config.from_dict(self.info["config"])
        return self._config

    @property
    def result(self) -> dict[str, Any]:
        """Final losses, steps and seconds, and the end-of-run comparisons with PCA."""
        return self.info.get("result", {})

    @property
    def history(self) -> list[dict]:
        """One record per epoch."""
        if self._history is None:
            self._history = [r for r in self.metrics() if r.get("epoch_end")]
        return self._history

    @property
    def unfinished(self) -> str | None:
        """None for a run that finished training; otherwise where it stopped and how to go on
        (a kill, a crash or a divergence leaves config.json without its "result")."""
        if "result" in self.info:
            return None
        planned = self.info.get("config", {}).get("train", {}).get("epochs")
        try:
            done = max((r["epoch"] for r in self.history), default=0)
        except (ValueError, KeyError):  # an unreadable log: say what is known
            done = "?"
        state = self.path / CHECKPOINT / CHECKPOINT_STATE
        try:
            ckpt = json.loads(state.read_text())
            at, world = int(ckpt["epoch"]), int(ckpt.get("world_size", 1))
        except (OSError, ValueError, KeyError, TypeError):  # none, or torn: nothing to resume
            return f"unfinished: stopped after epoch {done} of {planned}, with no checkpoint"
        cmd = f"aekit train --resume {self.path}"
        if world > 1:
            cmd = f"torchrun --standalone --nproc_per_node={world} -m aekit.cli.main " + cmd[6:]
        return (
            f"unfinished: stopped after epoch {done} of {planned}; `{cmd}` continues it from "
            f"its checkpoint at epoch {at}"
        )

    @property
    def data_config(self) -> dict[str, Any]:
        return self.info["config"]["data"]

    @property
    def seed(self) -> int:
        return self.info["config"]["train"].get("seed", 0)

    @property
    def is_image(self) -> bool:
        return len(self.info["input_shape"]) == 3

    def metrics(self) -> list[dict]:
        """The training log: every record of metrics.jsonl (per-step and per-epoch)."""
        return read_metrics(self.path)

    def evaluation(self) -> dict[str, Any] | None:
        """The stored eval.json, or None when the run has not been evaluated."""
        p = self.path / EVAL
        if not p.is_file():
            return None
        try:
            ev = json.loads(p.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise AekitError(f"{str(p)!r} is corrupt ({e}); run `aekit eval {self.path}`") from None
        if not isinstance(ev, dict) or not isinstance(ev.get("model"), dict):
            raise AekitError(f"{str(p)!r} is not an evaluation; run `aekit eval {self.path}`")
        return ev

    # -- data --------------------------------------------------------------------------------
    def _split(self, split: str, name: str, data_dir, other: bool) -> str:
        """The split :meth:`data` loads for the asked one (see there)."""
        if split == "test" and not has_test_split(name, data_dir):
            split = "all" if other else "val"
        if split == "val" and not self.data_config.get("val_fraction"):
            split = "train"
        return split

    def data(
        self,
        split: str = "test",
        data: str | None = None,
        data_dir: str | None = None,
        label_column: str | None = None,
    ) -> Dataset:
        """A split of the run's dataset (or of ``data``), loaded exactly as training loaded it.

        "test" falls back, where the dataset has no official test set, to the validation
        split of the run's own data and to the whole of other data (the model saw none of it),
        and "val" to the training data when the run held none out. ``label_column``: a CSV's
        column of labels (default: the run's ``data.label_column`` where the file has it).
        """
        d, shape = self.data_config, self.info["input_shape"]
        name = data or d["name"]
        ddir = data_dir or d.get("data_dir")
        other = data is not None and not _same_source(data, d["name"])
        split = self._split(split, name, ddir, other)
        kw = dict(
            val_fraction=d.get("val_fraction", 0.1),
            split_seed=d.get("split_seed", 0),
            image_size=d.get("image_size"),
            grayscale=d.get("grayscale"),
            limit=d.get("limit") if split != "test" and not other else None,
            label_column=self._label_column(name, bool(data), label_column),
        )
        if data and len(shape) == 3:  # other images: match the model's shape
            kw["grayscale"] = shape[0] == 1
            kw["image_size"] = kw["image_size"] or list(shape[1:])
        ds = load_dataset(name, ddir, split, **kw)
        if split == "all":
            ds.split = "all"  # load_dataset hands the whole set over as its "train" part
        extra = self._new_columns(ds)
        if not self.info["model"].get("columns"):  # plain numbers: match a CSV's columns
            ds = self._match_columns(
                ds, name, lambda: load_dataset(name, ddir, "all", **{**kw, "limit": None})
            )
        else:  # a mixed table: the run's own encoding
            ds = conform_table(ds, self.info["model"])  # columns matched by name
            if extra:
                log.warning(
                    "%s: left out the column(s) %s the model was not trained on "
                    "(labels? name their column with label_column)",
                    name,
                    extra,
                )
        self._check_shape(ds, name, extra)
        lo, hi = self.info["data"].get("lo"), self.info["data"].get("hi")
        if ds.lo is not None and lo is not None:  # float rows: the training rows' scaling,
            ds.lo = torch.tensor(lo).view(ds.lo.shape)  # not the new file's own min and max
            ds.hi = torch.tensor(hi).view(ds.hi.shape)
        return ds

    def _check_shape(self, ds: Dataset, name: str, extra: list[str]) -> None:
        """Refuse data whose samples the model cannot take, saying what it takes."""
        shape = self.info["input_shape"]
        if list(ds.sample_shape) == list(shape):
            return
        if extra:
            raise DataError(
                f"{name} has the column(s) {', '.join(extra)} that {self.path.name} was "
                "not trained on; drop them, or name the labels' column "
                "(aekit score --label-column NAME)"
            )
        what = "images of that shape (channels, height, width)"
        if len(shape) != 3:
            what = f"rows of {math.prod(shape)} values (the columns it was trained on)"
        raise DataError(
            f"{name} has samples of shape {list(ds.sample_shape)} but the model takes "
            f"{shape}; pass {what}"
        )

    def _label_column(self, name: str, new_data: bool, asked: str | None) -> str | None:
        """The CSV column to read labels from: ``asked`` (refused when the model was trained
        on it: its scores would see the label), else the run's own, where the file has it."""
        own = self.data_config.get("label_column")
        if asked is None:
            if own is None or not new_data:
                return own
            p = Path(name)
            if p.suffix.lower() != ".csv" or not p.is_file():  # other data: no such column
                return None
            return own if own in (csv_header(p) or []) else None
        if asked in (self.info["data"].get("features") or []):
            raise DataError(
                f"{self.path.name} was trained with {asked!r} as an input column, so its scores "
                f"would see the label; train again with --set data.label_column={asked}"
            )
        return asked

    def _new_columns(self, ds: Dataset) -> list[str]:
        """The named columns of ``ds`` (a CSV) that the model was not trained on."""
        trained, have = self.info["data"].get("features"), ds.info.get("features")
        return [c for c in have or [] if c not in trained] if trained else []

    def _match_columns(self, ds: Dataset, name: str, whole) -> Dataset:
        """``ds`` (rows for a model of plain numbers) with a CSV's named columns in the order
        the model was trained on, matched by name; DataError for columns missing or unknown,
        and for cells the model cannot read (a missing cell, text: :meth:`_refuse_table`).
        Rows without names (an array, a CSV without a header, a run from before column names
        were kept) are taken by position. ``whole``: loads the whole of the data."""
        trained, have = self.info["data"].get("features"), ds.info.get("features")
        if trained and have and len(set(have)) == len(have):
            missing = [c for c in trained if c not in have]
            unknown = [c for c in have if c not in trained]
            if missing:
                also = f", and has {', '.join(unknown)} it was not" if unknown else ""
                raise DataError(
                    f"{name} has no column(s) {', '.join(missing)}, which {self.path.name} was "
                    f"trained on{also}; pass a table with the columns {', '.join(trained)} "
                    "(in any order; rename a column that is there under another name)"
                )
            if unknown:
                raise DataError(
                    f"{name} has the column(s) {', '.join(unknown)} that {self.path.name} was "
                    "not trained on; drop them, or name the labels' column "
                    "(aekit score --label-column NAME)"
                )
        if ds.info.get("table") is not None:
            self._refuse_table(whole(), name)
        if trained and have and have != trained and sorted(have) == sorted(trained):
            order = [have.index(c) for c in trained]
            ds.x = ds.x[:, order].contiguous()
            if ds.lo is not None:
                ds.lo, ds.hi = ds.lo[order], ds.hi[order]
            ds.info["features"] = list(trained)
        return ds

    def _refuse_table(self, ds: Dataset, name: str) -> None:
        """DataError for the rows ``ds`` (the whole data, a mixed table) that a model trained
        on numbers only cannot read: its first empty cell, else its first cell of text, else
        (booleans) the table as a whole."""
        spec = TableSpec.from_dict(ds.info["table"])
        x, n = ds.x.numpy(), spec.numeric
        run = self.path.name
        if n and (x[:, n : 2 * n] > 0.5).any():
            i, j = (int(v[0]) for v in np.nonzero(x[:, n : 2 * n] > 0.5))
            raise DataError(
                f"{name}: row {i + 1} has an empty (or NA) cell in column {spec.columns[j]!r}, and "
                f"{run} was trained without missing cells; fill the cell or drop the row "
                "(or train on rows with empty cells: the tabular model fills them in)"
            )
        for k, vocab in enumerate(spec.categories):
            codes = x[:, 2 * n + k].astype(np.int64)
            cells = [vocab[c] for c in codes]
            i = next(
                (i for i, v in enumerate(cells) if v != MISSING and as_number(v) is None), None
            )
            if i is not None:
                raise DataError(
                    f"{name}: column {spec.columns[n + k]!r} holds text ({cells[i]!r} in row "
                    f"{i + 1}) and {run} was trained on numbers only; make the cell a "
                    "number, or train on the table with text (the tabular model reads it)"
                )
        raise DataError(
            f"{name} has cells that are not plain numbers (true/false?), and {run} was trained "
            "on numbers only; write them as numbers (1/0)"
        )

    def unit(self, data: Dataset) -> torch.Tensor:
        """All samples of ``data`` in [0, 1], binarised as the model was trained."""
        return unit_images(data, self.data_config.get("binarize", False))

    # -- using the model, in [0, 1] units ---------------------------------------------------
    def encode(self, x) -> torch.Tensor:
        """Codes (N, L) of samples ``x`` (N, *input_shape) in [0, 1]: a tensor or an array."""
        return encode_unit(self.model, self._samples(x))

    def decode(self, z) -> torch.Tensor:
        """Samples (N, *input_shape) in [0, 1] decoded from codes ``z`` (N, L)."""
        return decode_unit(self.model, self._floats(z, "codes"))

    def reconstruct(self, x) -> torch.Tensor:
        """Reconstructions in [0, 1] of samples ``x`` in [0, 1]."""
        return reconstruct_unit(self.model, self._samples(x))

    def sample(self, n: int, seed: int = 0) -> torch.Tensor:
        """n generated samples in [0, 1]: from a VAE's own prior, or decoded from the density
        fitted to the training codes (prior.json, fitted and stored on first use)."""
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise DataError(f"sample takes a number of samples n >= 1; got {n!r}")
        prior = None if has_own_prior(self.model) else self.prior()
        return sample_unit(self.model, n, seed, prior)

    @staticmethod
    def _floats(x, what: str) -> torch.Tensor:
        """``x`` (a tensor, array or nested list) as float32, refused where it is not finite."""
        try:
            t = torch.as_tensor(x)
        except (TypeError, ValueError, RuntimeError) as e:
            raise DataError(f"{what} must be a tensor or an array of numbers; {e}") from None
        if t.dtype == torch.bool or t.is_complex():
            raise DataError(f"{what} must be real numbers; got {t.dtype}")
        t = t.float()
        if not torch.isfinite(t).all():
            raise DataError(f"{what} hold NaN or infinite values; drop or fix those rows")
        return t

    def _samples(self, x) -> torch.Tensor:
        """``x`` checked as the model's input: (N, *input_shape), pixels in [0, 1]."""
        if str(getattr(x, "dtype", "")) in ("uint8", "torch.uint8"):
            raise DataError("samples are pixels in [0, 1]; got uint8: divide by 255 first")
        t = self._floats(x, "samples")
        shape = list(self.info["input_shape"])
        if list(t.shape[1:]) != shape:
            hint = " (one sample: x[None])" if list(t.shape) == shape else ""
            raise DataError(
                f"samples must have shape (N, {', '.join(map(str, shape))}) for this model; "
                f"got {tuple(t.shape)}{hint}"
            )
        if len(shape) == 3 and len(t) and (t.min() < 0 or t.max() > 1):
            raise DataError(
                f"image samples are pixels in [0, 1]; got values in [{t.min():.3g}, "
                f"{t.max():.3g}] (0..255 images: divide by 255)"
            )
        return t

    # -- what a run adds to its folder --------------------------------------------------------
    @torch.no_grad()
    def fit_prior(self, kind: str = "gaussian", n_components: int = 10) -> CodePrior:
        """Fit a density to the codes of the run's training data; stored as prior.json."""
        train = self.data("train")
        rows = unit_rows(train, self.data_config.get("binarize", False))
        codes = torch.cat([encode_unit(self.model, rows(s)) for s in chunks(len(train))])
        prior = CodePrior.fit(codes, kind, n_components, seed=self.seed)
        atomic_write_text(self.path / PRIOR, json.dumps(prior.to_dict()))
        return prior

    def prior(self) -> CodePrior:
        """The run's stored prior; fitted (a Gaussian) and stored on first use. A damaged
        prior.json (empty, cut short, not a prior of this code size) is an AekitError that
        says how to fit it again."""
        p = self.path / PRIOR
        if not p.is_file():
            return self.fit_prior()
        remake = f"remake it with `aekit generate {self.path} --prior gaussian`"
        try:
            prior = CodePrior.load(p)
            ok = prior.means.dim() == 2 and prior.latent_dim == self.model.latent_dim
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            what = "is empty" if p.stat().st_size == 0 else f"is corrupt ({e})"
            raise AekitError(f"{str(p)!r} {what}; {remake}") from None
        except (ValueError, KeyError, TypeError, IndexError, RuntimeError):
            ok = False  # JSON, but no weights, means and covariances of matching shapes
        if not ok:
            raise AekitError(f"{str(p)!r} is not a prior of this model's codes; {remake}")
        return prior

    def evaluate(
        self,
        split: str = "test",
        data: str | None = None,
        data_dir: str | None = None,
        nll_samples: int = 0,
        write: bool = True,
    ) -> dict[str, Any]:
        """Evaluate on the test split (or ``split`` of ``data``) beside PCA fitted on the run's
        own training data; ``write``: store it as eval.json. Returns the result."""
        d = self.data_config
        test = self.data(split, data, data_dir)
        res = evaluate(
            self.model,
            test,
            self.data("train"),
            binarize=d.get("binarize", False),
            noise=d.get("noise", "none"),
            noise_level=d.get("noise_level", 0.0),
            nll_samples=nll_samples,
            seed=self.seed,
        )
        if write:
            atomic_write_text(self.path / EVAL, json.dumps(res, indent=2))
        return res


def as_run(run: Run | str | Path, model=None) -> Run:
    """``run`` as a :class:`Run` (a run folder is read); ``model``: its model, already loaded."""
    if isinstance(run, Run):
        return run if model is None or model is run._model else Run(run.path, run.info, model)
    return Run.load(run, model=model)


def evaluate_run(
    run_dir: Run | str | Path,
    data: str | None = None,
    data_dir: str | None = None,
    split: str = "test",
    nll_samples: int = 0,
    model=None,
    write: bool = True,
) -> dict[str, Any]:
    """``aekit.evaluate``: :meth:`Run.evaluate` of a run folder (writes eval.json)."""
    return as_run(run_dir, model).evaluate(split, data, data_dir, nll_samples, write)


__all__ = [
    "CARD",
    "CHECKPOINT",
    "CONFIG",
    "EVAL",
    "METRICS",
    "MODEL_SUMMARY",
    "PLOTS",
    "PRIOR",
    "REPORT",
    "SUMMARY",
    "WEIGHTS",
    "Run",
    "as_run",
    "atomic_write_text",
    "evaluate_run",
    "load_model",
    "read_metrics",
    "read_run_config",
]
