"""The SpamAssassin score of a message, where `spamassassin` is installed.

Run with -L (local tests only: no DNS blocklists, no network) and -t (test mode: the
report is appended), with a time limit. Results are kept per message digest: scoring
takes seconds and the preview page asks on every reload.
"""

from __future__ import annotations

import hashlib
import re
import shutil
import subprocess
import threading
from dataclasses import dataclass

TIMEOUT = 60.0
_STATUS = re.compile(
    r"^X-Spam-Status:\s*(?P<verdict>Yes|No),\s*score=(?P<score>-?[0-9.]+)\s+"
    r"required=(?P<required>-?[0-9.]+)(?P<rest>(?:.*\n[ \t].*)*)",
    re.MULTILINE,
)
_TESTS = re.compile(r"tests=([^\s]+(?:\s*\n?[ \t]+[^\s=]+)*)")
_cache: dict[str, SpamResult] = {}
_lock = threading.Lock()


@dataclass(frozen=True)
class SpamResult:
    installed: bool
    score: float | None = None
    required: float | None = None
    tests: str = ""
    error: str = ""

    @property
    def summary(self) -> str:
        if not self.installed:
            return "SpamAssassin is not installed on this server, so there is no score."
        if self.score is None:
            return f"SpamAssassin could not score the message: {self.error}"
        verdict = "spam" if self.required is not None and self.score >= self.required else "ok"
        return f"SpamAssassin score {self.score:.1f} (spam from {self.required}): {verdict}"


def parse_report(output: str) -> SpamResult:
    match = _STATUS.search(output)
    if match is None:
        return SpamResult(installed=True, error="no X-Spam-Status header in its output")
    tests = _TESTS.search(match.group("rest") or "")
    return SpamResult(
        installed=True,
        score=float(match.group("score")),
        required=float(match.group("required")),
        tests=" ".join(tests.group(1).split()) if tests else "",
    )


def spam_score(message: bytes, *, program: str = "spamassassin") -> SpamResult:
    found = shutil.which(program)
    if found is None:
        return SpamResult(installed=False)
    digest = hashlib.sha256(message).hexdigest()
    with _lock:
        cached = _cache.get(digest)
    if cached is not None:
        return cached
    try:
        done = subprocess.run(
            [found, "-L", "-t"], input=message, capture_output=True, timeout=TIMEOUT, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return SpamResult(installed=True, error=str(exc))
    result = parse_report(done.stdout.decode("utf-8", "replace"))
    with _lock:
        _cache[digest] = result
    return result
