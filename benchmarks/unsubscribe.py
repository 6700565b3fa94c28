"""Print how fast `newsletter serve` takes RFC 8058 one-click unsubscribes, on SQLite.

Run from the repository root:  .venv/bin/python benchmarks/unsubscribe.py [--subscribers N]
    [--requests N] [--repeats N] [--concurrency N] [--workers N]

A fresh data folder gets a list with N imported subscribers (the CSV importer, as
`newsletter subscribers import` does). `newsletter serve` then runs in its own process on
loopback; this process is the client: `--concurrency` threads, each with one keep-alive
HTTP/1.1 connection (http.client), POST `List-Unsubscribe=One-Click` to the signed
unsubscribe URLs a campaign would have mailed. The requests are distinct tokens, plus
`--repeats` posts of tokens already used (a second click, a retrying mail provider), in
random order. A warm-up of 200 further distinct tokens runs first and is not timed.

Figures: requests/s over the timed run, latency p50 and p99 as the client saw it (from
writing the request to reading the whole answer). Targets: >= 500 requests/s, p99 < 50 ms.
Afterwards the database is read: the number of unsubscribed members must equal the number
of distinct tokens posted (warm-up included), and every answer must have been 200.
"""

from __future__ import annotations

import argparse
import http.client
import os
import random
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import func, select  # noqa: E402

from newsletter import tokens  # noqa: E402
from newsletter.settings import get_settings  # noqa: E402
from newsletter.store import session_scope  # noqa: E402
from newsletter.store.engine import dispose_engines  # noqa: E402
from newsletter.store.importer import import_file  # noqa: E402
from newsletter.store.lists import create_list  # noqa: E402
from newsletter.store.models import Membership, MembershipStatus  # noqa: E402
from newsletter.tokens import Token  # noqa: E402

RATE_TARGET = 500.0
P99_TARGET_MS = 50.0
WARMUP = 200
BODY = b"List-Unsubscribe=One-Click"
HEADERS = {"Content-Type": "application/x-www-form-urlencoded"}


def _free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _prepare(data_dir: Path, subscribers: int) -> list[str]:
    """The list and its members; the unsubscribe token of each member, in id order."""
    csv_path = data_dir / "bench.csv"
    with csv_path.open("w") as handle:
        handle.write("email,name\n")
        for number in range(subscribers):
            handle.write(f"reader{number}@example.org,Reader {number}\n")
    with session_scope(write=True) as session:
        create_list(session, "bench")
    summary = import_file("bench", csv_path, lambda rejection: None)
    print(f"imported {summary.added:,} subscribers")
    key = get_settings().signing_key()
    with session_scope() as session:
        rows = session.execute(
            select(Membership.subscriber_id, Membership.list_id, Membership.version).order_by(
                Membership.subscriber_id
            )
        ).all()
    return [tokens.sign(key, Token("u", sid, lid, version)) for sid, lid, version in rows]


def _start_server(port: int, workers: int, env: dict[str, str]) -> subprocess.Popen[bytes]:
    command = [
        sys.executable,
        "-c",
        "from newsletter.cli import main; main()",
        "serve",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        str(workers),
        "--no-access-log",
    ]
    server = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"newsletter serve exited: {server.stderr.read().decode()}")  # type: ignore[union-attr]
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
            connection.request("GET", "/issues/")
            if connection.getresponse().status == 200:
                connection.close()
                return server
        except OSError:
            time.sleep(0.1)
    server.terminate()
    raise SystemExit("newsletter serve did not start within 30 s")


def _run(port: int, paths: list[str], concurrency: int) -> tuple[list[float], list[int], float]:
    """POST one-click to every path over `concurrency` keep-alive connections."""
    latencies: list[float] = []
    statuses: list[int] = []
    lock = threading.Lock()
    position = iter(range(len(paths)))
    start_line = threading.Barrier(concurrency + 1)

    def worker() -> None:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        mine_latency: list[float] = []
        mine_status: list[int] = []
        start_line.wait()
        while True:
            with lock:
                index = next(position, None)
            if index is None:
                break
            began = time.perf_counter()
            connection.request("POST", paths[index], body=BODY, headers=HEADERS)
            response = connection.getresponse()
            response.read()
            mine_latency.append(time.perf_counter() - began)
            mine_status.append(response.status)
        connection.close()
        with lock:
            latencies.extend(mine_latency)
            statuses.extend(mine_status)

    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    for thread in threads:
        thread.start()
    start_line.wait()
    began = time.perf_counter()
    for thread in threads:
        thread.join()
    return latencies, statuses, time.perf_counter() - began


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process and its children (the server's workers)."""
    total = 0.0
    ticks = os.sysconf("SC_CLK_TCK")
    for child in [pid, *_children(pid)]:
        try:
            fields = Path(f"/proc/{child}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / ticks
    return total


def _children(pid: int) -> list[int]:
    try:
        found = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        return []
    return [int(child) for child in found]


def _percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subscribers", type=int, default=20_000)
    parser.add_argument("--requests", type=int, default=5_000, help="distinct tokens, timed")
    parser.add_argument("--repeats", type=int, default=1_000, help="posts of used tokens")
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--workers", type=int, default=1, help="server processes")
    args = parser.parse_args()
    if args.requests + WARMUP > args.subscribers:
        parser.error("--subscribers must exceed --requests by the warm-up (200)")

    data_dir = Path(tempfile.mkdtemp(prefix="nl-bench-unsubscribe-"))
    port = _free_port()
    env = {key: value for key, value in os.environ.items() if not key.startswith("NEWSLETTER_")}
    env |= {
        "NEWSLETTER_DATA_DIR": str(data_dir),
        "NEWSLETTER_SECRET_KEY": secrets.token_urlsafe(24),
        "NEWSLETTER_PUBLIC_URL": f"http://127.0.0.1:{port}",
    }
    os.environ.update(env)
    all_tokens = _prepare(data_dir, args.subscribers)
    dispose_engines()

    rng = random.Random(8058)
    chosen = rng.sample(all_tokens, WARMUP + args.requests)
    warmup, distinct = chosen[:WARMUP], chosen[WARMUP:]
    timed = distinct + [rng.choice(distinct) for _ in range(args.repeats)]
    rng.shuffle(timed)

    server = _start_server(port, args.workers, env)
    try:
        _run(port, [f"/u/{token}" for token in warmup], args.concurrency)
        server_cpu = _cpu_seconds(server.pid)
        own_cpu = time.process_time()
        latencies, statuses, elapsed = _run(
            port, [f"/u/{token}" for token in timed], args.concurrency
        )
        server_cpu = _cpu_seconds(server.pid) - server_cpu
        own_cpu = time.process_time() - own_cpu
    finally:
        server.terminate()
        server.wait(timeout=30)

    rate = len(latencies) / elapsed
    p50 = _percentile(latencies, 0.50) * 1000
    p99 = _percentile(latencies, 0.99) * 1000
    with session_scope() as session:
        unsubscribed = session.scalar(
            select(func.count())
            .select_from(Membership)
            .where(Membership.status == MembershipStatus.UNSUBSCRIBED)
        )
    dispose_engines()
    shutil.rmtree(data_dir, ignore_errors=True)
    posted = len(set(warmup) | set(distinct))
    not_ok = sum(1 for status in statuses if status != 200)

    print(
        f"one-click POSTs: {len(latencies):,} timed ({args.requests:,} distinct tokens, "
        f"{args.repeats:,} repeats), concurrency {args.concurrency}, "
        f"{args.workers} server worker(s), {os.cpu_count()} CPU(s)"
    )
    rate_ok = rate >= RATE_TARGET
    p99_ok = p99 < P99_TARGET_MS
    print(f"  throughput  {rate:8.0f} req/s   target >= {RATE_TARGET:.0f}   {_ok(rate_ok)}")
    print(f"  latency p50 {p50:8.2f} ms")
    print(f"  latency p99 {p99:8.2f} ms      target <  {P99_TARGET_MS:.0f}    {_ok(p99_ok)}")
    print(f"  mean        {statistics.fmean(latencies) * 1000:8.2f} ms")
    print(
        f"  CPU per request: server {server_cpu / len(latencies) * 1000:.2f} ms, "
        f"client {own_cpu / len(latencies) * 1000:.2f} ms"
    )
    print(f"  answers other than 200: {not_ok}")
    consistent = unsubscribed == posted
    print(
        f"  unsubscribed members {unsubscribed:,} == distinct tokens posted {posted:,}: "
        f"{_ok(consistent)}"
    )
    return 0 if rate_ok and p99_ok and consistent and not_ok == 0 else 1


def _ok(flag: bool) -> str:
    return "PASS" if flag else "FAIL"


if __name__ == "__main__":
    sys.exit(main())
