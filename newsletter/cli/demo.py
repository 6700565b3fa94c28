"""`newsletter demo` (what `make demo` runs): the whole main job on one machine.

It builds the example issue, imports the sample subscribers, starts the capture server and
the web side, gives the demo staff account a new password, sends the issue, prints where
to look (with the staff login), and runs until Ctrl-C. Each step is
the command a user would run (`build`, `subscribers import`, `send --yes`), called in
this process on the demo's settings (newsletter.cli.context.running_on), so the demo
shows exactly what those commands do.

Exit status: 0 when stopped with Ctrl-C (or SIGTERM); 1 when a port is taken or a step
fails (2 for an invalid record, as with `build`); 3 when the send was paused, as with
`send` (Ctrl-C during the send pauses the campaign, which `campaigns resume` finishes);
130 after a second Ctrl-C while a step was still running.
"""

from __future__ import annotations

import signal
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Annotated

import typer

from newsletter.cli import context
from newsletter.cli.root import app

if TYPE_CHECKING:
    from newsletter.cli.demo_servers import DemoPorts, DemoServers, DemoUrls, StaffLogin

_INTERRUPTED = 130


@app.command()
def demo(
    port: Annotated[int, typer.Option(help="Port of the web side (links in the mail).")] = 8000,
    smtp_port: Annotated[int, typer.Option(help="SMTP port of the capture server.")] = 1025,
    inbox_port: Annotated[int, typer.Option(help="Port of the capture server's inbox.")] = 8025,
    list_name: Annotated[
        str, typer.Option("--list", help="The list to import into and send to.")
    ] = "members",
    record: Annotated[Path, typer.Option(help="The record to build and send.")] = Path(
        "examples/khojaly-seminar-2022/record.yaml"
    ),
    subscribers: Annotated[Path, typer.Option(help="The CSV file to import.")] = Path(
        "subscribers/sample.csv"
    ),
    out: Annotated[Path, typer.Option(help="Folder to build the issue into.")] = Path(
        "out/khojaly-seminar-2022"
    ),
) -> None:
    """Build the example issue, import the sample subscribers, start the capture inbox and
    the web side, send the issue to the list, and print the addresses to open, with a
    login to the staff area (demo-staff@example.org, with a new password each run).

    Runs on the embedded defaults: SQLite in the data folder (NEWSLETTER_DATA_DIR, default
    subscribers/), links under http://127.0.0.1:PORT, mail to the capture server only.
    Running it again is fine: the list is kept, the import updates it, and the issue goes
    out as a new campaign to whoever is still subscribed. Stop with Ctrl-C.
    """
    from newsletter.cli.demo_servers import DemoPorts

    ports = DemoPorts(web=port, smtp=smtp_port, inbox=inbox_port)
    with _stop_requests() as stop:
        servers = _start(ports)
        try:
            with context.running_on(servers.settings):
                status = _run(servers, stop, record, subscribers, out, list_name)
        except KeyboardInterrupt:
            status = _INTERRUPTED
        finally:
            # A Ctrl-C while stopping must not cut the shutdown short; it takes a moment.
            with _ignoring_signals():
                servers.stop()
            typer.echo("Stopped.")
    raise typer.Exit(status)


def _start(ports: DemoPorts) -> DemoServers:
    """Both servers listening, or one `error:` line (a port taken, say) and exit status 1."""
    from newsletter.cli.demo_servers import DemoServers, demo_settings
    from newsletter.cli.lists import store_errors

    try:
        with store_errors():
            ports.check()
            servers = DemoServers(demo_settings(ports), ports)
            servers.start()
    except KeyboardInterrupt:
        raise typer.Exit(_INTERRUPTED) from None
    return servers


def _run(
    servers: DemoServers,
    stop: _StopRequests,
    record: Path,
    subscribers: Path,
    out: Path,
    list_name: str,
) -> int:
    """The steps, then the wait for Ctrl-C; the exit status.

    A step that fails ends the demo with its own status: the commands raise typer.Exit,
    and the store's refusals become one line through `store_errors`.
    """
    from newsletter.cli.build import build
    from newsletter.cli.demo_servers import (
        eligible_count,
        ensure_list,
        ensure_staff_account,
        issue_slug,
    )
    from newsletter.cli.lists import store_errors
    from newsletter.cli.send import send
    from newsletter.cli.subscribers import import_

    if stop.requested:
        return 0
    typer.echo(f"Building {record} into {out}")
    build(record, out)
    if stop.requested:
        return 0

    with store_errors():
        if ensure_list(list_name):
            typer.echo(f"created list {list_name!r}")
    typer.echo(f"Importing {subscribers} into the list {list_name!r}")
    import_(list_name, subscribers)
    if stop.requested:
        return 0

    # Before the send, so the staff area can watch the campaign's progress.
    with store_errors():
        login = ensure_staff_account()
    done = "created" if login.created else "reset the password of"
    typer.echo(f"{done} the demo staff account {login.email}")

    # Every run sends a new campaign: the capture inbox starts empty each time, and a
    # second run should show mail too. It reaches whoever is still subscribed, so an
    # unsubscribe clicked during an earlier run shows as one message fewer.
    with store_errors():
        eligible = eligible_count(list_name)
    if eligible == 0:
        typer.echo(f"Nobody on the list {list_name!r} is subscribed any more: nothing sent.")
    else:
        typer.echo(f"Sending to the list {list_name!r} through {servers.mail.smtp_url}")
        status = _exit_status(lambda: send(record, list_name, transport_name="smtp", yes=True))
        if status or stop.requested:
            return status

    with store_errors():
        urls = servers.urls(issue_slug(record))
    _announce(urls, login)
    stop.wait()
    return 0


def _exit_status(command: Callable[[], object]) -> int:
    """Run a command that ends with typer.Exit even when it succeeds (as `send` does)."""
    try:
        command()
    except typer.Exit as exit_:
        return exit_.exit_code
    return 0


def _announce(urls: DemoUrls, login: StaffLogin) -> None:
    lines = ["", "Ready. Open:", f"  Inbox        {urls.inbox}"]
    if urls.web_version is not None:
        lines.append(f"  Web version  {urls.web_version}")
    lines += [
        f"  Archive      {urls.archive}",
        f"  Staff area   {urls.staff}",
        f"    log in as  {login.email}",
        f"    password   {login.password}   (a new one each run)",
        "Press Ctrl-C to stop.",
    ]
    typer.echo("\n".join(lines))
    sys.stdout.flush()


class _StopRequests:
    """Ctrl-C and SIGTERM ask the demo to stop: at once while it waits, after the step in
    progress while it works. A second Ctrl-C raises KeyboardInterrupt to stop at once.

    `send` puts its own Ctrl-C handler in place while it sends (pause after the batch in
    flight) and restores this one afterwards.
    """

    def __init__(self) -> None:
        self.event = threading.Event()
        self.waiting = False

    def handle(self, signum: int, frame: FrameType | None) -> None:
        if self.event.is_set() and signum == signal.SIGINT:
            raise KeyboardInterrupt
        self.event.set()
        if not self.waiting:
            typer.echo("\nstopping after the current step (Ctrl-C again to stop at once)", err=True)

    @property
    def requested(self) -> bool:
        return self.event.is_set()

    def wait(self) -> None:
        self.waiting = True
        while not self.event.wait(timeout=1.0):
            pass


@contextmanager
def _stop_requests() -> Iterator[_StopRequests]:
    stop = _StopRequests()
    previous = {sig: signal.signal(sig, stop.handle) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield stop
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


@contextmanager
def _ignoring_signals() -> Iterator[None]:
    previous = {sig: signal.signal(sig, signal.SIG_IGN) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)
