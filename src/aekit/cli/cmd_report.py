"""`aekit report RUN_DIR`: report.html (every figure, metrics, config, log) and README.md."""

from __future__ import annotations


def add_parser(sub) -> list[str]:
    r = sub.add_parser(
        "report",
        help="write RUN_DIR/report.html (figures, metrics with the PCA baseline, config, log) "
        "and the README.md model card",
    )
    r.add_argument("run_dir", help="a run folder made by `aekit train`")
    r.add_argument("--reeval", action="store_true", help="recompute eval.json even if present")
    return ["report"]


def run(args) -> int:
    from aekit.report import write_model_card, write_report
    from aekit.run import Run
    from aekit.training.run_dir import run_lock

    run = Run.load(args.run_dir)  # a clear error for a folder that is not a run
    with run_lock(run.path, otherwise=""):  # not while another process writes the folder
        ev = None if args.reeval else run.evaluation()
        if ev is None:
            ev = run.evaluate()
        print(write_report(run, evaluation=ev))
        print(write_model_card(run, ev))
    return 0
