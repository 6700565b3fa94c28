"""`newsletter send`: compose a record once and send it to a list as a campaign.

The first line on stdout is `campaign ID` (scripts read it); the confirmation prompt, the
composer's warnings and the progress bar go to stderr. `--dry-run` and `--test-to` record
nothing in the store.
"""

from __future__ import annotations

import sys
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Literal, NoReturn

import typer

from newsletter.cli import context
from newsletter.cli.campaigns import run_in_foreground
from newsletter.cli.lists import store_errors
from newsletter.cli.root import app
from newsletter.core.errors import NewsletterError, RecordError
from newsletter.issue.merge_fields import as_written

if TYPE_CHECKING:
    from newsletter.issue.model import Issue
    from newsletter.sending.service import CampaignService, Draft, EarlierSends
    from newsletter.store.lists import ListSummary


@app.command()
def send(
    record: Annotated[Path, typer.Argument(help="The seminar record (.yaml, .yml or .json).")],
    list_name: Annotated[str, typer.Option("--list", "-l", help="The list to send to.")],
    transport_name: Annotated[
        str | None,
        typer.Option(
            "--transport",
            "-t",
            help="smtp, sendgrid, mailgun, postmark, ses or outbox; default NEWSLETTER_TRANSPORT.",
        ),
    ] = None,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Send without asking.")] = False,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Show who would get it and a sample; send nothing.")
    ] = False,
    test_to: Annotated[
        str | None,
        typer.Option("--test-to", metavar="ADDRESS", help="Send one message to this address only."),
    ] = None,
    images: Annotated[
        Literal["hosted", "inline"] | None,
        typer.Option(help="Photos hosted under the public URL or attached inline."),
    ] = None,
    force: Annotated[
        bool, typer.Option("--force", help="Send even though the composer found problems.")
    ] = False,
    sample_out: Annotated[
        Path | None,
        typer.Option("--sample-out", help="With --dry-run: write the sample message (.eml) here."),
    ] = None,
    queue: Annotated[
        bool,
        typer.Option(
            "--queue",
            help="Record the campaign and hand it to the sending workers (newsletter worker) "
            "instead of sending it here; needs NEWSLETTER_BROKER_URL.",
        ),
    ] = False,
    at: Annotated[
        str | None,
        typer.Option(
            "--at",
            metavar="TIME",
            help="Schedule it: the sending workers start it at TIME, ISO 8601 with the zone "
            "offset (e.g. 2026-12-05T09:00+05:00); implies --queue. Move it with "
            "`newsletter campaigns schedule`, or cancel it, until then.",
        ),
    ] = None,
) -> None:
    """Send RECORD to every eligible subscriber of a list (active, not suppressed, each
    address once), as a campaign that survives interruption.

    Exit status: 0 sent to everyone, 1 an error (nothing sent), 2 an invalid record,
    3 paused (an error storm such as a refused login, or Ctrl-C; see the reason, then
    `newsletter campaigns resume ID`), 4 cancelled. With --queue: 0 once the campaign is
    recorded and handed to the workers (follow it with `newsletter campaigns wait ID`);
    with --at, once it is recorded as scheduled.
    """
    if dry_run and test_to:
        _fail("--dry-run and --test-to do not go together")
    if at is not None and (dry_run or test_to):
        _fail("--at schedules a send to the list; it does not go with --dry-run or --test-to")
    if queue and (dry_run or test_to):
        _fail("--queue sends to the list; it does not go with --dry-run or --test-to")
    if queue or at is not None:
        _require_broker("--at" if at is not None else "--queue")
    when = _send_time(at) if at is not None else None
    try:
        service, issue, problems = _prepare(record, images)
        for problem in problems:
            typer.echo(f"warning: {problem}", err=True)
        summary = service.audience(list_name)
        if not test_to and (again := _sent_before(service.earlier_sends(issue, summary), summary)):
            typer.echo(f"warning: {again}", err=True)
        with service.draft(issue, summary, transport_name) as draft:
            if dry_run:
                _dry_run(draft, sample_out)
                return
            if test_to is not None:
                _test(test_to, draft)
                return
            # A real send: the draft's transport, never connected, closes here; the runner
            # opens its own.
    except RecordError as exc:
        for problem in exc.problems:
            typer.echo(problem, err=True)
        raise typer.Exit(2) from None
    except NewsletterError as exc:
        _fail(str(exc))
    if problems and not force:
        _fail("the composer found the problems above; fix the record, or send anyway with --force")
    if summary.eligible == 0:
        _fail(f"list {summary.name!r} has no eligible subscribers (active and not suppressed)")
    if not yes:
        _confirm(issue, summary, draft.where, service.shown(when) if when else None)
    if when is not None:
        _schedule(service, issue, summary, draft.transport.name, when)
        return
    with store_errors():
        campaign_id = service.create(issue, summary, draft.transport.name)
    typer.echo(f"campaign {campaign_id}")
    sys.stdout.flush()
    if queue:
        _enqueue(campaign_id)
        return
    raise typer.Exit(run_in_foreground(service, campaign_id, resume=False))


def _require_broker(what: str) -> None:
    from newsletter.sending.worker import require_broker

    try:
        require_broker(context.settings(), what)
    except NewsletterError as exc:
        _fail(str(exc))


def _send_time(text: str) -> datetime:
    """--at, checked before anything is composed: with a zone offset, in the future."""
    try:
        return context.campaigns().read_time(text)
    except NewsletterError as exc:
        _fail(f"--at: {exc}")


def _schedule(
    service: CampaignService, issue: Issue, summary: ListSummary, transport: str, when: datetime
) -> None:
    try:
        campaign_id = service.create_scheduled(issue, summary, transport, when)
    except NewsletterError as exc:
        # The time may have passed while the record was composed or the prompt waited.
        _fail(str(exc))
    typer.echo(f"campaign {campaign_id}")
    typer.echo(
        f"scheduled for {service.shown(when)}: a sending worker (newsletter worker) starts it "
        f"then; move it with: newsletter campaigns schedule {campaign_id} --at TIME, or "
        f"cancel it with: newsletter campaigns cancel {campaign_id}"
    )


def _enqueue(campaign_id: int) -> None:
    from newsletter.sending.worker import enqueue

    try:
        enqueue(context.settings(), campaign_id)
    except NewsletterError as exc:
        _fail(f"{exc}; send it here with: newsletter campaigns resume {campaign_id}")
    typer.echo(
        f"handed to the sending workers; follow it with: newsletter campaigns wait {campaign_id}"
    )


def _fail(message: str) -> NoReturn:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(1)


def _prepare(
    record: Path, images: Literal["hosted", "inline"] | None
) -> tuple[CampaignService, Issue, list[str]]:
    from newsletter.compose.from_file import compose_file

    settings = context.settings()
    # Checked before composing, so a missing key stops the send before any work.
    settings.signing_key()
    issue, problems = compose_file(settings, record, images=images)
    return context.campaigns(), issue, [str(problem) for problem in problems]


def _dry_run(draft: Draft, sample_out: Path | None) -> None:
    from newsletter.store.models import MembershipStatus

    summary = draft.audience
    assert summary is not None
    counts = summary.counts
    typer.echo(
        f"dry run: nothing sent, nothing recorded\n"
        f"list {summary.name!r}: {counts[MembershipStatus.ACTIVE]} active, "
        f"{counts[MembershipStatus.UNSUBSCRIBED]} unsubscribed, "
        f"{counts[MembershipStatus.UNCONFIRMED]} unconfirmed\n"
        f"would send {as_written(draft.issue.subject)!r} to {summary.eligible} recipients "
        f"(active, not suppressed) through {draft.where}"
    )
    data = draft.sample()
    if data is None:
        return
    head = data.split(b"\r\n\r\n", 1)[0].decode("ascii", "replace")
    typer.echo(f"sample message, to the first recipient ({len(data):,} bytes):\n{head}")
    if sample_out is not None:
        try:
            sample_out.write_bytes(data)
        except OSError as exc:
            raise NewsletterError(f"cannot write {sample_out}: {exc.strerror or exc}") from exc
        typer.echo(f"wrote the whole sample message to {sample_out}")


def _test(address: str, draft: Draft) -> None:
    from newsletter.transports.base import Status

    email, outcome = draft.send_test(address)
    if outcome.status is not Status.SENT:
        raise NewsletterError(
            f"the test message to {email} was {outcome.status.value}: {outcome.detail}"
        )
    typer.echo(f"test message sent to {email} through {draft.where}: {outcome.detail}")


def _sent_before(earlier: EarlierSends, summary: ListSummary) -> str:
    """What a second send of the issue would repeat, or "" when it would be the first."""
    if earlier.sent_before:
        times = f" {earlier.campaigns} times" if earlier.campaigns > 1 else ""
        return (
            f"this issue already went to list {summary.name!r}{times}; {earlier.recipients} of "
            f"its {summary.eligible} recipients received it and would get it again"
        )
    if earlier.recipients:
        return (
            f"{earlier.recipients} of the {summary.eligible} recipients received this issue "
            "already, from another list, and would get it again"
        )
    return ""


def _interactive() -> bool:
    return sys.stdin.isatty()


def _confirm(issue: Issue, summary: ListSummary, where: str, when: str | None = None) -> None:
    if not _interactive():
        _fail("standard input is not a terminal, so nobody can confirm; pass --yes to send")
    question = (
        f"Send {as_written(issue.subject)!r} to {summary.eligible} recipients "
        f"on list {summary.name!r} through {where}{f' at {when}' if when else ''}?"
    )
    if not typer.confirm(question, default=False, err=True):
        typer.echo("nothing sent", err=True)
        raise typer.Exit(1)
