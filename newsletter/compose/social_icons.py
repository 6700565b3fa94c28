"""The small icons of the social networks a record links to, for its "Follow Us" line.

Drawn by scripts/draw_social_icons.py and shipped with the package; each becomes an asset
of the issue, hosted or attached like the speaker photos. A network without an icon is
shown as a text link.
"""

from __future__ import annotations

from functools import lru_cache
from importlib.resources import files

from newsletter.issue.model import Asset

# Shown at 28 px; the files are twice that, for sharp screens.
ICON_PIXELS = 28


@lru_cache(maxsize=32)
def social_icon(network: str) -> Asset | None:
    """The icon for `network` (as the record names it, any case), or None."""
    name = network.lower()
    if not name.isascii() or not name.isalnum():
        return None
    resource = files("newsletter.compose").joinpath("icons", f"{name}.png")
    if not resource.is_file():
        return None
    # Named apart from the photos (speaker-1-…) and the logo, which share the issue's assets.
    return Asset(f"social-{name}.png", "image/png", resource.read_bytes())
