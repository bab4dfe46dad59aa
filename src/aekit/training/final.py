"""Numbers computed once at the end of a run and stored in config.json's "result"."""

from __future__ import annotations

from typing import Any

import torch

from aekit.config import Config
from aekit.data import BatchMaker, Dataset


@torch.no_grad()
def end_of_run_metrics(model, train_data: Dataset, val_batches: BatchMaker, cfg: Config) -> dict[str, Any]:
    """Comparisons that every run reports (extended by the model families)."""
    return {}
