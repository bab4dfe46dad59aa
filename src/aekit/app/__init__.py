"""The local web UI: `aekit explore RUN_DIR` serves a page to explore a trained model's latent
space (scatter of the codes, decoding under the cursor, a decoded grid, sliders per dimension).
Uses only the public API; standard-library HTTP, no network at run time."""

from aekit.app.explorer import BadRequest, Explorer
from aekit.app.server import ExploreServer, make_server, page_html

__all__ = ["BadRequest", "ExploreServer", "Explorer", "make_server", "page_html"]
