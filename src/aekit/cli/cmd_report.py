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
    import json
    from pathlib import Path

    from aekit.evaluation.runs import EVAL, evaluate_run
    from aekit.report import write_model_card, write_report
    from aekit.training.run_dir import read_run_config

    run_dir = Path(args.run_dir)
    read_run_config(run_dir)  # a clear error for a folder that is not a run
    have = (run_dir / EVAL).is_file() and not args.reeval
    ev = json.loads((run_dir / EVAL).read_text()) if have else evaluate_run(run_dir)
    print(write_report(run_dir, evaluation=ev))
    print(write_model_card(run_dir, ev))
    return 0
