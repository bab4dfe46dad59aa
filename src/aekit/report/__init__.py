"""What a run folder shows: every figure by kind, report.html, and the README.md model card."""

from aekit.report.card import model_card, write_model_card
from aekit.report.figures import KINDS, RunFigures, write_figure
from aekit.report.finish import finish_run
from aekit.report.html import write_report

__all__ = [
    "KINDS",
    "RunFigures",
    "finish_run",
    "model_card",
    "write_figure",
    "write_model_card",
    "write_report",
]
