"""aekit: autoencoders on PyTorch. Train, see, measure and use them."""

from aekit._registry import create_model, list_models, register_model
from aekit._version import __version__ as __version__
from aekit.api import load, train, train_recipe
from aekit.config import Config, DataConfig, RunConfig, TrainConfig
from aekit.data import list_datasets, load_dataset
from aekit.errors import (
    AekitError,
    ConfigError,
    DataError,
    ExportError,
    TrainingDiverged,
    TrainingInterrupted,
)
from aekit.models import AEOutput, Autoencoder
from aekit.models.summary import model_summary
from aekit.run import Run

# evaluation, figures, report and the scikit-learn estimators load matplotlib / scikit-learn:
# imported on first use, so `import aekit` stays fast
_LAZY = {
    "evaluate": ("aekit.run", "evaluate_run"),
    "export": ("aekit.exporter", "export"),
    "write_figure": ("aekit.report.figures", "write_figure"),
    "write_report": ("aekit.report.html", "write_report"),
    "write_model_card": ("aekit.report.card", "write_model_card"),
    "AutoencoderReducer": ("aekit.sklearn", "AutoencoderReducer"),
    "AutoencoderAnomalyDetector": ("aekit.sklearn", "AutoencoderAnomalyDetector"),
    "top_contributions": ("aekit.evaluation.contributions", "top_contributions"),
}


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        mod, attr = _LAZY[name]
        return getattr(importlib.import_module(mod), attr)
    raise AttributeError(f"module 'aekit' has no attribute {name!r}")


__all__ = [
    "AEOutput",
    "AekitError",
    "Autoencoder",
    "AutoencoderAnomalyDetector",
    "AutoencoderReducer",
    "Config",
    "ConfigError",
    "DataConfig",
    "DataError",
    "ExportError",
    "Run",
    "RunConfig",
    "TrainConfig",
    "TrainingDiverged",
    "TrainingInterrupted",
    "create_model",
    "evaluate",
    "export",
    "list_datasets",
    "list_models",
    "load",
    "load_dataset",
    "model_summary",
    "register_model",
    "train",
    "top_contributions",
    "train",
    "train_recipe",
    "write_figure",
    "write_model_card",
    "write_report",
]
