"""What a run folder shows: every figure by kind, report.html, and the README.md model card."""

from aekit.report.figures import KINDS, RunFigures, write_figure

__all__ = ["KINDS", "RunFigures", "write_figure"]
