"""Data: sources, the in-memory Dataset, batches and noise."""

from aekit.data.dataset import (
    BINARIZE,
    BatchMaker,
    Dataset,
    binarize,
    binarize_mode,
    chunks,
    from_range,
    spread_indices,
    to_range,
)
from aekit.data.idx import read_idx, write_idx
from aekit.data.noise import NOISES, corrupt
from aekit.data.sources import has_test_split, list_datasets, load_dataset

__all__ = [
    "BINARIZE",
    "NOISES",
    "BatchMaker",
    "Dataset",
    "binarize",
    "binarize_mode",
    "chunks",
    "corrupt",
    "from_range",
    "has_test_split",
    "list_datasets",
    "load_dataset",
    "read_idx",
    "spread_indices",
    "to_range",
    "write_idx",
]
