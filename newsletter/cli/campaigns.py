"""`newsletter campaigns`: list campaigns; pause, resume, cancel or wait for one.

Each command is one call of the campaign service (newsletter.sending.service).
`run_in_foreground` is shared with `newsletter send`: it runs a campaign with a progress
bar on stderr and turns how the run ended into the exit status:
0 done, 3 paused (by an error storm, Ctrl-C or `campaigns pause`), 4 cancelled.
"""

from __future__ import annotations

import json
import signal
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from types import FrameType
from typing import TYPE_CHECKING, Annotated, Any

import typer

from newsletter.cli import context
from newsletter.cli.lists import store_errors
from newsletter.cli.root import app
from newsletter.issue.merge_fields import as_written

if TYPE_CHECKING:
    from newsletter.sending.service import (
        CampaignProgress,
        CampaignService,
        ListedCampaign,
        Progress,
        RunResult,
        StopRequest,
    )

EXIT_PAUSED = 3
EXIT_CANCELLED = 4

campaigns_app = typer.Typer(
    help="Campaigns: list them; pause, resume, cancel or wait for one.", no_args_is_help=True
)
app.add_typer(campaigns_app, name="campaigns")

# So that a row fits 80 columns.
SUBJECT_WIDTH = 20

CampaignId = Annotated[int, typer.Argument(metavar="ID", help="The campaign's id.")]


@campaigns_app.command("list")
def list_(
    as_json: Annotated[bool, typer.Option("--json", help="One JSON array on stdout.")] = False,
) -> None:
    """Every campaign, newest first, with its deliveries counted per state."""
    with store_errors():
        listed = context.campaigns().campaigns()
    if as_json:
        typer.echo(json.dumps([_as_json(campaign) for campaign in listed], indent=2))
        return
    _table(listed)


@campaigns_app.command("pause")
def pause(campaign_id: CampaignId) -> None:
    """Pause a campaign; a sender working on it stops before its next batch."""
    with store_errors():
        changed = context.campaigns().pause(campaign_id)
    if changed:
        typer.echo(
            f"paused campaign {campaign_id}; resume with: newsletter campaigns resume {campaign_id}"
        )
    else:
        typer.echo(f"campaign {campaign_id} was paused already")


@campaigns_app.command("cancel")
def cancel(campaign_id: CampaignId) -> None:
    """Cancel a campaign: nothing more is sent; what is pending is skipped."""
    with store_errors():
        cancelled = context.campaigns().cancel(campaign_id)
    typer.echo(f"cancelled campaign {campaign_id}: {cancelled.skipped} pending deliveries skipped")
    if cancelled.runner_live:
        typer.echo("a sender working on it stops after its current batch")


@campaigns_app.command("schedule")
def schedule(
    campaign_id: CampaignId,
    at: Annotated[
        str,
        typer.Option(
            "--at",
            metavar="TIME",
            help="The new time, ISO 8601 with the zone offset (e.g. 2026-12-05T09:00+05:00).",
        ),
    ],
) -> None:
    """Move a scheduled campaign to another time, before it starts."""
    from newsletter.core.errors import NewsletterError

    with store_errors():
        service = context.campaigns()
    try:
        when = service.read_time(at)
    except NewsletterError as exc:
        typer.echo(f"error: --at: {exc}", err=True)
        raise typer.Exit(1) from None
    with store_errors():
        service.reschedule(campaign_id, when)
    typer.echo(f"campaign {campaign_id} scheduled for {service.shown(when)}")


@campaigns_app.command("resume")
def resume(
    campaign_id: CampaignId,
    queue: Annotated[
        bool,
        typer.Option(
            "--queue",
            help="Hand it to the sending workers (NEWSLETTER_BROKER_URL) instead of "
            "sending it here; `campaigns wait` follows it.",
        ),
    ] = False,
) -> None:
    """Send what is left of a paused or interrupted campaign, in the foreground.

    Deliveries an interrupted sender left in flight are settled first: those whose end of
    data had gone out count as sent, the others are sent again.
    """
    from newsletter.store.campaigns import CampaignStatus

    with store_errors():
        service = context.campaigns()
        if service.progress(campaign_id).status == CampaignStatus.SCHEDULED:
            # The runner would find nothing to do before its time, and say "paused".
            when = service.scheduled_at(campaign_id)
            typer.echo(
                f"error: campaign {campaign_id} is scheduled for "
                f"{service.shown(when) if when else 'later'}, not paused; move it with: "
                f"newsletter campaigns schedule {campaign_id} --at TIME",
                err=True,
            )
            raise typer.Exit(1)
    if not queue:
        raise typer.Exit(run_in_foreground(service, campaign_id, resume=True))
    from newsletter.sending.worker import BrokerError, enqueue, require_broker

    with store_errors():
        settings = context.settings()
        require_broker(settings, "--queue")
        service.reopen(campaign_id)
    try:
        enqueue(settings, campaign_id)
    except BrokerError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    typer.echo(f"campaign {campaign_id} handed to the sending workers")


@campaigns_app.command("wait")
def wait(
    campaign_id: CampaignId,
    timeout: Annotated[
        float | None,
        typer.Option("--timeout", min=0, metavar="S", help="Give up after S seconds."),
    ] = None,
) -> None:
    """Wait, with a progress bar, until a campaign sent elsewhere (by the workers) ends.

    A scheduled campaign is waited for through its schedule (--timeout counts from now).

    Exit status: 0 every delivery settled, 1 timed out, 2 no such campaign, 3 paused,
    4 cancelled.
    """
    raise typer.Exit(_wait(campaign_id, timeout))


# How often `campaigns wait` reads the campaign's figures.
WAIT_INTERVAL = 0.25


def _wait(campaign_id: int, timeout: float | None) -> int:
    from newsletter.sending.progress import INTERRUPTED
    from newsletter.store.campaigns import CampaignStatus, UnknownCampaignError

    deadline = None if timeout is None else time.monotonic() + timeout
    with store_errors():
        service = context.campaigns()
        try:
            progress = service.progress(campaign_id)
        except UnknownCampaignError as exc:
            typer.echo(f"error: {exc}", err=True)
            return 2
        if progress.status == CampaignStatus.SCHEDULED:
            when = service.scheduled_at(campaign_id)
            typer.echo(
                f"campaign {campaign_id} is scheduled for "
                f"{service.shown(when) if when else 'later'}; waiting for it to be sent",
                err=True,
            )
        waiting = (CampaignStatus.SCHEDULED, CampaignStatus.SENDING, INTERRUPTED)
        with _wait_bar(campaign_id) as show:
            while True:
                show(progress)
                if progress.status not in waiting:
                    break
                if deadline is not None and time.monotonic() >= deadline:
                    typer.echo(
                        f"timed out after {timeout:g} s: campaign {campaign_id} is still "
                        f"{progress.status}, {progress.left} of {progress.total} left",
                        err=True,
                    )
                    return 1
                time.sleep(WAIT_INTERVAL)
                progress = service.progress(campaign_id)
    counts = (
        f"sent {progress.sent}, failed {progress.failed}, skipped {progress.skipped}, "
        f"left {progress.left}"
    )
    typer.echo(f"campaign {campaign_id} {progress.status}: {counts}")
    if progress.status == CampaignStatus.DONE:
        return 0
    if progress.status == CampaignStatus.CANCELLED:
        return EXIT_CANCELLED
    typer.echo(f"paused: {progress.reason or 'no reason given'}", err=True)
    typer.echo(f"resume with: newsletter campaigns resume {campaign_id}", err=True)
    return EXIT_PAUSED


@contextmanager
def _wait_bar(campaign_id: int) -> Iterator[Callable[[CampaignProgress], None]]:
    """The progress bar of `campaigns wait`, on stderr, from the database's figures."""
    from rich.console import Console
    from rich.progress import BarColumn, TextColumn
    from rich.progress import Progress as RichProgress

    bar = RichProgress(
        TextColumn(f"campaign {campaign_id}"),
        BarColumn(),
        TextColumn(
            "sent {task.fields[sent]}  failed {task.fields[failed]}  left {task.fields[left]}"
        ),
        TextColumn("{task.fields[note]}"),
        console=Console(stderr=True),
    )
    task = bar.add_task("wait", total=None, sent=0, failed=0, left=0, note="")

    def show(progress: CampaignProgress) -> None:
        note = f"{progress.rate:.0f} msg/s, {progress.time_left} left" if progress.rate else ""
        if not progress.running and progress.left:
            note = "waiting for a worker"
        if progress.status == "scheduled":
            note = "scheduled"
        bar.update(
            task,
            total=progress.total,
            completed=progress.done,
            sent=progress.sent,
            failed=progress.failed,
            left=progress.left,
            note=note,
        )

    bar.start()
    try:
        yield show
    finally:
        bar.stop()


def run_in_foreground(service: CampaignService, campaign_id: int, *, resume: bool) -> int:
    """Run the campaign with a progress bar on stderr; the exit status for how it ended."""
    from newsletter.sending.service import StopRequest

    stop = StopRequest()
    with store_errors(), _progress_bar(campaign_id) as show, _stop_on_ctrl_c(stop):
        result = service.run(campaign_id, resume=resume, on_progress=show, stop=stop)
    return _report(result)


def _report(result: RunResult) -> int:
    from newsletter.store.campaigns import CampaignStatus

    tally = result.tally
    if result.settled_sent or result.resent:
        typer.echo(
            f"settled after interruption: {result.settled_sent} counted as sent (end of data "
            f"had gone out), {result.resent} sent again"
        )
    for address in result.suppressed:
        typer.echo(f"suppressed {address}: repeated hard bounces")
    if result.may_be_duplicated:
        typer.echo(f"may be duplicated: {_duplicates(result.may_be_duplicated)}")
    counts = f"sent {tally.sent}, failed {tally.failed}, skipped {tally.skipped}, left {tally.left}"
    cid = result.campaign_id
    if result.status is CampaignStatus.DONE:
        typer.echo(f"campaign {cid} done: {counts}")
        return 0
    if result.status is CampaignStatus.CANCELLED:
        typer.echo(f"campaign {cid} cancelled: {counts}")
        return EXIT_CANCELLED
    typer.echo(f"campaign {cid} {result.status.value}: {counts}")
    typer.echo(f"paused: {result.reason}", err=True)
    typer.echo(f"resume with: newsletter campaigns resume {cid}", err=True)
    return EXIT_PAUSED


@contextmanager
def _stop_on_ctrl_c(stop: StopRequest) -> Iterator[None]:
    """First Ctrl-C: finish the batch in flight, then pause. Second: stop at once (what
    was in flight is settled by the next resume)."""

    def handler(signum: int, frame: FrameType | None) -> None:
        if stop.requested:
            raise KeyboardInterrupt
        stop.request("interrupted with Ctrl-C")
        typer.echo("\nstopping after the current batch (Ctrl-C again to stop at once)", err=True)

    try:
        previous = signal.signal(signal.SIGINT, handler)
    except ValueError:  # not the main thread (tests): leave Ctrl-C alone
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


@contextmanager
def _progress_bar(campaign_id: int) -> Iterator[Callable[[Progress], None]]:
    """A progress bar on stderr, shown from the runner's first report on (not at all when
    the run is refused before it starts)."""
    from rich.console import Console
    from rich.progress import BarColumn, TextColumn, TimeRemainingColumn
    from rich.progress import Progress as RichProgress

    bar = RichProgress(
        TextColumn(f"campaign {campaign_id}"),
        BarColumn(),
        TextColumn(
            "sent {task.fields[sent]}  failed {task.fields[failed]}  left {task.fields[left]}"
        ),
        TextColumn("{task.fields[rate]}"),
        TimeRemainingColumn(),
        TextColumn("{task.fields[note]}"),
        console=Console(stderr=True),
    )
    task = bar.add_task("send", total=None, sent=0, failed=0, left=0, rate="", note="")
    # (monotonic time, messages done) of the first report: the rate counts this run only.
    first: list[tuple[float, int]] = []

    def show(progress: Progress) -> None:
        tally = progress.tally
        done = tally.sent + tally.failed + tally.skipped
        if not first:
            first.append((time.monotonic(), done))
            bar.start()
        elapsed = time.monotonic() - first[0][0]
        rate = (done - first[0][1]) / elapsed if elapsed > 0.5 else 0.0
        note = ""
        if progress.waiting_until is not None:
            note = f"waiting for retries until {_local_time(progress.waiting_until)}"
        if progress.unreachable_until is not None:
            note = f"server unreachable; next try at {_local_time(progress.unreachable_until)}"
        bar.update(
            task,
            total=tally.total,
            completed=done,
            sent=tally.sent,
            failed=tally.failed,
            left=tally.left,
            rate=f"{rate:.0f} msg/s" if rate else "",
            note=note,
        )

    try:
        yield show
    finally:
        if first:
            bar.stop()


def _local_time_of(moment: datetime) -> str:
    """A scheduled time in the staff's time zone (NEWSLETTER_TIME_ZONE)."""
    return context.campaigns().shown(moment)


def _local_time(moment: datetime) -> str:
    return moment.astimezone().strftime("%H:%M:%S")


def _as_json(listed: ListedCampaign) -> dict[str, Any]:
    from newsletter.store.campaigns import DeliveryState

    summary = listed.summary
    counts = summary.counts
    return {
        "id": summary.id,
        "status": summary.status.value,
        "running": listed.running,
        "pause_reason": summary.pause_reason,
        "scheduled_at": summary.scheduled_at.isoformat() if summary.scheduled_at else None,
        "list": summary.list_name,
        "subject": as_written(summary.subject),
        "transport": summary.transport,
        "created_at": summary.created_at.isoformat(),
        "finished_at": summary.finished_at.isoformat() if summary.finished_at else None,
        "total": summary.total,
        "sent": counts[DeliveryState.SENT],
        "failed": counts[DeliveryState.FAILED],
        "skipped": counts[DeliveryState.SKIPPED],
        "pending": summary.left,
        "may_be_duplicated": summary.may_be_duplicated,
    }


def _table(listed: list[ListedCampaign]) -> None:
    from rich import box
    from rich.console import Console
    from rich.table import Table

    from newsletter.store.campaigns import CampaignStatus, DeliveryState

    console = Console(file=sys.stdout)
    if not listed:
        console.print("No campaigns yet. Start one with: newsletter send RECORD --list NAME")
        return
    table = Table(
        "id",
        "status",
        "list",
        "subject",
        "total",
        "sent",
        "failed",
        "skipped",
        "left",
        box=box.SIMPLE_HEAD,
        pad_edge=False,
        collapse_padding=True,
    )
    for column in table.columns:
        column.no_wrap = True
    for column in (table.columns[0], *table.columns[4:]):
        column.justify = "right"
        column.min_width = len(str(column.header))
    for campaign in listed:
        summary = campaign.summary
        status = summary.status.value
        if summary.status is CampaignStatus.SENDING and not campaign.running:
            status = "interrupted"
        counts = summary.counts
        table.add_row(
            str(summary.id),
            status,
            summary.list_name,
            _shorten(as_written(summary.subject), SUBJECT_WIDTH),
            str(summary.total),
            str(counts[DeliveryState.SENT]),
            str(counts[DeliveryState.FAILED]),
            str(counts[DeliveryState.SKIPPED]),
            str(summary.left),
        )
    console.print(table)
    for summary in (campaign.summary for campaign in listed):
        if summary.status is CampaignStatus.SCHEDULED and summary.scheduled_at:
            console.print(f"{summary.id} scheduled for {_local_time_of(summary.scheduled_at)}")
        if summary.status is CampaignStatus.PAUSED:
            console.print(f"{summary.id} paused: {summary.pause_reason or 'no reason given'}")
        if summary.may_be_duplicated:
            console.print(
                f"{summary.id} may be duplicated: {_duplicates(summary.may_be_duplicated)}"
            )
    if any(row_status == "interrupted" for row_status in table.columns[1].cells):
        console.print(
            "interrupted: its sender stopped; send the rest with: newsletter campaigns resume ID"
        )


def _duplicates(count: int) -> str:
    return (
        f"{count} sent again after the end of data got no reply (same Message-ID; a "
        "receiver may show two copies)"
    )


def _shorten(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1].rstrip() + "…"
