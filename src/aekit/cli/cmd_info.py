"""`aekit datasets`, `aekit models`, `aekit recipes`, `aekit summary`: what aekit has."""

from __future__ import annotations


def add_parser(sub) -> list[str]:
    sub.add_parser("datasets", help="list the built-in datasets")
    sub.add_parser("models", help="list the model families")
    sub.add_parser("recipes", help="list the classic experiments (`aekit train --recipe NAME`)")
    p = sub.add_parser("summary", help="layer-by-layer summary of a model or a run folder")
    p.add_argument("target", nargs="?", help="a run folder (or use --model)")
    p.add_argument("--model", default="mlp", help="model name when no run folder is given")
    p.add_argument("--data", default="mnist5k", help="dataset whose shape the model is built for")
    p.add_argument("--data-dir", help="folder with IDX files")
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="model.KEY=VALUE",
        help="a model setting, e.g. --set model.hidden=[128,64] (repeatable)",
    )
    return ["datasets", "models", "recipes", "summary"]


def run(args) -> int:
    import aekit

    if args.command == "datasets":
        for name, desc in aekit.list_datasets().items():
            print(f"{name:<15}{desc}")
        print(
            "or a path: a folder of PNG/JPEG images, a .npy/.npz array, a .csv of numeric columns"
        )
    elif args.command == "models":
        from aekit._registry import model_entry

        for name in aekit.list_models():
            print(f"{name:<12}{model_entry(name).description}")
    elif args.command == "recipes":
        from aekit.recipes import list_recipes

        for name, desc in list_recipes().items():
            print(f"{name:<18}{desc}")
    elif args.command == "summary":
        print(summary_text(args))
    return 0


def summary_text(args) -> str:
    import aekit
    from aekit.config import parse_set
    from aekit.errors import ConfigError
    from aekit.run import SUMMARY

    if args.target:
        run = aekit.Run.load(args.target)
        summary = run.path / SUMMARY
        head = summary.read_text() if summary.is_file() else ""
        layers = run.path / "model_summary.txt"  # written by training: its trainable count
        if layers.is_file():  # (a loaded run's weights are frozen for inference)
            return head + layers.read_text().rstrip("\n")
        return head + aekit.model_summary(run.model, trainable=False)
    data = aekit.load_dataset(args.data, args.data_dir, "val")
    sections = parse_set(args.set)
    if set(sections) - {"model"}:
        other = sorted(set(sections) - {"model"})
        raise ConfigError(
            f"summary builds a model: --set takes model.KEY=VALUE, not {', '.join(other)} "
            "settings (those belong to aekit train)"
        )
    overrides = sections.get("model", {})
    model = aekit.create_model(args.model, data.sample_shape, **overrides)
    return f"{args.model} for {args.data} {data.sample_shape}\n" + aekit.model_summary(model)
