"""`aekit plot RUN_DIR --kind KIND`: write figures of a run folder to RUN_DIR/plots/."""

from __future__ import annotations

import inspect
import sys

from aekit.errors import AekitError


def add_parser(sub) -> list[str]:
    p = sub.add_parser(
        "plot",
        help="write figures of a run to RUN_DIR/plots/",
        description="Kinds: loss, recon, animation, latent (latent:tsne), manifold, traversal, "
        "interpolation, weights (weights:encoder|decoder), samples, decode:Z1,Z2,... or all.",
    )
    p.add_argument("run_dir", help="a run folder made by `aekit train`")
    p.add_argument(
        "--kind", action="append", required=True, help="figure kind (repeatable), or all"
    )
    p.add_argument(
        "--n",
        type=int,
        help="samples: images (1-4096); manifold: grid side (1-64); recon: columns (1-64)",
    )
    p.add_argument("--seed", type=int, help="samples: random seed")
    p.add_argument("--dims", type=int, nargs=2, metavar=("I", "J"), help="manifold: code units")
    p.add_argument("--steps", type=int, help="traversal / interpolation: steps (2-64)")
    return ["plot"]


def run(args) -> int:
    from aekit.report.figures import KINDS, RunFigures, check_options, parse_kind
    from aekit.run import Run

    kinds = [k for kind in args.kind for k in (KINDS if kind == "all" else [kind])]
    given = {"n": args.n, "seed": args.seed, "dims": args.dims, "steps": args.steps}
    todo = []
    for kind in kinds:  # an unknown kind or an out-of-range count fails here, before any work
        name, _ = parse_kind(kind)
        accepted = inspect.signature(getattr(RunFigures, name)).parameters
        opts = {k: v for k, v in given.items() if v is not None and k in accepted}
        check_options(name, opts)
        todo.append((kind, opts))
    figs = RunFigures(Run.load(args.run_dir))
    for kind, opts in todo:
        try:
            paths = figs.write(kind, **opts)
        except AekitError as e:
            if "all" not in args.kind:
                raise
            print(f"aekit: note: skipped {kind}: {e}", file=sys.stderr)
            continue
        for path in paths:
            print(path)
    return 0
