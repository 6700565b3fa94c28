"""The SpamAssassin score of a message, where `spamassassin` is installed, and its rules
in plain words: what the staff preview (newsletter.web.staff.preview) and `newsletter
check` (newsletter.cli.check) both show.

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
_TESTS = re.compile(r"tests=((?:[\w.]+,\s*)*[\w.]+)")
# A line of the report's "Content analysis details" table: points, rule, description
# (which may go on over the lines after it, indented).
_DETAIL = re.compile(
    r"^\s*(?P<points>-?[0-9]+(?:\.[0-9]+)?)\s+(?P<rule>[A-Z0-9_]+)\s+(?P<text>.*)$"
)
_DETAILS_START = re.compile(r"^\s*-{4} -{10,} -{10,}\s*$", re.MULTILINE)
_cache: dict[str, SpamResult] = {}
_lock = threading.Lock()


# SpamAssassin's rules that newsletters meet most, in plain words for the comms staff.
# Keyed by rule name; a key ending in "_" covers the numbered family (HTML_IMAGE_ONLY_16).
PLAIN_WORDS = {
    "HTML_MESSAGE": "The message has an HTML part. Every newsletter has one; it costs nothing.",
    "MIME_HTML_ONLY": "There is an HTML part but no plain-text part.",
    "MIME_HTML_MOSTLY": "Most of the message is HTML, with little plain text.",
    "MPART_ALT_DIFF": "The plain-text part says something different from the HTML part.",
    "MPART_ALT_DIFF_COUNT": "The plain-text part and the HTML part differ in length a lot.",
    "HTML_IMAGE_ONLY_": "The HTML is almost all pictures, with very little text.",
    "HTML_IMAGE_RATIO_": "The HTML has many pictures for the amount of text in it.",
    "HTML_SHORT_LINK_IMG_": "The HTML is short and mostly a linked picture.",
    "HTML_FONT_LOW_CONTRAST": "Some text is almost the colour of its background.",
    "HTML_MIME_NO_HTML_TAG": "The HTML part does not start with an <html> tag.",
    "HTML_TAG_BALANCE_BODY": "The HTML's tags do not open and close in pairs.",
    "HTML_FONT_SIZE_HUGE": "Some text is in a very large font.",
    "HTML_FONT_SIZE_LARGE": "Some text is in a large font.",
    "KAM_HTML_FONT_INVALID": "The HTML sets a font colour or size in a way mail readers ignore.",
    "REMOTE_IMAGE": "The HTML loads its pictures from the web, as a newsletter's do.",
    "MISSING_DATE": "The message has no Date line.",
    "MISSING_MID": "The message has no Message-ID line.",
    "MISSING_HEADERS": "The message lacks a header mail needs, such as To.",
    "MISSING_SUBJECT": "The message has no subject.",
    "MISSING_FROM": "The message has no From line.",
    "EMPTY_MESSAGE": "The message has no text at all.",
    "SUBJ_ALL_CAPS": "The subject is written in capital letters.",
    "MIME_QP_LONG_LINE": "A line of the encoded message is longer than the standard allows.",
    "DKIM_SIGNED": "The message carries a DKIM signature (proof of the sending domain).",
    "DKIM_VALID": "The DKIM signature checks out.",
    "DKIM_VALID_AU": "The DKIM signature checks out and is the From address's own domain's.",
    "DKIM_VALID_EF": "The DKIM signature checks out for the envelope sender's domain.",
    "DKIM_INVALID": "The DKIM signature does not check out: the message changed after "
    "signing, or the published key does not match.",
    "NO_RELAYS": "No mail server has handled the message yet: normal for a preview.",
    "NO_RECEIVED": "The message has no Received lines yet: normal for a preview.",
    "ALL_TRUSTED": "Every server the message passed through is trusted.",
    "FREEMAIL_FROM": "The sender's address is at a free mail provider.",
    "HEADER_FROM_DIFFERENT_DOMAINS": "The From address and the bounce address are in "
    "different domains.",
    "RDNS_NONE": "The sending server has no name in the DNS.",
    "SPF_PASS": "The sending server is allowed to send for the sender's domain (SPF).",
    "SPF_HELO_PASS": "The sending server's own name is allowed to send (SPF).",
    "SPF_NONE": "The sender's domain says nothing about who may send for it (no SPF).",
    "SPF_HELO_NONE": "The sending server's own name has no SPF record.",
    "SPF_FAIL": "The sending server is not allowed to send for the sender's domain (SPF).",
    "SPF_SOFTFAIL": "The sender's domain says this server probably may not send for it (SPF).",
    "DATE_IN_PAST_": "The Date line is well in the past.",
    "DATE_IN_FUTURE_": "The Date line is in the future.",
    "BAYES_": "SpamAssassin's learnt filter's opinion of the wording.",
    "URIBL_BLOCKED": "A blocklist of web addresses could not be asked; no effect on the score.",
    "RAZOR2_CHECK": "A shared database of spam knows this message.",
    "PYZOR_CHECK": "A shared database of spam knows this message.",
}
_UNEXPLAINED = "No plain explanation of this rule here yet."


def explain(rule: str, description: str = "") -> str:
    """A rule in plain words: ours, else SpamAssassin's own description of it."""
    name = rule.removeprefix("T_")
    if name in PLAIN_WORDS:
        return PLAIN_WORDS[name]
    family = re.sub(r"(?<=_)[0-9]+$", "", name)
    if family != name and family in PLAIN_WORDS:
        return PLAIN_WORDS[family]
    return description or _UNEXPLAINED


@dataclass(frozen=True)
class SpamRule:
    name: str
    # None when the report did not say (only the X-Spam-Status line was there).
    points: float | None
    meaning: str


@dataclass(frozen=True)
class SpamResult:
    installed: bool
    score: float | None = None
    required: float | None = None
    tests: str = ""
    error: str = ""
    rules: tuple[SpamRule, ...] = ()

    @property
    def is_spam(self) -> bool:
        return self.score is not None and self.required is not None and self.score >= self.required

    @property
    def sentence(self) -> str:
        """The result as one plain sentence for the staff."""
        if self.score is None or self.required is None:
            return self.summary
        points = f"SpamAssassin gives this message {self.score:.1f} points"
        limit = f"it treats a message as spam from {self.required:.1f}"
        if self.is_spam:
            verdict = "so this one would be marked as spam: the rules below say why"
        elif self.score <= self.required / 2:
            verdict = "so this one passes easily"
        else:
            verdict = "so this one passes, though not by much"
        return f"{points}; {limit}, {verdict}."

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
    listed = " ".join(tests.group(1).split()) if tests else ""
    return SpamResult(
        installed=True,
        score=float(match.group("score")),
        required=float(match.group("required")),
        tests=listed,
        rules=_rules(listed, _details(output)),
    )


def _details(output: str) -> dict[str, tuple[float, str]]:
    """The report's table of rules: points and SpamAssassin's description, by rule."""
    start = _DETAILS_START.search(output)
    if start is None:
        return {}
    found: dict[str, tuple[float, str]] = {}
    last = ""
    for line in output[start.end() :].splitlines():
        if not line.strip():
            if found:
                break
            continue
        detail = _DETAIL.match(line)
        if detail is not None:
            last = detail.group("rule")
            found[last] = (float(detail.group("points")), detail.group("text").strip())
        elif last and line[:1].isspace():
            points, text = found[last]
            found[last] = (points, f"{text} {line.strip()}")
        else:
            break
    return found


def _rules(listed: str, details: dict[str, tuple[float, str]]) -> tuple[SpamRule, ...]:
    names = [name.strip() for name in listed.split(",") if name.strip()]
    names = [name for name in names if name.lower() != "none" and not name.startswith("__")]
    names += [name for name in details if name not in names]
    rules = []
    for name in names:
        points, description = details.get(name, (None, ""))
        rules.append(SpamRule(name, points, explain(name, description)))
    # What weighs most first: the rules to fix are at the top.
    return tuple(sorted(rules, key=lambda rule: -(rule.points or 0.0)))


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
