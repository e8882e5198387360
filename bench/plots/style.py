"""One look for every figure: a colour and marker per model, the same in every panel and every figure,
and axis labels a reader can take in at a glance (10k, not 10000).

A model's colour follows from its name alone, never from the order in which a plot meets it:
- each model family has one hue of matplotlib's tab20 (LSTM grey, NTM blue, ARMIN red, ...) and one
  marker; the paper variant takes the dark shade with a solid line and filled markers, the "-code"
  variant the light shade with a dashed line and hollow markers;
- any other name (a preset with options, ``armin (layer_norm=True)``, or a model we do not know) takes a
  colour of tab20b chosen by a checksum of the name, so it too is the same wherever it appears.
"""

from __future__ import annotations

import re
import textwrap
import zlib

import matplotlib
from matplotlib.ticker import FuncFormatter, LogFormatterSciNotation, MaxNLocator

TAB20 = matplotlib.colormaps["tab20"].colors  # (dark, light) pairs of 10 hues
OTHERS = matplotlib.colormaps["tab20b"].colors
# family -> (tab20 hue index, marker)
FAMILIES = {
    "ntm": (0, "o"), "dnc": (1, "s"), "sam": (2, "^"), "armin": (3, "D"), "tardis": (4, "v"), "awta": (5, "P"),
    "fastweights": (6, "X"), "lstm": (7, "*"), "learned-assoc": (8, "h"), "stacked": (9, "p"),
}
CODE_SUFFIX = "-code"
OTHER_MARKERS = ("o", "s", "^", "D", "v", "P", "X", "h")
THRESHOLD_STYLE = {"color": "black", "linestyle": ":", "linewidth": 1.0}


def family(model: str) -> str | None:
    """The model family of a preset or report label: "armin-code" -> "armin", "fig1-sam-linear" -> "sam",
    "lstm-1000" -> "lstm", "armin (layer_norm=True)" -> "armin"; None when unknown."""
    name = model.split(" (", 1)[0].lower()
    name = re.sub(r"^fig\d+-", "", name)
    for known in sorted(FAMILIES, key=len, reverse=True):  # "learned-assoc" before any shorter prefix
        if name == known or name.startswith(known + "-"):
            return known
    return None


def _checksum(text: str) -> int:
    return zlib.crc32(text.encode("utf-8"))


def model_style(model: str) -> dict:
    """Line and marker keyword arguments of ``model`` for matplotlib's plot(): color, marker,
    linestyle, markerfacecolor. Depends on the name only."""
    name = model.split(" (", 1)[0].lower()
    kind = family(model)
    if kind is not None and " (" not in model and name in (kind, kind + CODE_SUFFIX):
        hue, marker = FAMILIES[kind]
        code = name.endswith(CODE_SUFFIX)
        color = TAB20[2 * hue + (1 if code else 0)]
        return {"color": color, "marker": marker, "linestyle": "--" if code else "-",
                "markerfacecolor": "none" if code else color}
    marker = FAMILIES[kind][1] if kind else OTHER_MARKERS[_checksum(model) % len(OTHER_MARKERS)]
    color = OTHERS[_checksum(model) % len(OTHERS)]
    return {"color": color, "marker": marker, "linestyle": "-." if name.endswith(CODE_SUFFIX) else "-",
            "markerfacecolor": color}


def color_of(model: str):
    return model_style(model)["color"]


def short_number(value: float, _position=None) -> str:
    """Tick label: 0, 500, 2.5k, 10k, 1.2M."""
    magnitude = abs(value)
    if magnitude >= 1e6:
        return f"{value / 1e6:g}M"
    if magnitude >= 1e3:
        return f"{value / 1e3:g}k"
    return f"{value:g}"


def thousands_axis(axis) -> None:
    """At most 6 ticks at round values, labelled 10k, 20k (an axis counted in iterations)."""
    axis.set_major_locator(MaxNLocator(nbins=6, steps=[1, 2, 2.5, 5, 10]))
    axis.set_major_formatter(FuncFormatter(short_number))


def caption(fig, text: str) -> None:
    """``text`` under the figure, wrapped to its width."""
    characters = max(40, int(fig.get_figwidth() * 16))
    fig.text(0.5, 0.0, textwrap.fill(text, characters), ha="center", va="top", fontsize=8)


class PlainLogFormatter(LogFormatterSciNotation):
    """Log-axis labels as plain numbers (0.6, 0.01, 1e-05 only where short forms run out), on the ticks
    matplotlib would label: every decade, and minor ticks too where the axis spans under a decade."""

    def __call__(self, value, position=None):
        return f"{value:g}" if super().__call__(value, position) else ""


def log_axis(axis) -> None:
    """A log axis labelled in plain numbers; under 2.5 decades some minor ticks labelled too (all of
    them under half a decade)."""
    axis.set_major_formatter(PlainLogFormatter(labelOnlyBase=False))
    axis.set_minor_formatter(PlainLogFormatter(labelOnlyBase=False, minor_thresholds=(2.5, 0.5)))
