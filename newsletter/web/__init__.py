"""The public web side: web version, PDF, archive, unsubscribe (RFC 8058 one-click included),
preferences, forward to a friend and double opt-in sign-up. `create_app()` builds it;
`newsletter serve` runs it."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from newsletter.web.app import create_app

__all__ = ["create_app"]


def __getattr__(name: str) -> Any:
    # Imported on first use: the submodules (the PDF cache, say) stay light to import
    # without FastAPI, WeasyPrint and the routes.
    if name == "create_app":
        from newsletter.web.app import create_app

        return create_app
    raise AttributeError(name)
