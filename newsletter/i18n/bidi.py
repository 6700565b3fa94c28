"""Bidi isolation: a run of one direction inside text of the other keeps its own order,
and the punctuation at its ends stays with it.

Without it, an English sentence in a right-to-left page shows its closing colon on the
wrong side (":Brief summary ..."), a Latin name followed by a comma pulls the comma after
it, and a row of Latin links reads from the left. HTML gets `dir` attributes (every
element with one isolates its content); plain text gets the Unicode isolate characters.
"""

from __future__ import annotations

from markupsafe import Markup, escape

LRI = "\u2066"  # left-to-right isolate
FSI = "\u2068"  # first-strong isolate: the direction of the run's first letter
PDI = "\u2069"  # pop directional isolate


def ltr_text(text: str) -> str:
    """`text`, known to be left to right (an English fixed string), isolated."""
    return f"{LRI}{text}{PDI}"


def isolate_text(value: object) -> str:
    """A value of either direction (a name, an address) isolated in plain text."""
    return f"{FSI}{value}{PDI}"


def isolate_html(value: object) -> Markup:
    """A value of either direction, escaped and isolated in HTML."""
    return Markup('<span dir="auto">%s</span>') % escape(value)
