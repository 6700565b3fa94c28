from __future__ import annotations

# The browser fixtures, for test_inbox_browser.py (see tests/browser.py).
from tests.browser import browser, dev_smtp, page  # noqa: F401
