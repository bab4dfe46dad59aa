"""Figures drawn without a display and without touching the user's matplotlib backend: a
``Figure`` that carries its own Agg canvas (pyplot is never imported)."""

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure as _Figure


class Figure(_Figure):
    """A matplotlib Figure drawn by Agg whatever backend pyplot uses; save it with
    ``savefig``, show it in a notebook as it is, or add it to pyplot's figures if wanted."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        FigureCanvasAgg(self)


__all__ = ["Figure"]
