"""What the store last said about a refused login, remembered in memory until it expires.

A client flooding the staff login gets 429 on almost every try. Asking the database each
time costs a transaction per try, and a flood of them slows the one-click unsubscribes that
share the server (issue 9, item 4). Once the store has said "wait N seconds" for an address
and account, every try from them before then gets the same answer, so it is answered from
here. Nothing the store would refuse is let through: an entry only ever shortens the way
to the same refusal. Each server process keeps its own, bounded, so many addresses cannot
grow it without limit.
"""

from __future__ import annotations

import math
import threading
from collections import OrderedDict
from datetime import datetime, timedelta

MAX_ENTRIES = 10_000


class LoginRefusals:
    def __init__(self, max_entries: int = MAX_ENTRIES) -> None:
        self._until: OrderedDict[tuple[str, str], datetime] = OrderedDict()
        self._max = max_entries
        self._lock = threading.Lock()

    def retry_after(self, ip: str, email: str, now: datetime) -> int | None:
        """Whole seconds to wait when a refusal still holds for this address and account."""
        key = (ip, email.strip().lower())
        with self._lock:
            until = self._until.get(key)
            if until is None:
                return None
            if until <= now:
                del self._until[key]
                return None
        return max(1, math.ceil((until - now).total_seconds()))

    def remember(self, ip: str, email: str, now: datetime, wait: timedelta) -> None:
        key = (ip, email.strip().lower())
        with self._lock:
            self._until[key] = now + wait
            self._until.move_to_end(key)
            while len(self._until) > self._max:
                self._until.popitem(last=False)

    def __len__(self) -> int:
        return len(self._until)
