"""A colour-blind-safe qualitative palette with a marker per class, so classes stay apart in
greyscale and for every common colour-vision deficiency.

Colours: Paul Tol's "muted" scheme (https://personal.sron.nl/~pault/#sec:qualitative), nine
colours plus black for a tenth; markers differ too, so two classes never share both.
"""

from __future__ import annotations

#: Tol muted (9) + black: rose, indigo, sand, green, cyan, wine, teal, olive, purple, black
COLORS = (
    "#CC6677",
    "#332288",
    "#DDCC77",
    "#117733",
    "#88CCEE",
    "#882255",
    "#44AA99",
    "#999933",
    "#AA4499",
    "#000000",
)
MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*", "<", ">")
#: the lines of a plot: train, validation and further terms (Tol "bright": blue, red, green...)
LINES = ("#4477AA", "#EE6677", "#228833", "#CCBB44", "#66CCEE", "#AA3377", "#BBBBBB")


def class_style(i: int) -> tuple[str, str]:
    """(colour, marker) of class number ``i``; past ten classes the marker shifts, so the first
    hundred (colour, marker) pairs are all different."""
    return COLORS[i % len(COLORS)], MARKERS[(i + i // len(COLORS)) % len(MARKERS)]


__all__ = ["COLORS", "LINES", "MARKERS", "class_style"]
