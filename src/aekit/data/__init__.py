"""Data: sources, the in-memory Dataset, batches and noise."""

from aekit.data.dataset import (
    BINARIZE,
    BatchMaker,
    Dataset,
    Scaling,
    binarize,
    binarize_mode,
    chunks,
    from_range,
    spread_indices,
    to_range,
)
from aekit.data.files import array_to_dataset
from aekit.data.idx import read_idx, write_idx
from aekit.data.noise import NOISES, corrupt
from aekit.data.sources import (
    has_test_split,
    in_memory,
    list_datasets,
    load_dataset,
    register_dataset,
)

__all__ = [
    "BINARIZE",
    "NOISES",
    "BatchMaker",
    "Dataset",
    "Scaling",
    "array_to_dataset",
    "binarize",
    "binarize_mode",
    "chunks",
    "corrupt",
    "from_range",
    "has_test_split",
    "in_memory",
    "list_datasets",
    "load_dataset",
    "read_idx",
    "register_dataset",
    "spread_indices",
    "to_range",
    "write_idx",
]
