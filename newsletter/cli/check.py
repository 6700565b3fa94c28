"""`newsletter check`: a record's deliverability report, the staff preview's checks in a
terminal or a script.

The checks are the preview's (newsletter.web.staff.preview), on the same message, the one a
sample reader would get: the HTML's size against Gmail's clip and each image against its
budget, alt text, links and unsubscribe links (newsletter.compose.checks), SpamAssassin's
score with its rules in plain words (newsletter.mail.spam), and, beyond the preview, the
DKIM signature a send would add, verified with dkimpy against the public key.

Exit status: 0 when every check passed or could not run here (no spamassassin, no DKIM
configured), 1 when one failed, 2 when the record or the settings could not be read, so
nothing was checked.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Literal

import typer

from newsletter.cli import context
from newsletter.cli.root import app
from newsletter.core.errors import NewsletterError, RecordError

if TYPE_CHECKING:
    from rich.text import Text

    from newsletter.compose import Issue, Problem
    from newsletter.core.settings import Settings
    from newsletter.mail.spam import SpamResult, SpamRule

Status = Literal["passed", "failed", "skipped"]

# The composer's problem codes (newsletter.compose.checks), by the check that reports them.
_CHECK_OF_CODE = {
    "html-too-large": "html-size",
    "image-too-large": "images",
    "image-without-alt": "alt-text",
    "bad-link": "links",
    "no-unsubscribe": "unsubscribe",
    "merge-field": "merge-fields",
}


@dataclass(frozen=True)
class Check:
    # A stable name for scripts ("html-size"); `title` is for people.
    name: str
    title: str
    status: Status
    sentence: str
    # What the sentence sums up, one line each.
    lines: tuple[str, ...] = ()
    # The figures behind it, for --json.
    data: dict[str, object] = field(default_factory=dict)

    def as_json(self) -> dict[str, object]:
        found: dict[str, object] = {"check": self.name, "status": self.status}
        found["sentence"] = self.sentence
        if self.lines:
            found["details"] = list(self.lines)
        return found | self.data


@dataclass(frozen=True)
class Report:
    record: str
    checks: tuple[Check, ...]
    spam_rules: tuple[SpamRule, ...] = ()

    @property
    def failed(self) -> list[Check]:
        return [check for check in self.checks if check.status == "failed"]

    def as_json(self) -> dict[str, object]:
        return {
            "record": self.record,
            "ok": not self.failed,
            "failed": [check.name for check in self.failed],
            "checks": [check.as_json() for check in self.checks],
        }


@app.command()
def check(
    record: Annotated[Path, typer.Argument(help="The seminar record (.yaml, .yml or .json).")],
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the report as JSON, for scripts.")
    ] = False,
    dkim_record: Annotated[
        str | None,
        typer.Option(
            "--dkim-record",
            help="Verify the DKIM signature against this TXT record (as published at "
            "`<selector>._domainkey.<domain>`) instead of the key file's own public key.",
        ),
    ] = None,
) -> None:
    """Check RECORD's message before it goes out, as the staff preview does: the HTML's
    size against Gmail's clip, image sizes, alt text, links, unsubscribe links, the
    SpamAssassin score (where spamassassin is installed) and the DKIM signature (where
    NEWSLETTER_DKIM_* is set). Exit status 1 when a check fails, 2 when RECORD or the
    settings cannot be read."""
    try:
        settings = context.settings()
        issue, problems = _compose(settings, record)
    except RecordError as exc:
        for problem in exc.problems:
            typer.echo(problem, err=True)
        raise typer.Exit(2) from None
    except (NewsletterError, OSError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    report = deliverability(settings, issue, problems, record=str(record), dkim_record=dkim_record)
    if as_json:
        typer.echo(json.dumps(report.as_json(), indent=2, ensure_ascii=False))
    else:
        _print(report)
    if report.failed:
        raise typer.Exit(1)


def _compose(settings: Settings, record: Path) -> tuple[Issue, list[Problem]]:
    from newsletter.compose.from_file import compose_file

    return compose_file(settings, record)


def deliverability(
    settings: Settings,
    issue: Issue,
    problems: list[Problem],
    *,
    record: str,
    dkim_record: str | None = None,
) -> Report:
    """The report on `issue` as a sample reader gets it; `problems` are the composer's."""
    from newsletter.mail.sample import sample_copy
    from newsletter.mail.spam import spam_score

    by_check: dict[str, list[Problem]] = {}
    for problem in problems:
        by_check.setdefault(_CHECK_OF_CODE.get(problem.code, "other"), []).append(problem)
    message = sample_copy(settings, issue).message
    spam = spam_score(message)
    checks = [
        _html_size(issue, by_check),
        _images(issue, settings.photo_budget_bytes, by_check),
        _problems(
            "alt-text",
            "Alt text",
            by_check,
            "Every image has alt text, or an empty one that marks it as decoration.",
            "{count} alt text: a reader whose mail blocks pictures, or who has it "
            "read aloud, learns nothing from {them}.",
            ("An image has no", "images have no"),
        ),
        _problems(
            "links",
            "Links",
            by_check,
            "Every link is an absolute http(s) or mailto address.",
            "{count} not an absolute http(s) address: from a mail reader {them} lead nowhere.",
            ("A link is", "links are"),
        ),
        _problems(
            "unsubscribe",
            "Unsubscribe",
            by_check,
            "The HTML and the text part both have an unsubscribe link.",
            "{count} missing: readers who cannot find one report the mail as spam instead.",
            ("An unsubscribe link is", "unsubscribe links are"),
        ),
        _problems(
            "merge-fields",
            "Merge fields",
            by_check,
            "Every merge field is well formed.",
            "{count} malformed: every reader would see {them} as written.",
            ("A merge field is", "merge fields are"),
        ),
    ]
    if "other" in by_check:
        checks.append(
            _problems("other", "Other", by_check, "", "{count} found.", ("A problem", "problems"))
        )
    checks.append(_spam(spam))
    checks.append(_dkim(settings, message, dkim_record))
    return Report(record, tuple(checks), spam.rules)


def _count(number: int, one_many: tuple[str, str]) -> str:
    one, many = one_many
    return one if number == 1 else f"{number} {many}"


def _html_size(issue: Issue, by_check: dict[str, list[Problem]]) -> Check:
    from newsletter.compose.checks import GMAIL_CLIP_BYTES, html_bytes

    size = html_bytes(issue)
    data: dict[str, object] = {"bytes": size, "clip_bytes": GMAIL_CLIP_BYTES}
    if "html-size" in by_check:
        return Check(
            "html-size",
            "HTML size",
            "failed",
            f"The HTML is {size:,} bytes: Gmail clips a message over about "
            f"{GMAIL_CLIP_BYTES:,} bytes and hides the rest, unsubscribe link included, "
            f'behind "View entire message".',
            data=data,
        )
    return Check(
        "html-size",
        "HTML size",
        "passed",
        f"The HTML is {size:,} bytes, under the {GMAIL_CLIP_BYTES:,} at which Gmail clips a "
        f"message.",
        data=data,
    )


def _images(issue: Issue, budget: int, by_check: dict[str, list[Problem]]) -> Check:
    sizes = [(asset.filename, len(asset.data)) for asset in issue.assets]
    data: dict[str, object] = {
        "budget_bytes": budget,
        "images": [
            {"file": name, "bytes": size, "over_budget": size > budget} for name, size in sizes
        ],
    }
    where = f"the budget of {budget:,} bytes each (NEWSLETTER_PHOTO_BUDGET_BYTES)"
    if not sizes:
        return Check("images", "Images", "passed", "The message carries no images.", data=data)
    over = [(name, size) for name, size in sizes if size > budget]
    if "images" in by_check or over:
        return Check(
            "images",
            "Images",
            "failed",
            f"{len(over)} of {len(sizes)} images are over {where}: every reader's mail "
            f"downloads each of them, on every open.",
            tuple(f"{name} is {size:,} bytes" for name, size in over),
            data,
        )
    name, size = max(sizes, key=lambda item: item[1])
    every = "The one image is" if len(sizes) == 1 else f"All {len(sizes)} images are"
    return Check(
        "images",
        "Images",
        "passed",
        f"{every} within {where}; the largest, {name}, is {size:,} bytes.",
        data=data,
    )


def _problems(
    name: str,
    title: str,
    by_check: dict[str, list[Problem]],
    passed: str,
    failed: str,
    one_many: tuple[str, str],
) -> Check:
    found = by_check.get(name, [])
    if not found:
        return Check(name, title, "passed", passed, data={"problems": []})
    count = _count(len(found), one_many)
    sentence = failed.format(count=count, them="it" if len(found) == 1 else "them")
    return Check(
        name,
        title,
        "failed",
        sentence[0].upper() + sentence[1:],
        tuple(problem.message for problem in found),
        {"problems": [{"code": p.code, "message": p.message} for p in found]},
    )


def _spam(result: SpamResult) -> Check:
    data: dict[str, object] = {
        "installed": result.installed,
        "score": result.score,
        "required": result.required,
        "rules": [
            {"rule": rule.name, "points": rule.points, "meaning": rule.meaning}
            for rule in result.rules
        ],
    }
    if not result.installed:
        sentence = "SpamAssassin is not installed here, so there is no score."
        return Check("spam", "Spam score", "skipped", sentence, data=data)
    if result.score is None:
        return Check("spam", "Spam score", "skipped", result.sentence, data=data)
    status: Status = "failed" if result.is_spam else "passed"
    return Check("spam", "Spam score", status, result.sentence, data=data)


def _dkim(settings: Settings, message: bytes, published: str | None) -> Check:
    from newsletter.core.errors import ConfigError
    from newsletter.mail.dkim import DkimError, DkimSigner

    try:
        signer = DkimSigner.from_settings(settings)
    except ConfigError as exc:
        return Check("dkim", "DKIM", "failed", f"Messages cannot be signed: {exc}.")
    if signer is None:
        return Check(
            "dkim",
            "DKIM",
            "skipped",
            "NEWSLETTER_DKIM_DOMAIN is not set, so messages go out unsigned; large mail "
            "providers ask bulk senders for a DKIM signature.",
        )
    dns_name = f"{signer.selector}._domainkey.{signer.domain}"
    own = signer.dns_record()
    data: dict[str, object] = {
        "domain": signer.domain,
        "selector": signer.selector,
        "algorithm": signer.algorithm,
        "dns_name": dns_name,
        "dns_record": own,
        "checked_against": "dkim-record" if published is not None else "key-file",
    }
    against = (
        "the TXT record given with --dkim-record"
        if published is not None
        else "the public key of NEWSLETTER_DKIM_KEY_FILE"
    )
    try:
        signed = signer.sign(message)
    except DkimError as exc:
        return Check("dkim", "DKIM", "failed", f"The message cannot be signed: {exc}.", data=data)
    error = verify(signed, dns_name, _txt_value(published) if published is not None else own)
    if error is not None:
        return Check(
            "dkim",
            "DKIM",
            "failed",
            f"The DKIM signature does not check out against {against}: {error}.",
            data=data,
        )
    return Check(
        "dkim",
        "DKIM",
        "passed",
        f"The message is signed for {signer.domain} ({signer.algorithm}, selector "
        f"{signer.selector}) and the signature checks out against {against}; receivers "
        f"look the key up at {dns_name}.",
        data=data,
    )


def verify(message: bytes, dns_name: str, txt: str) -> str | None:
    """Why the topmost DKIM signature of `message` fails against the TXT record `txt`
    published at `dns_name`, or None when it checks out (dkimpy, no DNS asked)."""
    import dkim

    from newsletter.mail.dkim import MIN_RSA_BITS

    def lookup(name: bytes, timeout: float = 5) -> bytes:
        asked = name.decode("ascii", "replace").rstrip(".").lower()
        return txt.encode("ascii", "replace") if asked == dns_name else b""

    if re.search(r"(?:^|;)\s*p=\s*(?:;|$)", txt):
        return "the TXT record's p= is empty, which means the key was revoked"
    try:
        dkim.evaluate_pk(dns_name.encode("ascii"), txt.encode("ascii", "replace"))
    except dkim.DKIMException as exc:
        return f'the TXT record is no DKIM key ("v=DKIM1; k=rsa; p=..."): {_plain(exc)}'
    errors = _Errors()
    logger = logging.Logger("newsletter.cli.check.dkim")
    logger.addHandler(errors)
    try:
        ok = dkim.DKIM(message, logger=logger, minkey=MIN_RSA_BITS).verify(dnsfunc=lookup)
    except dkim.DKIMException as exc:
        return _plain(exc)
    if ok:
        return None
    return "; ".join(errors.messages) or "the signature does not match the message and the key"


def _plain(exc: BaseException) -> str:
    """dkimpy's reason, from inside the exceptions it wraps and without bytes' b'...'."""
    detail: object = exc
    while isinstance(detail, BaseException) and detail.args:
        detail = detail.args[0]
    if isinstance(detail, bytes):
        return detail.decode("ascii", "replace")
    return str(detail) or type(exc).__name__


class _Errors(logging.Handler):
    """What dkimpy logs as errors while it verifies: its reasons for a False."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def _txt_value(published: str) -> str:
    """A TXT record's value as given: as is, or joined from its quoted strings as `dig`
    prints them (`"v=DKIM1; k=rsa; " "p=MIIB..."`)."""
    pieces = re.findall(r'"((?:[^"\\]|\\.)*)"', published)
    return "".join(pieces) if pieces else published.strip()


_LABELS: dict[Status, tuple[str, str]] = {
    "passed": ("passed ", "green"),
    "failed": ("FAILED ", "bold red"),
    "skipped": ("skipped", "yellow"),
}


def _print(report: Report) -> None:
    from rich.console import Console
    from rich.text import Text

    console = Console(file=sys.stdout, soft_wrap=True, highlight=False)
    console.print(Text(f"Deliverability of {report.record}, as a sample reader gets it:"))
    console.print()
    for item in report.checks:
        label, style = _LABELS[item.status]
        line = Text()
        line.append(label, style=style)
        line.append(f"  {item.title}: ", style="bold")
        line.append(item.sentence)
        console.print(line)
        for detail in item.lines:
            console.print(Text(f"           - {detail}"))
        if item.name == "spam":
            for rule_line in _rule_lines(report.spam_rules):
                console.print(Text(rule_line))
    console.print()
    console.print(_verdict(report))


def _rule_lines(rules: Iterable[SpamRule]) -> list[str]:
    rules = list(rules)
    if not rules:
        return []
    width = max(len(rule.name) for rule in rules)
    lines = ["           The rules it matched, weightiest first (negative points help):"]
    for rule in rules:
        points = f"{rule.points:+.1f}" if rule.points is not None else "–"
        lines.append(f"           {points:>5}  {rule.name:<{width}}  {rule.meaning}")
    return lines


def _verdict(report: Report) -> Text:
    from rich.text import Text

    skipped = [item.title for item in report.checks if item.status == "skipped"]
    failed = report.failed
    if failed:
        names = ", ".join(item.title for item in failed)
        of = f"{len(failed)} of {len(report.checks)} checks failed"
        return Text(f"{of}: {names}.", style="bold red")
    text = f"All {len(report.checks) - len(skipped)} checks passed"
    if skipped:
        text += f"; not checked here: {', '.join(skipped)}"
    return Text(f"{text}.", style="bold green")
