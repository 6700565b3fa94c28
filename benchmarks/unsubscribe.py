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

Two more scenarios then run the same clients (cycling over further tokens, repeats
included) while slow work competes for the write lock (`--scenarios` picks them):
- `import`: `newsletter subscribers import` of `--import-rows` new rows (default 1M) into a
  second list, in its own process, as an operator would run it; the clients post until it
  has finished;
- `login`: `--flood-clients` clients (default 8) post wrong passwords to the real staff
  login form (with its cookie and CSRF token) for `--flood-seconds`.
Targets for both: one-click p99 < 100 ms and no 5xx answer.
"""

from __future__ import annotations

import argparse
import http.client
import itertools
import os
import random
import re
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import func, select  # noqa: E402
from sqlalchemy.engine import Engine  # noqa: E402

from newsletter.core import tokens  # noqa: E402
from newsletter.core.settings import get_settings  # noqa: E402
from newsletter.core.tokens import Token  # noqa: E402
from newsletter.store.engine import dispose_engines, get_engine, session_scope  # noqa: E402
from newsletter.store.importer import import_file  # noqa: E402
from newsletter.store.lists import create_list  # noqa: E402
from newsletter.store.models import Membership, MembershipStatus  # noqa: E402
from newsletter.store.staff import add_user  # noqa: E402

RATE_TARGET = 500.0
P99_TARGET_MS = 50.0
P99_UNDER_LOAD_TARGET_MS = 100.0
STAFF_EMAIL = "editor@example.org"
WARMUP = 200
BODY = b"List-Unsubscribe=One-Click"
HEADERS = {"Content-Type": "application/x-www-form-urlencoded"}


def _free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _database() -> Engine:
    """The database the settings name, as the server under test opens it."""
    return get_engine(get_settings().resolved_database_url())


def _prepare(data_dir: Path, subscribers: int) -> list[str]:
    """The list and its members; the unsubscribe token of each member, in id order."""
    csv_path = data_dir / "bench.csv"
    with csv_path.open("w") as handle:
        handle.write("email,name\n")
        for number in range(subscribers):
            handle.write(f"reader{number}@example.org,Reader {number}\n")
    with session_scope(_database(), write=True) as session:
        create_list(session, "bench")
    summary = import_file("bench", csv_path, lambda rejection: None, engine=_database())
    print(f"imported {summary.added:,} subscribers")
    key = get_settings().signing_key()
    with session_scope(_database()) as session:
        rows = session.execute(
            select(Membership.subscriber_id, Membership.list_id, Membership.version).order_by(
                Membership.subscriber_id
            )
        ).all()
    return [tokens.sign(key, Token("u", sid, lid, version)) for sid, lid, version in rows]


def _start_server(
    port: int, workers: int, env: dict[str, str], log: Path
) -> subprocess.Popen[bytes]:
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
    # A file, not a pipe: nobody reads a pipe during the run, and a full one stalls the server.
    server = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=log.open("wb"))
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"newsletter serve exited: {log.read_text()[-2000:]}")
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


def _run_while(
    port: int, paths: list[str], concurrency: int, busy: Callable[[], bool]
) -> tuple[list[float], list[int], set[int]]:
    """POST one-click over `concurrency` connections, cycling over `paths`, while `busy()`."""
    latencies: list[float] = []
    statuses: list[int] = []
    posted: set[int] = set()
    lock = threading.Lock()
    position = itertools.count()

    def worker() -> None:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        mine: list[tuple[int, float, int]] = []
        while busy():
            with lock:
                index = next(position) % len(paths)
            began = time.perf_counter()
            try:
                connection.request("POST", paths[index], body=BODY, headers=HEADERS)
                response = connection.getresponse()
                response.read()
                status = response.status
            except (OSError, http.client.HTTPException):
                # Counted as a failure (status 0); a new connection for the next one.
                status = 0
                connection.close()
                connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
            mine.append((index, time.perf_counter() - began, status))
        connection.close()
        with lock:
            for index, latency, status in mine:
                posted.add(index)
                latencies.append(latency)
                statuses.append(status)

    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return latencies, statuses, posted


def _write_import_file(path: Path, rows: int) -> None:
    with path.open("w") as handle:
        handle.write("email,name,city\n")
        for block in range(0, rows, 10_000):
            handle.write(
                "".join(
                    f"bulk{number}@example.org,Bulk Reader {number},Baku\n"
                    for number in range(block, min(rows, block + 10_000))
                )
            )


def _import_scenario(
    port: int, paths: list[str], concurrency: int, env: dict[str, str], csv_path: Path
) -> tuple[list[float], list[int], set[int], float, int]:
    """One-click load while a CLI import of `csv_path` runs in its own process."""
    command = [
        sys.executable,
        "-c",
        "from newsletter.cli import main; main()",
        "subscribers",
        "import",
        "bulk",
        str(csv_path),
    ]
    began = time.perf_counter()
    importer = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    latencies, statuses, posted = _run_while(
        port, paths, concurrency, lambda: importer.poll() is None
    )
    elapsed = time.perf_counter() - began
    if importer.returncode != 0:
        print(f"  the import failed: {importer.stderr.read().decode()[-500:]}")  # type: ignore[union-attr]
    return latencies, statuses, posted, elapsed, importer.returncode


def _flood_logins(port: int, clients: int, until: float) -> tuple[int, Counter[int]]:
    """Wrong passwords to the real login form from `clients` connections until `until`."""
    answers: Counter[int] = Counter()
    lock = threading.Lock()

    def flooder(number: int) -> None:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        connection.request("GET", "/staff/login")
        page = connection.getresponse()
        html = page.read().decode()
        cookie = (page.getheader("Set-Cookie") or "").split(";", 1)[0]
        found = re.search(r'name="csrf" value="([^"]+)"', html)
        csrf = found.group(1) if found else ""
        body = urlencode({"csrf": csrf, "email": STAFF_EMAIL, "password": f"wrong{number}"})
        headers = {**HEADERS, "Cookie": cookie}
        mine: Counter[int] = Counter()
        while time.monotonic() < until:
            try:
                connection.request("POST", "/staff/login", body=body, headers=headers)
                response = connection.getresponse()
                response.read()
                mine[response.status] += 1
            except (OSError, http.client.HTTPException):
                mine[0] += 1  # no answer
                connection.close()
                connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        connection.close()
        with lock:
            answers.update(mine)

    threads = [threading.Thread(target=flooder, args=(n,)) for n in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return sum(answers.values()), answers


def _report_under_load(title: str, latencies: list[float], statuses: list[int]) -> bool:
    if not latencies:
        print(f"{title}: no one-click answered")
        return False
    p50 = _percentile(latencies, 0.50) * 1000
    p99 = _percentile(latencies, 0.99) * 1000
    errors = sum(1 for status in statuses if status >= 500 or status == 0)
    other = sum(1 for status in statuses if status != 200)
    p99_ok, errors_ok = p99 < P99_UNDER_LOAD_TARGET_MS, errors == 0
    print(title)
    print(f"  one-click POSTs {len(latencies):,}, latency p50 {p50:.2f} ms")
    print(
        f"  latency p99 {p99:8.2f} ms      target <  {P99_UNDER_LOAD_TARGET_MS:.0f}   {_ok(p99_ok)}"
    )
    print(f"  latency max {max(latencies) * 1000:8.2f} ms")
    print(f"  5xx or none {errors:8d}         target =  0     {_ok(errors_ok)}")
    print(f"  answers other than 200: {other}")
    return p99_ok and errors_ok


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
    parser.add_argument("--scenarios", default="import,login", help="extra: import,login")
    parser.add_argument("--import-rows", type=int, default=1_000_000)
    parser.add_argument("--flood-clients", type=int, default=8)
    parser.add_argument("--flood-seconds", type=float, default=10.0)
    args = parser.parse_args()
    if args.requests + WARMUP > args.subscribers:
        parser.error("--subscribers must exceed --requests by the warm-up (200)")
    scenarios = {name for name in args.scenarios.split(",") if name}
    if scenarios - {"import", "login"}:
        parser.error("--scenarios takes import and login")

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
    import_path = data_dir / "bulk.csv"
    if "import" in scenarios:
        _write_import_file(import_path, args.import_rows)
    with session_scope(_database(), write=True) as session:
        create_list(session, "bulk")
        add_user(session, STAFF_EMAIL, secrets.token_urlsafe(16))
    dispose_engines()

    rng = random.Random(8058)
    chosen = rng.sample(all_tokens, WARMUP + args.requests)
    warmup, distinct = chosen[:WARMUP], chosen[WARMUP:]
    timed = distinct + [rng.choice(distinct) for _ in range(args.repeats)]
    rng.shuffle(timed)
    spare = list(set(all_tokens) - set(chosen))
    rng.shuffle(spare)
    # Separate tokens per scenario, so that each one's first posts change something.
    import_tokens, login_tokens = spare[: len(spare) // 2], spare[len(spare) // 2 :]
    under_load: list[bool] = []
    extra_posted: set[str] = set()

    server = _start_server(port, args.workers, env, data_dir / "serve.log")
    try:
        _run(port, [f"/u/{token}" for token in warmup], args.concurrency)
        server_cpu = _cpu_seconds(server.pid)
        own_cpu = time.process_time()
        latencies, statuses, elapsed = _run(
            port, [f"/u/{token}" for token in timed], args.concurrency
        )
        server_cpu = _cpu_seconds(server.pid) - server_cpu
        own_cpu = time.process_time() - own_cpu
        if "import" in scenarios and import_tokens:
            paths = [f"/u/{token}" for token in import_tokens]
            got, codes, posted_at, took, status = _import_scenario(
                port, paths, args.concurrency, env, import_path
            )
            extra_posted.update(import_tokens[index] for index in posted_at)
            under_load.append(
                _report_under_load(
                    f"while importing {args.import_rows:,} rows "
                    f"(CLI, own process, {took:.1f} s, exit {status}):",
                    got,
                    codes,
                )
                and status == 0
            )
        if "login" in scenarios and login_tokens:
            paths = [f"/u/{token}" for token in login_tokens]
            until = time.monotonic() + args.flood_seconds
            flood: dict[str, tuple[int, Counter[int]]] = {}
            flooding = threading.Thread(
                target=lambda: flood.update(result=_flood_logins(port, args.flood_clients, until))
            )
            flooding.start()
            got, codes, posted_at = _run_while(
                port, paths, args.concurrency, lambda: time.monotonic() < until
            )
            flooding.join()
            extra_posted.update(login_tokens[index] for index in posted_at)
            tries, answers = flood["result"]
            shown = ", ".join(f"{code}: {n:,}" for code, n in sorted(answers.items()))
            under_load.append(
                _report_under_load(
                    f"while {args.flood_clients} clients flood failed logins "
                    f"({tries:,} tries in {args.flood_seconds:.0f} s; {shown}):",
                    got,
                    codes,
                )
                and not any(code >= 500 or code == 0 for code in answers)
            )
    finally:
        server.terminate()
        server.wait(timeout=30)

    rate = len(latencies) / elapsed
    p50 = _percentile(latencies, 0.50) * 1000
    p99 = _percentile(latencies, 0.99) * 1000
    with session_scope(_database()) as session:
        unsubscribed = session.scalar(
            select(func.count())
            .select_from(Membership)
            .where(Membership.status == MembershipStatus.UNSUBSCRIBED)
        )
    dispose_engines()
    shutil.rmtree(data_dir, ignore_errors=True)
    posted = len(set(warmup) | set(distinct) | extra_posted)
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
    passed = rate_ok and p99_ok and consistent and not_ok == 0 and all(under_load)
    return 0 if passed else 1


def _ok(flag: bool) -> str:
    return "PASS" if flag else "FAIL"


if __name__ == "__main__":
    sys.exit(main())
