"""aekit: autoencoders on PyTorch. Train, see, measure and use them."""

__version__ = "0.1.0"

from aekit._registry import create_model, list_models, register_model  # noqa: E402
from aekit.api import Run, load, train, train_recipe  # noqa: E402
from aekit.config import Config, DataConfig, RunConfig, TrainConfig  # noqa: E402
from aekit.data import list_datasets, load_dataset  # noqa: E402
from aekit.errors import AekitError, ConfigError, DataError, TrainingDiverged  # noqa: E402
from aekit.models import AEOutput, Autoencoder  # noqa: E402
from aekit.models.summary import model_summary  # noqa: E402

__all__ = [
    "AEOutput",
    "AekitError",
    "Autoencoder",
    "Config",
    "ConfigError",
    "DataConfig",
    "DataError",
    "Run",
    "RunConfig",
    "TrainConfig",
    "TrainingDiverged",
    "create_model",
    "list_datasets",
    "list_models",
    "load",
    "load_dataset",
    "model_summary",
    "register_model",
    "train",
    "train_recipe",
]
