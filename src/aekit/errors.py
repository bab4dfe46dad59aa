"""User-facing errors: each message says what is wrong and what to type instead."""


class AekitError(Exception):
    """Bad user input or a state the user can fix. The CLI prints it as one line, exit code 2."""


class ConfigError(AekitError, ValueError):
    """An unknown key, a wrong type or an out-of-range value in a run configuration."""


class DataError(AekitError, ValueError):
    """A missing, unreadable, corrupt or mis-shaped data source."""


class TrainingDiverged(AekitError, RuntimeError):
    """The loss became NaN or infinite; what was saved before stays intact."""


class ExportError(AekitError, RuntimeError):
    """A model the exporter cannot convert, a missing optional package, or an exported file that
    does not reproduce the model (it is removed, never left behind)."""


class TrainingInterrupted(AekitError):
    """Ctrl-C or SIGTERM stopped training after a checkpoint; the message says how to resume."""
