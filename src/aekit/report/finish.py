"""What `aekit train` writes after the last epoch: the fitted prior, eval.json, the figures of
``run.after``, report.html and the README.md model card."""

from __future__ import annotations

import logging
import time

from aekit.evaluation.evaluate import has_own_prior
from aekit.report.card import write_model_card
from aekit.report.html import write_report
from aekit.run import Run

log = logging.getLogger(__name__)


def finish_run(run: Run, after: list[str] = ()) -> dict[str, float]:
    """Fit the code prior (plain AEs), evaluate, write every figure, report.html, README.md.

    Returns the seconds each part took (kept in the log, not in config.json).
    """
    run_dir = run.path
    t: dict[str, float] = {}
    ev = None

    def step(name: str, fn):
        start = time.perf_counter()
        try:
            return fn()
        except Exception as e:  # the weights are saved: a failed extra must not lose the run
            log.warning("could not write the %s of %s: %s: %s", name, run_dir, type(e).__name__, e)
        finally:
            t[name] = round(time.perf_counter() - start, 2)

    if not has_own_prior(run.model):
        step("prior", run.fit_prior)
    ev = step("evaluation", run.evaluate)
    step("report", lambda: write_report(run, evaluation=ev, extra_kinds=list(after)))
    step("model card", lambda: write_model_card(run, ev))
    log.debug("end-of-run extras (s): %s", t)
    return t
