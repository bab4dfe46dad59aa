"""Matplotlib without a display: the Agg backend, set before pyplot is imported anywhere."""

import matplotlib

matplotlib.use("Agg")

from matplotlib.figure import Figure  # noqa: E402

__all__ = ["Figure"]
