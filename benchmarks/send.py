"""Benchmark: a campaign of the example newsletter to 100,000 recipients through SMTP.

Run from the repository root:

    .venv/bin/python benchmarks/send.py [--recipients 100000] [--small 10000]
        [--connections 4] [--sink auto|smtp-sink|aiosmtpd]

What runs, each newsletter part in a child process of its own, so that the peak RSS
figures belong to the sending alone and are independent of each other:
- the sink: Postfix's `smtp-sink` on a free loopback port, installed from Debian's
  `postfix` package when missing (as root or through `sudo -n`; debconf is told "No
  configuration", so no Postfix daemon is set up or left running); where it cannot be had,
  an aiosmtpd sink in a process of its own, and the output says so;
- per size (the small one first, for the flat-memory check): a fresh data folder with a
  SQLite store and a list of N subscribers made by the store's CSV importer; then what
  `newsletter send RECORD --list NAME --yes` does, by the functions it calls: compose the
  example, record the campaign with its N deliveries, and `run_in_foreground` (the runner,
  the SMTP connection pool, the delivery journal and its marks, the progress bar). Timed is
  the run; the peak RSS (VmHWM) is the whole process's, composing included;
- the ceilings, each sending one pre-built message (the example as the campaign builds it
  for one recipient, written to message.eml by the send run) to distinct recipients over
  the same number of connections, to a fresh sink of the same kind:
  - Postfix's C load generator, `smtp-source -d -s CONNECTIONS -m N -F message.eml` (from
    the same `postfix` package as smtp-sink), the ceiling the target is judged against;
  - plain smtplib, a thread per connection.

Besides messages/s, each line gives the CPU time (user + system) the sending process
spent per message, a figure that other load on the machine disturbs less, and the sink's
CPU time per message: when sender and sink share 2 cores, a sink near one core is where
the ceiling stops.

Targets (a 2-core machine): the run at least 0.8 of the smtp-source ceiling (the ratio to
smtplib is printed beside it), peak RSS under 150 MB, and flat: the peak at the large size
at most 10 MB above the peak at the small size. Without smtp-source (no postfix package)
the target is judged against smtplib, and the output says so. The exit status is 1 when a
target is missed. The default run takes 3 to 5 minutes on 2 cores with smtp-sink; the
aiosmtpd sink is several times slower.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import resource
import shutil
import signal
import smtplib
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "khojaly-seminar-2022" / "record.yaml"
LIST_NAME = "bench"
SENDER = "bounces@example.org"
DOMAINS = ("example.org", "example.com", "mail.example.net", "uni.example.edu")

TARGET_RATIO = 0.8
TARGET_PEAK_MB = 150.0
TARGET_FLAT_MB = 10.0
# Messages of the ceiling run: enough for a steady rate, at most the campaign's size.
CEILING_MESSAGES = 20_000
SINKS = ("auto", "smtp-sink", "aiosmtpd")
SMTP_SINK_CANDIDATES = ("/usr/sbin/smtp-sink", "/usr/lib/postfix/sbin/smtp-sink")
SMTP_SOURCE_CANDIDATES = ("/usr/sbin/smtp-source", "/usr/lib/postfix/sbin/smtp-source")
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")

Out = Callable[[str], None]


# The sinks


@dataclass(frozen=True)
class SinkStats:
    messages: int
    # Distinct envelope recipients, where the sink can tell (aiosmtpd).
    distinct: int | None
    # CPU seconds (user + system) the sink spent from its start to its stop.
    cpu: float


class Sink:
    """A running SMTP sink on 127.0.0.1: its port, and what it accepted once stopped."""

    kind: str
    port: int
    _process: subprocess.Popen[str]

    def stop(self) -> SinkStats:
        raise NotImplementedError

    def pid(self) -> int:
        return self._process.pid

    def cpu(self) -> float:
        """CPU seconds the sink has spent so far (its own and its reaped children's)."""
        return process_cpu(self._process.pid, children=True)

    def kill(self) -> None:
        if self._process.poll() is None:
            self._process.kill()
            self._process.wait()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def process_cpu(pid: int, *, children: bool = False) -> float:
    """CPU seconds (user + system) of a live process, from /proc; with `children`, also
    those of its children it has reaped."""
    # The command name (field 2) may hold spaces; the fields after its ")" are fixed.
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    # utime, stime, cutime, cstime are fields 14 to 17 of proc(5); here from field 3 on.
    ticks = int(fields[11]) + int(fields[12])
    if children:
        ticks += int(fields[13]) + int(fields[14])
    return ticks / CLOCK_TICKS


def _wait_for_port(port: int, process: subprocess.Popen[str], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the sink exited with status {process.returncode}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return
        time.sleep(0.05)
    raise RuntimeError(f"the sink did not listen on port {port} within {timeout:.0f} s")


class SmtpSink(Sink):
    """Postfix's smtp-sink: accepts everything, stores nothing; `-c` counts messages."""

    kind = "smtp-sink"

    def __init__(self, binary: str) -> None:
        self.port = _free_port()
        command = [binary, "-c"]
        if os.geteuid() == 0:
            # smtp-sink refuses to run as root without a user to switch to.
            command += ["-u", "nobody"]
        # Backlog: room for every connection of both pools at once.
        command += [f"127.0.0.1:{self.port}", "256"]
        # The count goes to a file: a pipe nobody reads until the end would fill up after
        # a few thousand updates and stall the sink.
        with tempfile.NamedTemporaryFile("w", prefix="smtp-sink-", delete=False) as output:
            self._output = Path(output.name)
            self._process = subprocess.Popen(
                command, stdout=output, stderr=subprocess.STDOUT, text=True
            )
        _wait_for_port(self.port, self._process)

    def accepted(self) -> int:
        """Messages accepted so far, from the end of the count smtp-sink keeps writing."""
        with self._output.open("rb") as output:
            size = output.seek(0, os.SEEK_END)
            output.seek(max(0, size - 200))
            tail = output.read().decode("ascii", "replace")
        counts = [word[5:] for word in tail.split() if word.startswith("mesg=")]
        # The last one may be half written.
        whole = [int(count) for count in counts if count.isdigit()]
        return max(whole, default=0)

    def stop(self) -> SinkStats:
        cpu = self.cpu()
        self._process.send_signal(signal.SIGTERM)
        self._process.wait(timeout=10)
        out = self._output.read_text()
        # `-c` prints "sess=S quit=Q mesg=M" and a carriage return after each change.
        counts = [int(word[5:]) for word in out.split() if word.startswith("mesg=")]
        if not counts and out.strip():
            raise RuntimeError(f"smtp-sink: {out.strip()[-500:]}")
        return SinkStats(max(counts, default=0), None, cpu)

    def kill(self) -> None:
        super().kill()
        self._output.unlink(missing_ok=True)


class AiosmtpdSink(Sink):
    """An aiosmtpd sink in a process of its own (see `serve_aiosmtpd`)."""

    kind = "aiosmtpd"

    def __init__(self) -> None:
        self._process = subprocess.Popen(
            [sys.executable, __file__, "--child", "aiosmtpd", "-"],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self._process.stdout is not None
        line = self._process.stdout.readline()
        if not line.strip().isdigit():
            self._process.kill()
            raise RuntimeError("the aiosmtpd sink did not start")
        self.port = int(line)

    def stop(self) -> SinkStats:
        cpu = self.cpu()
        self._process.send_signal(signal.SIGTERM)
        out, _ = self._process.communicate(timeout=30)
        stats = json.loads(out.strip().splitlines()[-1])
        return SinkStats(stats["messages"], stats["distinct"], cpu)


def serve_aiosmtpd() -> None:
    """The aiosmtpd sink's process: prints its port, serves until SIGTERM, then prints
    {"messages": …, "distinct": …} as one JSON line."""
    import asyncio

    from aiosmtpd.smtp import SMTP

    class Counter:
        def __init__(self) -> None:
            self.messages = 0
            self.recipients: set[str] = set()

        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
            self.messages += 1
            self.recipients.update(envelope.rcpt_tos)
            return "250 2.0.0 Ok: queued"

    counter = Counter()
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    server = loop.run_until_complete(
        loop.create_server(lambda: SMTP(counter, hostname="sink.test"), "127.0.0.1", 0)
    )
    print(server.sockets[0].getsockname()[1], flush=True)
    loop.add_signal_handler(signal.SIGTERM, loop.stop)
    loop.run_forever()
    server.close()
    print(json.dumps({"messages": counter.messages, "distinct": len(counter.recipients)}))


def find_smtp_sink() -> str | None:
    found = shutil.which("smtp-sink")
    if found:
        return found
    return next((path for path in SMTP_SINK_CANDIDATES if os.access(path, os.X_OK)), None)


def find_smtp_source() -> str | None:
    """Postfix's load generator: on PATH, or where Debian's postfix package puts it (next
    to smtp-sink)."""
    found = shutil.which("smtp-source")
    if found:
        return found
    sink = find_smtp_sink()
    beside = [str(Path(sink).with_name("smtp-source"))] if sink else []
    return next(
        (path for path in (*beside, *SMTP_SOURCE_CANDIDATES) if os.access(path, os.X_OK)), None
    )


def _postfix() -> str:
    return shutil.which("postfix") or "/usr/sbin/postfix"


def _postfix_running() -> bool:
    return os.access(_postfix(), os.X_OK) and _quiet([[_postfix(), "status"]])


def install_smtp_sink(out: Out) -> str | None:
    """Install Debian's postfix package (which ships smtp-sink) without configuring a mail
    system; the path of smtp-sink, or None when that cannot be done here."""
    if os.geteuid() == 0:
        prefix: list[str] = []
    elif shutil.which("sudo") and _quiet([["sudo", "-n", "true"]]):
        prefix = ["sudo", "-n"]
    else:
        out("smtp-sink: not installed, and installing needs root or password-less sudo")
        return None
    if not shutil.which("apt-get"):
        out("smtp-sink: not installed, and there is no apt-get to install postfix with")
        return None
    if os.path.exists("/usr/sbin/sendmail"):
        # Another mail system (exim, …): Debian would replace it with postfix.
        out("smtp-sink: not installed, and installing postfix would replace this host's MTA")
        return None
    out("installing postfix (for smtp-sink) with apt-get, no mail system configured …")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    preseed = "postfix postfix/main_mailer_type select No configuration\n"
    was_running = _postfix_running()
    install = [
        *prefix,
        "env",
        "DEBIAN_FRONTEND=noninteractive",
        "apt-get",
        "install",
        "-y",
        "-q",
        "--no-install-recommends",
        "postfix",
    ]
    failure = _failure([[*prefix, "debconf-set-selections"]], env=env, input=preseed)
    if failure is None:
        failure = _failure([install], env=env)
    if failure is not None and failure.startswith("apt-get install"):
        # A stale package list is the usual reason the first try fails.
        failure = _failure([[*prefix, "apt-get", "update", "-q"], install], env=env)
    if not was_running and _postfix_running():
        # "No configuration" starts nothing, but a policy may differ: leave no daemon on
        # port 25 behind that this benchmark started.
        _quiet([[*prefix, _postfix(), "stop"]])
    binary = find_smtp_sink()
    if failure is not None or binary is None:
        out(f"smtp-sink: installing postfix failed: {failure or 'no smtp-sink in the package'}")
        return None
    return binary


def _failure(
    commands: list[list[str]], env: dict[str, str] | None = None, input: str | None = None
) -> str | None:
    """Run the commands in turn until one fails; None when all succeeded, else what failed
    and the end of what it said (a held dpkg lock, an unreachable archive, …)."""
    for command in commands:
        result = subprocess.run(
            command,
            input=input,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            env=env,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            words = [w for w in command if w not in ("sudo", "-n", "env") and "=" not in w]
            said = " / ".join(result.stderr.strip().splitlines()[-3:])
            shown = " ".join(words[:2])
            return f"{shown} exited with status {result.returncode}: {said or 'nothing said'}"
    return None


def _quiet(commands: list[list[str]], env: dict[str, str] | None = None) -> bool:
    """Run the commands in turn, output discarded; whether all of them succeeded."""
    return _failure(commands, env) is None


SinkFactory = Callable[[], Sink]


def choose_sink(choice: str, out: Out) -> tuple[str, SinkFactory]:
    """The kind of sink to use and how to start one; `auto` falls back to aiosmtpd and
    says so."""
    if choice == "aiosmtpd":
        return AiosmtpdSink.kind, AiosmtpdSink
    binary = find_smtp_sink() or install_smtp_sink(out)
    if binary is not None:
        return SmtpSink.kind, lambda: SmtpSink(binary)
    if choice == "smtp-sink":
        raise SystemExit("smtp-sink is not available here (see above)")
    out(
        "falling back to the aiosmtpd sink: it reads each message line by line, several ms "
        "a message, so it is the bottleneck; the figures are not comparable with "
        "smtp-sink's, and --recipients shortens the run"
    )
    return AiosmtpdSink.kind, AiosmtpdSink


@contextlib.contextmanager
def running(factory: SinkFactory) -> Iterator[Sink]:
    sink = factory()
    try:
        yield sink
    finally:
        sink.kill()


# The children


def _status_kb(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1])
    raise RuntimeError(f"{field} not in /proc/self/status")


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def child_prepare(job: dict[str, Any]) -> dict[str, Any]:
    """A list of `recipients` subscribers, through the store's CSV importer."""
    from newsletter.cli import context
    from newsletter.store.importer import Rejection, import_file
    from newsletter.store.lists import create_list

    recipients = int(job["recipients"])
    path = Path(job["workdir"]) / "subscribers.csv"
    with path.open("w", encoding="utf-8") as handle:
        handle.write("email,name\n")
        for i in range(recipients):
            handle.write(f"reader{i}@{DOMAINS[i % len(DOMAINS)]},Reader {i}\n")
    with context.transaction(write=True) as session:
        create_list(session, LIST_NAME)
    rejected: list[Rejection] = []
    summary = import_file(LIST_NAME, path, rejected.append, engine=context.engine())
    path.unlink()
    if rejected:
        raise RuntimeError(f"the import rejected rows: {rejected[:3]}")
    return {"added": summary.added}


def child_send(job: dict[str, Any]) -> dict[str, Any]:
    """What `newsletter send EXAMPLE --list bench --yes` does, by the functions it calls
    (compose, record the campaign, `run_in_foreground`), with the run timed; also writes
    the message one recipient gets, for the ceiling."""
    from newsletter.cli import context
    from newsletter.cli.campaigns import run_in_foreground
    from newsletter.compose.from_file import compose_file
    from newsletter.mail.factory import Addressee
    from newsletter.sending.launch import sample_factory
    from newsletter.store.campaigns import DeliveryState, delivery_counts

    service = context.campaigns()
    settings = service.settings
    issue, problems = compose_file(settings, EXAMPLE)
    if problems:
        raise RuntimeError(f"the example has problems: {problems}")
    audience = service.audience(LIST_NAME)
    list_id, list_name = audience.id, audience.name
    campaign_id = service.create(issue, audience, "smtp")
    rss_before_kb = _status_kb("VmRSS")
    cpu_start = _cpu_seconds()
    start = time.perf_counter()
    status = run_in_foreground(service, campaign_id, resume=False)
    elapsed = time.perf_counter() - start
    cpu = _cpu_seconds() - cpu_start
    peak_kb = _status_kb("VmHWM")
    with context.transaction() as session:
        counts = delivery_counts(session, campaign_id)
    factory = sample_factory(settings, issue, list_id, list_name, wants_raw=True)
    sample = factory.build(Addressee(1, 1, "reader0@example.org", "Reader 0", 1))
    Path(job["message"]).write_bytes(sample.data)
    return {
        "status": status,
        "elapsed": elapsed,
        "cpu": cpu,
        "sent": counts[DeliveryState.SENT],
        "not_sent": sum(counts.values()) - counts[DeliveryState.SENT],
        "peak_kb": peak_kb,
        "rss_before_kb": rss_before_kb,
        "message_bytes": len(sample.data),
    }


def child_ceiling(job: dict[str, Any]) -> dict[str, Any]:
    """Plain smtplib: `connections` threads, each with a connection of its own, sending
    the pre-built message to its share of `messages` distinct recipients."""
    data = Path(job["message"]).read_bytes()
    port, connections, messages = int(job["port"]), int(job["connections"]), int(job["messages"])
    errors: list[BaseException] = []
    barrier = threading.Barrier(connections + 1)

    def work(index: int) -> None:
        try:
            with smtplib.SMTP("127.0.0.1", port, local_hostname="bench.test") as client:
                barrier.wait()
                for i in range(index, messages, connections):
                    client.sendmail(SENDER, [f"reader{i}@{DOMAINS[i % len(DOMAINS)]}"], data)
        except BaseException as exc:
            errors.append(exc)
            barrier.abort()

    threads = [threading.Thread(target=work, args=(i,)) for i in range(connections)]
    for thread in threads:
        thread.start()
    # The clock starts once every connection is open, as the runner's pool stays open.
    with contextlib.suppress(threading.BrokenBarrierError):
        barrier.wait()
    cpu_start = _cpu_seconds()
    start = time.perf_counter()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - start
    cpu = _cpu_seconds() - cpu_start
    if errors:
        raise RuntimeError(f"the ceiling run failed: {errors[0]!r}")
    return {"elapsed": elapsed, "cpu": cpu, "sent": messages}


CHILDREN: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
    "prepare": child_prepare,
    "send": child_send,
    "ceiling": child_ceiling,
}


def _child_env(data_dir: Path, port: int, connections: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEWSLETTER_")}
    env.update(
        NEWSLETTER_DATA_DIR=str(data_dir),
        NEWSLETTER_SECRET_KEY="benchmark-secret-key-0123456789",
        NEWSLETTER_TRANSPORT="smtp",
        NEWSLETTER_SMTP_URL=f"smtp://127.0.0.1:{port}",
        NEWSLETTER_SMTP_CONNECTIONS=str(connections),
    )
    return env


def run_child(mode: str, job: dict[str, Any], workdir: Path, env: dict[str, str]) -> dict[str, Any]:
    """Run one child to the end; its JSON result. Its output goes to files in `workdir`."""
    job_path = workdir / f"{mode}.job.json"
    job_path.write_text(json.dumps(job))
    with (workdir / f"{mode}.out").open("w") as stdout, (workdir / f"{mode}.err").open("w") as err:
        # Started in `workdir`, so no .env of the caller's is read.
        done = subprocess.run(
            [sys.executable, __file__, "--child", mode, str(job_path)],
            cwd=workdir,
            env=env,
            stdout=stdout,
            stderr=err,
            check=False,
        )
    if done.returncode != 0:
        tail = (workdir / f"{mode}.err").read_text()[-2000:]
        raise RuntimeError(f"the {mode} child failed with status {done.returncode}:\n{tail}")
    result: dict[str, Any] = json.loads(job_path.with_suffix(".result").read_text())
    return result


def child_main(mode: str, job_path: str) -> None:
    if mode == "aiosmtpd":
        serve_aiosmtpd()
        return
    path = Path(job_path)
    result = CHILDREN[mode](json.loads(path.read_text()))
    path.with_suffix(".result").write_text(json.dumps(result))


# The parent


@dataclass(frozen=True)
class SendRun:
    recipients: int
    elapsed: float
    # CPU seconds (user + system) of the sending process during the run.
    cpu: float
    sent: int
    peak_mb: float
    rss_before_mb: float
    message_bytes: int
    sink: SinkStats

    @property
    def rate(self) -> float:
        return self.sent / self.elapsed


@dataclass(frozen=True)
class Ceiling:
    # "smtp-source" or "smtplib"
    name: str
    messages: int
    elapsed: float
    # CPU seconds (user + system) of the sending process during the run.
    cpu: float
    sink: SinkStats

    @property
    def rate(self) -> float:
        return self.messages / self.elapsed


@dataclass(frozen=True)
class Report:
    sink: str
    connections: int
    runs: list[SendRun]
    # The one the target is judged against first: smtp-source where it could be had.
    ceilings: list[Ceiling]

    @property
    def main(self) -> SendRun:
        return self.runs[-1]

    @property
    def ceiling(self) -> Ceiling:
        return self.ceilings[0]

    def ratio_to(self, ceiling: Ceiling) -> float:
        return self.main.rate / ceiling.rate

    @property
    def ratio(self) -> float:
        return self.ratio_to(self.ceiling)

    @property
    def peak_mb(self) -> float:
        return max(run.peak_mb for run in self.runs)

    @property
    def growth_mb(self) -> float | None:
        """How much higher the peak RSS was at the large size than at the small one."""
        return self.runs[-1].peak_mb - self.runs[0].peak_mb if len(self.runs) > 1 else None

    @property
    def on_target(self) -> bool:
        growth = self.growth_mb
        return (
            self.ratio >= TARGET_RATIO
            and self.peak_mb < TARGET_PEAK_MB
            and (growth is None or growth <= TARGET_FLAT_MB)
        )


def send_run(
    recipients: int, connections: int, sink_factory: SinkFactory, workdir: Path
) -> SendRun:
    workdir.mkdir(parents=True)
    data_dir = workdir / "data"
    with running(sink_factory) as sink:
        env = _child_env(data_dir, sink.port, connections)
        job = {"recipients": recipients, "workdir": str(workdir), "message": ""}
        run_child("prepare", job, workdir, env)
        job["message"] = str(workdir.parent / "message.eml")
        result = run_child("send", job, workdir, env)
        stats = sink.stop()
    if result["status"] != 0 or result["not_sent"] or result["sent"] != recipients:
        said = (workdir / "send.out").read_text() + (workdir / "send.err").read_text()[-2000:]
        raise RuntimeError(f"the campaign did not send to everyone: {result}\n{said}")
    _check(stats, recipients)
    return SendRun(
        recipients=recipients,
        elapsed=result["elapsed"],
        cpu=result["cpu"],
        sent=result["sent"],
        peak_mb=result["peak_kb"] / 1024,
        rss_before_mb=result["rss_before_kb"] / 1024,
        message_bytes=result["message_bytes"],
        sink=stats,
    )


def ceiling_run(
    messages: int, connections: int, sink_factory: SinkFactory, workdir: Path
) -> Ceiling:
    with running(sink_factory) as sink:
        job = {
            "port": sink.port,
            "connections": connections,
            "messages": messages,
            "message": str(workdir / "message.eml"),
        }
        result = run_child("ceiling", job, workdir, _child_env(workdir, sink.port, connections))
        stats = sink.stop()
    _check(stats, messages)
    return Ceiling("smtplib", messages, result["elapsed"], result["cpu"], stats)


def smtp_source_run(
    binary: str, messages: int, connections: int, sink_factory: SinkFactory, workdir: Path
) -> Ceiling:
    """Postfix's smtp-source: `connections` sessions, each kept open (-d), sending the
    campaign's message to `messages` distinct recipients (-N numbers them) in all."""
    # smtp-source reads the file line by line and ends each line with CRLF itself (and
    # dot-stuffs): given the CRLF message it would send CR CR LF. With bare LFs, what goes
    # on the wire is the campaign's message, plus the one empty line smtp-source appends.
    message = workdir / "message-lf.eml"
    message.write_bytes((workdir / "message.eml").read_bytes().replace(b"\r\n", b"\n"))
    with running(sink_factory) as sink:
        command = [
            binary,
            "-d",
            "-s",
            str(connections),
            "-m",
            str(messages),
            "-F",
            str(message),
            "-f",
            SENDER,
            "-t",
            "reader@example.org",
            "-N",
            "-M",
            "bench.test",
            f"127.0.0.1:{sink.port}",
        ]
        log = workdir / "smtp-source.out"
        with log.open("w") as output:
            # The sink, the only other child alive, is reaped only after this: the
            # children's usage grows by smtp-source's alone.
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            start = time.perf_counter()
            status = subprocess.run(command, stdout=output, stderr=subprocess.STDOUT).returncode
            elapsed = time.perf_counter() - start
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
        stats = sink.stop()
    if status != 0:
        raise RuntimeError(f"smtp-source exited with status {status}: {log.read_text()[-2000:]}")
    _check(stats, messages)
    cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    return Ceiling("smtp-source", messages, elapsed, cpu, stats)


def _check(stats: SinkStats, expected: int) -> None:
    """Exactly one message per recipient reached the sink."""
    if stats.messages != expected or stats.distinct not in (None, expected):
        raise RuntimeError(f"the sink got {stats} for {expected:,} recipients")


def _verdict(ok: bool) -> str:
    return "ok" if ok else "MISSED"


def benchmark(
    recipients: int,
    *,
    small: int = 0,
    connections: int = 4,
    sink: str = "auto",
    ceiling_messages: int = CEILING_MESSAGES,
    out: Out = print,
) -> Report:
    """Run it all and print the figures with their targets; the figures, for callers."""
    kind, factory = choose_sink(sink, out)
    sizes = [size for size in (small,) if 0 < size < recipients] + [recipients]
    runs: list[SendRun] = []
    with tempfile.TemporaryDirectory(prefix="newsletter-bench-send-") as scratch:
        workdir = Path(scratch)
        for size in sizes:
            run = send_run(size, connections, factory, workdir / f"run-{size}")
            runs.append(run)
            out(
                f"{size:>9,} recipients: {run.elapsed:6.1f} s, {run.rate:6,.0f} msg/s "
                f"({run.cpu / run.sent * 1000:.2f} ms CPU a message), "
                f"peak RSS {run.peak_mb:5.1f} MB (RSS before the run {run.rss_before_mb:.1f} MB); "
                f"{_accepted(run.sink)}"
            )
        count = min(ceiling_messages, recipients)
        ceilings: list[Ceiling] = []
        source = find_smtp_source()
        if source is not None:
            ceilings.append(smtp_source_run(source, count, connections, factory, workdir))
        else:
            out(
                "smtp-source: not found (it comes with Debian's postfix package): the target "
                "is judged against the smtplib ceiling alone"
            )
        ceilings.append(ceiling_run(count, connections, factory, workdir))
    report = Report(kind, connections, runs, ceilings)
    main = report.main
    described = {
        "smtp-source": f"Postfix's smtp-source ({source} -d -s {connections} -m {count} -F)",
        "smtplib": "plain smtplib, a thread per connection",
    }
    for ceiling in ceilings:
        out(
            f"ceiling: {described[ceiling.name]}, {count:,} messages of "
            f"{main.message_bytes:,} bytes over {connections} connections: "
            f"{ceiling.rate:,.0f} msg/s ({ceiling.cpu / ceiling.messages * 1000:.2f} ms CPU "
            f"a message); {_accepted(ceiling.sink)}"
        )
    out(f"sink: {kind} on 127.0.0.1; {connections} SMTP connections")
    for ceiling in ceilings[1:]:
        out(
            f"ratio to the {ceiling.name} ceiling: {main.rate:,.0f} / {ceiling.rate:,.0f} "
            f"msg/s = {report.ratio_to(ceiling):.2f}"
        )
    out(
        f"target at least {TARGET_RATIO} of the {report.ceiling.name} ceiling: "
        f"{main.rate:,.0f} / {report.ceiling.rate:,.0f} msg/s = {report.ratio:.2f}, "
        f"{_verdict(report.ratio >= TARGET_RATIO)}"
    )
    out(
        f"target peak RSS under {TARGET_PEAK_MB:.0f} MB: {report.peak_mb:.1f} MB, "
        f"{_verdict(report.peak_mb < TARGET_PEAK_MB)}"
    )
    growth = report.growth_mb
    if growth is not None:
        low, high = runs[0], runs[-1]
        out(
            f"target flat RSS ({high.recipients:,} vs {low.recipients:,} recipients, at most "
            f"{TARGET_FLAT_MB:.0f} MB more): {high.peak_mb:.1f} vs {low.peak_mb:.1f} MB, "
            f"{growth:+.1f} MB, {_verdict(growth <= TARGET_FLAT_MB)}"
        )
    return report


def _accepted(stats: SinkStats) -> str:
    cpu = f"sink CPU {stats.cpu / max(stats.messages, 1) * 1000:.2f} ms a message"
    if stats.distinct is None:
        return f"the sink accepted {stats.messages:,} messages ({cpu})"
    return (
        f"the sink accepted {stats.messages:,} messages for {stats.distinct:,} distinct "
        f"recipients ({cpu})"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--recipients", type=int, default=100_000, help="default 100,000")
    parser.add_argument(
        "--small",
        type=int,
        default=10_000,
        help="a first, smaller run for the flat-memory check (0: none); default 10,000",
    )
    parser.add_argument("--connections", type=int, default=4, help="SMTP connections; default 4")
    parser.add_argument("--sink", choices=SINKS, default="auto", help="default auto")
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child_main(*args.child)
        return 0
    report = benchmark(
        args.recipients, small=args.small, connections=args.connections, sink=args.sink
    )
    return 0 if report.on_target else 1


if __name__ == "__main__":
    sys.exit(main())
