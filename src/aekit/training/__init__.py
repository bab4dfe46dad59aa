"""Training: one loop for every model, optimisers and schedules, the run folder."""

from aekit.training.run_dir import load_model, read_metrics, read_run_config
from aekit.training.trainer import Trainer, TrainState, evaluate_loss

__all__ = [
    "TrainState",
    "Trainer",
    "evaluate_loss",
    "load_model",
    "read_metrics",
    "read_run_config",
]
