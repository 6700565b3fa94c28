"""Ways of delivering mail, all behind `base.Transport`; `make_transport` picks one."""

from newsletter.transports.base import (
    Content,
    Outcome,
    OutgoingMessage,
    Status,
    Transport,
    TransportError,
)
from newsletter.transports.registry import TRANSPORTS, make_transport

__all__ = [
    "TRANSPORTS",
    "Content",
    "Outcome",
    "OutgoingMessage",
    "Status",
    "Transport",
    "TransportError",
    "make_transport",
]
