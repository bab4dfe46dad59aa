"""`aekit eval RUN_DIR`: metrics on the test split beside the PCA baseline; writes eval.json."""

from __future__ import annotations

import json
from pathlib import Path

from aekit.cli.flags import add_run_and_data


def add_parser(sub) -> list[str]:
    p = sub.add_parser(
        "eval",
        help="measure a run: MSE, squared error per image, BCE, PSNR, SSIM, PCA baseline",
        description="Evaluate a run folder on the test split (validation when the data have no "
        "test set), beside PCA with the same number of components fitted on the run's "
        "training data. Writes eval.json (eval_<data>_<split>.json for other data).",
    )
    add_run_and_data(
        p,
        "test",
        "which data (default test: where the data have no test set, the validation split of the "
        "run's own data, all of other data)",
        "evaluate on other data of the same shape (name or path)",
    )
    p.add_argument(
        "--nll-samples", type=int, default=0, help="VAEs: importance samples for the NLL (e.g. 100)"
    )
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    return ["eval"]


def run(args) -> int:
    from aekit.errors import ConfigError
    from aekit.evaluation.evaluate import format_table
    from aekit.report.texts import readable_metrics
    from aekit.run import EVAL, Run, atomic_write_text

    run = Run.load(args.run_dir)
    if args.nll_samples < 0:
        raise ConfigError(f"--nll-samples is a number of samples, >= 1; got {args.nll_samples}")
    if args.nll_samples and not run.model.variational:
        raise ConfigError(
            f"--nll-samples estimates a variational model's likelihood, and {run.path.name} "
            f"is a {run.info['model']['name']} model: drop --nll-samples"
        )
    default = args.data is None and args.split == "test"
    res = run.evaluate(args.split, args.data, args.data_dir, args.nll_samples, write=default)
    out = run.path / EVAL
    if not default:
        name = Path(args.data).stem if args.data else "run"
        out = run.path / f"eval_{name}_{res['split']}.json"
        atomic_write_text(out, json.dumps(res, indent=2))
    if args.json:
        print(json.dumps(res, indent=2))
        return 0
    print(f"{res['dataset']} ({res['split']} split, {res['n_images']} images, pixels in [0, 1])")
    print(format_table(readable_metrics(res)))
    if "ratio_to_pca" in res:
        verdict = "better" if res["ratio_to_pca"] < 1 else "worse"
        print(
            f"model / PCA squared error: {res['ratio_to_pca']:.3f} ({verdict} than PCA with "
            f"{res['pca']['k']} components)"
        )
    if run.unfinished:
        print(f"note: this run is {run.unfinished}")
    print(f"written: {out}")
    return 0
