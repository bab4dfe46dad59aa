"""`aekit explore RUN_DIR`: a local web page to explore a trained model's latent space."""

from __future__ import annotations

import sys

from aekit.cli.flags import add_run_and_data


def add_parser(sub) -> list[str]:
    p = sub.add_parser(
        "explore",
        help="a local web page to explore a trained model's latent space",
        description="Serves a page on this machine: the codes of the run's data as a scatter "
        "(by label; codes larger than 2-D in their first two principal components), the "
        "decoding of the point under the cursor, a decoded grid over the visible plane and a "
        "slider per code dimension. Stop it with Ctrl-C.",
    )
    add_run_and_data(p, "all", "which data to show (default all)")
    p.add_argument("--port", type=int, default=8765, help="port to listen on (0: any free one)")
    p.add_argument(
        "--host", default="127.0.0.1", help="address to listen on (0.0.0.0: the whole network)"
    )
    p.add_argument("--n", type=int, default=2000, help="data points to show (a seeded sample)")
    p.add_argument("--seed", type=int, default=0, help="seed of that sample")
    p.add_argument("--no-browser", action="store_true", help="print the address, open nothing")
    return ["explore"]


def run(args) -> int:
    import webbrowser

    from aekit.app import Explorer, make_server

    server = make_server(args.host, args.port)  # a busy port fails before the model loads
    try:
        server.explorer = Explorer(
            args.run_dir, args.n, args.seed, args.split, args.data, args.data_dir
        )
        ex = server.explorer
        print(
            f"aekit explore: {ex.run_dir} ({ex.model.registry_name}, code size {ex.latent_dim}, "
            f"{len(ex.x)} of {len(ex.dataset)} {ex.dataset.name} samples)"
        )
        if args.host not in ("127.0.0.1", "localhost", "::1"):
            print(f"aekit: note: listening on {args.host}: other machines can open this page")
        print(f"{server.url}  (Ctrl-C to stop)", flush=True)
        if not args.no_browser:
            webbrowser.open(server.url)
        server.serve_forever()
    except KeyboardInterrupt:
        print("aekit explore: stopped", file=sys.stderr)
    finally:
        server.server_close()
    return 0
