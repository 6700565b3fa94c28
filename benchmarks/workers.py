"""Benchmark: one campaign sent by 1, 2 and 4 `newsletter worker` processes over PostgreSQL.

Run from the repository root:

    .venv/bin/python benchmarks/workers.py [--recipients 20000] [--workers 1,2,4]
        [--broker redis|rabbitmq] [--connections 4] [--no-analyze]

Per number of workers, from scratch:
- a PostgreSQL database of its own on 127.0.0.1:5432 (user postgres), created, migrated
  and filled by the CLI (`newsletter lists create`, `newsletter subscribers import` of N
  subscribers), then ANALYZEd, as autovacuum would do a while after the import (it may
  be off, as on the project's machine; --no-analyze sends at once, when the planner has no
  statistics yet), and dropped at the end;
- Postfix's `smtp-sink` on a free loopback port (benchmarks/send.py installs it when
  missing);
- K `newsletter worker --concurrency 1` processes, each in a data folder of its own with
  the same settings and secret key, as on separate hosts, on a queue of this run's own
  (Redis: an empty database number; RabbitMQ: the default vhost), each with
  --connections SMTP connections;
- once every worker says it is ready, `newsletter send EXAMPLE --list bench --yes
  --queue` from a data folder of its own. The clock starts when that command says the
  campaign is handed to the workers and stops when the sink has accepted the N-th message;
  `newsletter campaigns wait ID` must then report every delivery sent.

Figures: messages/s; the scaling against 1 worker in the same run; CPU time (user +
system) per message of the worker processes (each `newsletter worker` with its pool's
child, summed over the workers); and where the limit is, from /proc sampled every 0.2 s
over the timed window: the cores used by the workers (and the busiest one process of
theirs), by PostgreSQL (all its processes, and the backends of this run's database), by
the sink and by Redis, and how busy the machine was in all (the rest is other work on it).
A single process near one core is a limit of its own; the machine near all its cores is
one for everything on it. At each sample the statements this database's backends run
(pg_stat_activity) are noted too: the two seen most often, and whether they ran or waited
(on a lock, on the WAL flush, on the client), say what the database spends the time on.

Sending is one runner per campaign unless the workers share one campaign: the workers
that did the sending are counted from their logs (tasks received) and CPU share. Per run,
the ceiling: the machine's busy CPU time per message (workers, database, sink, broker and
the rest) and the rate its cores would carry at that cost with nothing waiting. The target,
2 workers at least 1.6x of 1 worker, is printed as ok or MISSED; the exit status is 1 only
when a run fails, as when the sink did not accept exactly N messages or the campaign did
not end with N sent.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path

BENCHMARKS = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCHMARKS))

from send import (  # noqa: E402
    CLOCK_TICKS,
    DOMAINS,
    EXAMPLE,
    SmtpSink,
    find_smtp_sink,
    install_smtp_sink,
)

NEWSLETTER = Path(sys.executable).with_name("newsletter")
POSTGRES_ADMIN = "host=127.0.0.1 port=5432 user=postgres dbname=postgres connect_timeout=5"
POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/{database}"
REDIS = "redis://127.0.0.1:6379"
RABBITMQ = "amqp://guest:guest@127.0.0.1:5672//"
LIST_NAME = "bench"
SECRET_KEY = "benchmark-secret-key-0123456789"
SAMPLE_INTERVAL = 0.2
# Issue 12's target: 2 workers at least this many times 1 worker, on a 2-core machine.
TARGET_SCALING = 1.6
# A process at this share of a core or more is taken for one that CPU limits.
SATURATED = 0.85
READY = re.compile(rb"@\S+ ready\.")
RECEIVED = re.compile(rb"Task newsletter\.send_campaign\[[^\]]+\] received")


# Processes and their CPU, from /proc


@dataclass(frozen=True)
class Proc:
    pid: int
    # Clock ticks after boot: with the pid, it names one process even when pids recycle.
    start: int
    ppid: int
    comm: str
    # CPU seconds, user + system.
    cpu: float


def read_procs() -> dict[tuple[int, int], Proc]:
    procs: dict[tuple[int, int], Proc] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            stat = Path(entry.path, "stat").read_text()
        except OSError:
            # Ended since the listing.
            continue
        comm = stat[stat.index("(") + 1 : stat.rindex(")")]
        fields = stat[stat.rindex(")") + 2 :].split()
        # proc(5): ppid is field 4, utime 14, stime 15, starttime 22; here from field 3 on.
        pid, start = int(entry.name), int(fields[19])
        cpu = (int(fields[11]) + int(fields[12])) / CLOCK_TICKS
        procs[(pid, start)] = Proc(pid, start, int(fields[1]), comm, cpu)
    return procs


def cmdline(pid: int) -> str:
    with contextlib.suppress(OSError):
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    return ""


def machine_busy() -> float:
    """CPU seconds all cores have spent busy since boot (neither idle nor waiting on I/O)."""
    fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(v) for v in fields[:8])
    return (user + nice + system + irq + softirq + steal) / CLOCK_TICKS


class CpuWatch:
    """CPU time per process over a window, sampled every SAMPLE_INTERVAL so that processes
    ending inside the window (a database backend closing) still count up to their last
    sample; processes born inside it count from zero. At each sample it also notes what
    the backends of `database` are doing (pg_stat_activity): the statements seen running
    most often are where the database spends the window."""

    def __init__(self, database: str) -> None:
        self._database = database
        self._first: dict[tuple[int, int], float] = {}
        self._last: dict[tuple[int, int], Proc] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self.started = False
        self.elapsed = 0.0
        self.machine = 0.0
        self.samples = 0
        # (statement, what it waits on or "running") -> samples it was seen in
        self.statements: dict[tuple[str, str], int] = {}

    def start(self) -> None:
        import psycopg

        self._activity = psycopg.connect(POSTGRES_ADMIN, autocommit=True)
        self.started = True
        self._machine_start = machine_busy()
        self._started = time.perf_counter()
        for key, proc in read_procs().items():
            self._first[key] = proc.cpu
            self._last[key] = proc
        self._thread.start()

    def stop(self) -> None:
        ended = time.perf_counter()
        self.machine = machine_busy() - self._machine_start
        self._stop.set()
        self._thread.join()
        self._sample()
        self._activity.close()
        self.elapsed = ended - self._started

    def _run(self) -> None:
        while not self._stop.wait(SAMPLE_INTERVAL):
            self._sample()
            self._sample_activity()

    def _sample_activity(self) -> None:
        rows = self._activity.execute(
            "SELECT query, wait_event_type, wait_event FROM pg_stat_activity "
            "WHERE datname = %s AND state = 'active'",
            (self._database,),
        ).fetchall()
        self.samples += 1
        for query, wait_type, wait_event in rows:
            statement = " ".join(str(query).split())
            waits = f"waiting on {wait_type}:{wait_event}" if wait_type else "running"
            key = (statement, waits)
            self.statements[key] = self.statements.get(key, 0) + 1

    def busiest_statements(self, count: int = 2) -> list[tuple[str, str, float]]:
        """The statements seen most often, what they did, and the share of samples."""
        ranked = sorted(self.statements.items(), key=lambda item: -item[1])[:count]
        return [(text, waits, seen / max(self.samples, 1)) for (text, waits), seen in ranked]

    def _sample(self) -> None:
        for key, proc in read_procs().items():
            if key not in self._first:
                # Born in the window (or, started just before it and first seen now:
                # counted from zero too, a slight overcount of its first 0.2 s at most).
                self._first[key] = 0.0
            self._last[key] = proc

    def used(self) -> dict[tuple[int, int], float]:
        """CPU seconds each process spent in the window."""
        return {key: self._last[key].cpu - first for key, first in self._first.items()}

    def procs(self) -> dict[tuple[int, int], Proc]:
        return dict(self._last)


def descendants(procs: dict[tuple[int, int], Proc], root: int) -> set[tuple[int, int]]:
    """The process `root` and everything under it, as last seen."""
    children: dict[int, list[Proc]] = {}
    for proc in procs.values():
        children.setdefault(proc.ppid, []).append(proc)
    found: set[tuple[int, int]] = set()
    todo = [proc for proc in procs.values() if proc.pid == root]
    while todo:
        proc = todo.pop()
        found.add((proc.pid, proc.start))
        todo.extend(children.get(proc.pid, []))
    return found


@dataclass(frozen=True)
class Usage:
    """CPU seconds of a group of processes over the window, and of its busiest process."""

    total: float
    busiest: float
    processes: int

    def cores(self, elapsed: float) -> float:
        return self.total / elapsed

    def busiest_cores(self, elapsed: float) -> float:
        return self.busiest / elapsed


def usage(used: dict[tuple[int, int], float], keys: set[tuple[int, int]]) -> Usage:
    values = [used[key] for key in keys if key in used]
    return Usage(sum(values), max(values, default=0.0), len(values))


# PostgreSQL, the broker


def create_database(name: str) -> None:
    import psycopg

    with psycopg.connect(POSTGRES_ADMIN, autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')


def analyze_database(name: str) -> None:
    import psycopg

    with psycopg.connect(POSTGRES_ADMIN.replace("dbname=postgres", f"dbname={name}")) as db:
        db.execute("ANALYZE")


def autovacuum() -> str:
    import psycopg

    with psycopg.connect(POSTGRES_ADMIN) as connection:
        row = connection.execute("SHOW autovacuum").fetchone()
    return str(row[0]) if row else "unknown"


def drop_database(name: str) -> None:
    import psycopg

    with psycopg.connect(POSTGRES_ADMIN, autocommit=True) as connection:
        # FORCE: a worker killed at the end may leave a connection behind for a moment.
        connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def spare_redis_db() -> int:
    """An empty Redis database number, from the top down (the tests pick theirs at random
    and each uses a queue of its own, so sharing one by chance is harmless)."""
    import redis

    for number in range(15, 0, -1):
        client = redis.Redis(host="127.0.0.1", port=6379, db=number, socket_timeout=3)
        try:
            if client.dbsize() == 0:
                return number
        finally:
            client.close()
    raise SystemExit("Redis at 127.0.0.1:6379 has no empty database among 1 to 15")


def broker_url(kind: str) -> str:
    from kombu import Connection  # type: ignore[attr-defined]

    url = f"{REDIS}/{spare_redis_db()}" if kind == "redis" else RABBITMQ
    try:
        with Connection(url, connect_timeout=3) as connection:  # type: ignore[no-untyped-call]
            connection.ensure_connection(max_retries=1)
    except Exception as exc:
        raise SystemExit(f"the broker at {url} cannot be reached: {exc}") from None
    return url


def delete_queue(url: str, queue: str) -> None:
    from kombu import Connection  # type: ignore[attr-defined]

    with Connection(url, connect_timeout=3) as connection:  # type: ignore[no-untyped-call]
        channel = connection.channel()
        try:
            channel.queue_delete(queue)
        except Exception:  # never declared
            pass
        finally:
            channel.close()
    if url.startswith("redis://"):
        # kombu keeps the queue's bindings (and an unacknowledged task's redelivery) in
        # keys of their own, which queue_delete leaves behind.
        import redis

        client = redis.Redis.from_url(url, socket_timeout=3)
        try:
            mine = list(client.scan_iter(match=f"*{queue}*"))
            if mine:
                client.delete(*mine)
            if client.keys("*") == [b"_kombu.binding_deadlines"]:
                # Nothing else uses this database: kombu's own bookkeeping goes too.
                client.delete("_kombu.binding_deadlines")
        finally:
            client.close()


# The newsletter processes


def newsletter_env(
    data_dir: Path, database: str, broker: str, queue: str, smtp_port: int, connections: int
) -> dict[str, str]:
    """The same settings for every process, but for the data folder: each its own, as on
    a host of its own."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEWSLETTER_")}
    env.update(
        NEWSLETTER_DATA_DIR=str(data_dir),
        NEWSLETTER_SECRET_KEY=SECRET_KEY,
        NEWSLETTER_DATABASE_URL=POSTGRES_URL.format(database=database),
        NEWSLETTER_BROKER_URL=broker,
        NEWSLETTER_BROKER_QUEUE=queue,
        NEWSLETTER_TRANSPORT="smtp",
        NEWSLETTER_SMTP_URL=f"smtp://127.0.0.1:{smtp_port}",
        NEWSLETTER_SMTP_CONNECTIONS=str(connections),
        NEWSLETTER_RECORDS_DIR=str(EXAMPLE.parent.parent),
    )
    return env


def cli(args: list[str], env: dict[str, str], cwd: Path, timeout: float = 300) -> str:
    """Run `newsletter ARGS` to the end; its output, or RuntimeError with it."""
    done = subprocess.run(
        [str(NEWSLETTER), *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(
            f"newsletter {' '.join(args)} exited with status {done.returncode}:\n"
            f"{done.stdout[-2000:]}{done.stderr[-2000:]}"
        )
    return done.stdout


class Worker:
    """One `newsletter worker --concurrency 1`, in a process group of its own (its pool's
    child goes with it), its output in a file."""

    def __init__(self, folder: Path, env: dict[str, str]) -> None:
        folder.mkdir(parents=True)
        self.log = folder / "worker.log"
        with self.log.open("wb") as out:
            self.process = subprocess.Popen(
                [str(NEWSLETTER), "worker", "--concurrency", "1"],
                env=env,
                cwd=folder,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    @property
    def pid(self) -> int:
        return self.process.pid

    def output(self) -> bytes:
        return self.log.read_bytes()

    def ready(self) -> bool:
        if self.process.poll() is not None:
            raise RuntimeError(
                f"a worker exited with status {self.process.returncode}:\n"
                f"{self.output()[-3000:].decode(errors='replace')}"
            )
        return READY.search(self.output()) is not None

    def tasks_received(self) -> int:
        return len(RECEIVED.findall(self.output()))

    def stop(self) -> None:
        """SIGTERM (Celery's warm shutdown), SIGKILL to the group if that takes over 30 s."""
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)


def wait_until(
    condition: Callable[[], bool], what: str, timeout: float, interval: float = 0.02
) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() >= deadline:
            raise RuntimeError(f"waited {timeout:.0f} s in vain for {what}")
        time.sleep(interval)


@contextlib.contextmanager
def started_workers(
    count: int, folder: Path, env_of: Callable[[Path], dict[str, str]]
) -> Iterator[list[Worker]]:
    workers: list[Worker] = []
    try:
        for index in range(count):
            worker_dir = folder / f"worker-{index + 1}"
            workers.append(Worker(worker_dir, env_of(worker_dir / "data")))
        for worker in workers:
            wait_until(worker.ready, f"worker {worker.pid} to be ready", timeout=120)
        yield workers
    finally:
        for worker in workers:
            with contextlib.suppress(ProcessLookupError):
                if worker.process.poll() is None:
                    os.killpg(worker.process.pid, signal.SIGTERM)
        for worker in workers:
            worker.stop()


# One run


@dataclass(frozen=True)
class Run:
    workers: int
    messages: int
    elapsed: float
    # Per worker process tree, in the order they were started.
    worker_cpu: list[float]
    worker_busiest: float
    tasks_received: list[int]
    postgres: Usage
    database_backends: Usage
    sink: Usage
    redis: Usage
    # Busy CPU seconds of the whole machine in the window.
    machine: float
    cores: int
    sink_accepted: int
    # The statements of this database seen running most often: text, doing, share.
    statements: list[tuple[str, str, float]]

    @property
    def rate(self) -> float:
        return self.messages / self.elapsed

    @property
    def cpu_per_message_ms(self) -> float:
        return sum(self.worker_cpu) / self.messages * 1000

    @property
    def sending_workers(self) -> int:
        """Workers that did a share of the sending: at least a tenth of the busiest's CPU."""
        top = max(self.worker_cpu)
        return sum(1 for cpu in self.worker_cpu if cpu >= top / 10)


def run_workers(
    count: int,
    recipients: int,
    connections: int,
    broker: str,
    sink_binary: str,
    scratch: Path,
    *,
    analyze: bool,
) -> Run:
    folder = scratch / f"workers-{count}"
    folder.mkdir()
    database = f"bench_workers_{uuid.uuid4().hex[:12]}"
    queue = f"bench-workers-{uuid.uuid4().hex[:12]}"
    create_database(database)
    sink = SmtpSink(sink_binary)
    try:

        def env_of(data_dir: Path) -> dict[str, str]:
            return newsletter_env(data_dir, database, broker, queue, sink.port, connections)

        control = folder / "control"
        control.mkdir()
        control_env = env_of(control / "data")
        csv = control / "subscribers.csv"
        with csv.open("w", encoding="utf-8") as handle:
            handle.write("email,name\n")
            for i in range(recipients):
                handle.write(f"reader{i}@{DOMAINS[i % len(DOMAINS)]},Reader {i}\n")
        cli(["lists", "create", LIST_NAME], control_env, control)
        imported = cli(["subscribers", "import", LIST_NAME, str(csv)], control_env, control)
        if not imported.startswith(f"added {recipients},"):
            raise RuntimeError(f"the import did not add {recipients} subscribers: {imported}")
        if analyze:
            analyze_database(database)
        with started_workers(count, folder, env_of) as workers:
            watch = CpuWatch(database)
            campaign_id = enqueue(control_env, control, watch)
            wait_until(
                lambda: sink.accepted() >= recipients,
                f"the sink to accept {recipients:,} messages",
                timeout=max(600.0, recipients / 20),
            )
            watch.stop()
            waited = cli(
                ["campaigns", "wait", str(campaign_id), "--timeout", "120"], control_env, control
            )
            last = waited.strip().splitlines()[-1]
            expected = (
                f"campaign {campaign_id} done: sent {recipients}, failed 0, skipped 0, left 0"
            )
            if last != expected:
                raise RuntimeError(f"the campaign did not end as expected: {last!r}")
            received = [worker.tasks_received() for worker in workers]
            procs, used = watch.procs(), watch.used()
            trees = [descendants(procs, worker.pid) for worker in workers]
            worker_usage = [usage(used, tree) for tree in trees]
            postgres_keys = {key for key, proc in procs.items() if proc.comm == "postgres"}
            backends = {key for key in postgres_keys if f" {database} " in cmdline(key[0])}
            run = Run(
                workers=count,
                messages=recipients,
                elapsed=watch.elapsed,
                worker_cpu=[u.total for u in worker_usage],
                worker_busiest=max(u.busiest for u in worker_usage),
                tasks_received=received,
                postgres=usage(used, postgres_keys),
                database_backends=usage(used, backends),
                sink=usage(used, descendants(procs, sink.pid())),
                redis=usage(
                    used, {key for key, proc in procs.items() if proc.comm == "redis-server"}
                ),
                machine=watch.machine,
                cores=os.cpu_count() or 1,
                sink_accepted=0,
                statements=watch.busiest_statements(),
            )
        stats = sink.stop()
    finally:
        sink.kill()
        with contextlib.suppress(Exception):
            delete_queue(broker, queue)
        drop_database(database)
    if stats.messages != recipients:
        raise RuntimeError(f"the sink accepted {stats.messages:,} messages for {recipients:,}")
    return replace(run, sink_accepted=stats.messages)


def enqueue(env: dict[str, str], cwd: Path, watch: CpuWatch) -> int:
    """`newsletter send EXAMPLE --list bench --yes --queue`; the watch starts the moment it
    says the campaign is handed to the workers. The campaign's id."""
    process = subprocess.Popen(
        [str(NEWSLETTER), "send", str(EXAMPLE), "--list", LIST_NAME, "--yes", "--queue"],
        env=env,
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert process.stdout is not None
    campaign_id: int | None = None
    lines: list[str] = []
    for raw in process.stdout:
        line = raw.decode(errors="replace").rstrip("\n")
        lines.append(line)
        if line.startswith("campaign ") and campaign_id is None:
            campaign_id = int(line.split()[1])
        if line.startswith("handed to the sending workers"):
            watch.start()
    _, err = process.communicate(timeout=60)
    said = "\n".join(lines) + "\n" + err.decode(errors="replace")
    if process.returncode != 0 or campaign_id is None or not watch.started:
        raise RuntimeError(
            f"newsletter send --queue did not hand a campaign over (status "
            f"{process.returncode}):\n{said}"
        )
    return campaign_id


# The report


def limit(run: Run) -> str:
    """What the figures say limits the rate."""
    elapsed = run.elapsed
    found = []
    if run.worker_busiest / elapsed >= SATURATED:
        found.append(
            f"a worker process is CPU-bound ({run.worker_busiest / elapsed:.2f} of a core)"
        )
    if run.database_backends.busiest_cores(elapsed) >= SATURATED:
        found.append(
            f"a PostgreSQL backend is CPU-bound "
            f"({run.database_backends.busiest_cores(elapsed):.2f} of a core)"
        )
    if run.sink.busiest_cores(elapsed) >= SATURATED:
        found.append(f"the sink is CPU-bound ({run.sink.busiest_cores(elapsed):.2f} of a core)")
    if run.workers > 1 and run.sending_workers == 1:
        found.append(
            f"one runner per campaign: 1 of {run.workers} workers sent it, the others idled"
        )
    busy = run.machine / elapsed
    if busy >= SATURATED * run.cores:
        found.append(f"the machine's CPU is saturated ({busy:.2f} of {run.cores} cores busy)")
    if not found:
        return (
            "no process near a full core and the machine not saturated: the rate is set by "
            "waiting (SMTP round trips, database commits, one runner's batches)"
        )
    return "; ".join(found)


def report(run: Run, base: Run, out: Callable[[str], None] = print) -> None:
    """The run's figures, its scaling against `base` (the first run)."""
    elapsed = run.elapsed
    other = run.machine - (
        sum(run.worker_cpu) + run.postgres.total + run.sink.total + run.redis.total
    )
    out(
        f"{run.workers} worker{'s' if run.workers > 1 else ' '}: {run.messages:,} messages "
        f"in {elapsed:5.1f} s, {run.rate:6,.0f} msg/s, x{run.rate / base.rate:.2f} of "
        f"{base.workers} worker{'s' if base.workers > 1 else ''}; "
        f"{run.cpu_per_message_ms:.2f} ms worker CPU a message; "
        f"{run.sending_workers} of {run.workers} sent (tasks received "
        f"{'/'.join(map(str, run.tasks_received))})"
    )
    out(
        f"    cores used: workers {sum(run.worker_cpu) / elapsed:.2f} (each "
        f"{', '.join(f'{cpu / elapsed:.2f}' for cpu in run.worker_cpu)}; busiest process "
        f"{run.worker_busiest / elapsed:.2f});"
    )
    out(
        f"    PostgreSQL (all its databases) {run.postgres.cores(elapsed):.2f} "
        f"(this database's {run.database_backends.processes} backends "
        f"{run.database_backends.cores(elapsed):.2f}, busiest "
        f"{run.database_backends.busiest_cores(elapsed):.2f}), sink "
        f"{run.sink.cores(elapsed):.2f}, Redis {run.redis.cores(elapsed):.2f}; machine "
        f"{run.machine / elapsed:.2f} of {run.cores} busy, other work on it "
        f"{max(other, 0.0) / elapsed:.2f}"
    )
    out(f"    limit: {limit(run)}")
    # Every process's CPU per message, sink and database included: at that cost, what the
    # machine's cores could carry if nothing waited. The ceiling any number of workers
    # is judged against on one machine that also runs the sink and the database.
    machine_ms = run.machine / run.messages * 1000
    ceiling = run.cores / (machine_ms / 1000)
    out(
        f"    ceiling: {machine_ms:.2f} ms of the machine's CPU a message, so its "
        f"{run.cores} cores carry at most {ceiling:,.0f} msg/s (x{ceiling / base.rate:.2f} of "
        f"{base.workers} worker{'s' if base.workers > 1 else ''}); this run reached "
        f"{run.rate / ceiling:.0%} of it"
    )
    for text, doing, share in run.statements:
        shown = text if len(text) <= 160 else f"{text[:157]}..."
        out(f"    database: {share:4.0%} of samples {doing}: {shown}")


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--recipients", type=int, default=20_000, help="default 20,000")
    parser.add_argument(
        "--workers", default="1,2,4", help="worker process counts, comma-separated; default 1,2,4"
    )
    parser.add_argument("--broker", choices=("redis", "rabbitmq"), default="redis")
    parser.add_argument(
        "--connections", type=int, default=4, help="SMTP connections per worker; default 4"
    )
    parser.add_argument(
        "--no-analyze",
        dest="analyze",
        action="store_false",
        help="send right after the import, before PostgreSQL has statistics on the tables",
    )
    args = parser.parse_args()
    counts = [int(value) for value in args.workers.split(",")]
    binary = find_smtp_sink() or install_smtp_sink(print)
    if binary is None:
        raise SystemExit("smtp-sink is not available here (see above)")
    broker = broker_url(args.broker)
    print(
        f"{args.recipients:,} recipients of {EXAMPLE.parent.name}, PostgreSQL at 127.0.0.1:5432, "
        f"broker {broker}, smtp-sink on 127.0.0.1, {args.connections} SMTP connections per "
        f"worker, {os.cpu_count()} cores"
    )
    print(
        f"PostgreSQL autovacuum: {autovacuum()}; "
        + (
            "ANALYZE after the import, as autovacuum does some time after one"
            if args.analyze
            else "no ANALYZE after the import (--no-analyze): the planner has no statistics"
        )
    )
    runs: list[Run] = []
    with tempfile.TemporaryDirectory(prefix="newsletter-bench-workers-") as scratch:
        for count in counts:
            run = run_workers(
                count,
                args.recipients,
                args.connections,
                broker,
                binary,
                Path(scratch),
                analyze=args.analyze,
            )
            runs.append(run)
            report(run, runs[0])
    one = next((run for run in runs if run.workers == 1), None)
    two = next((run for run in runs if run.workers == 2), None)
    if one is not None and two is not None:
        scaling = two.rate / one.rate
        print(
            f"target 2 workers at least 1.6x of 1 worker: x{scaling:.2f}, "
            + ("ok" if scaling >= TARGET_SCALING else "MISSED")
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
