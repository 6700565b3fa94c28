"""Benchmark: import 100,000 and 1,000,000 CSV rows into a fresh SQLite database.

Each size is imported in a child process of its own, through the CLI's own code path
(`newsletter lists create` + `newsletter subscribers import`), so the peak RSS figures
(VmHWM) are independent of each other and of this generating process. The ceiling,
measured in the same run on the same file, is csv.reader parsing alone.

Targets: 1M rows in under 60 s, peak RSS under 200 MB, and flat memory: the 1M peak no
more than 1.25 times the 100k peak.

    .venv/bin/python benchmarks/import_csv.py [--sizes 100000,1000000] [--keep DIR]
"""

from __future__ import annotations

import argparse
import collections
import csv
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TARGET_SECONDS_1M = 60.0
TARGET_PEAK_MB = 200.0
TARGET_FLAT_RATIO = 1.25

FIRST = [
    "Amina",
    "James",
    "Sofia",
    "Zeynep",
    "Marie",
    "Hassan",
    "Li",
    "Ana",
    "Tomasz",
    "Rebecca",
    "Oleg",
    "Ingrid",
    "Ayesha",
    "Kenji",
    "Nicolás",
    "Erik",
    "Daniel",
    "Paola",
    "Samir",
    "Günther",
]
LAST = [
    "Rahman",
    "Okafor",
    "Lindqvist",
    "Yılmaz",
    "Dubois",
    "Ali",
    "Wei",
    "García",
    "Nowak",
    "Mensah",
    "Petrov",
    "Haugen",
    "Siddiqui",
    "Tanaka",
    "Álvarez",
    "Schmidt",
    "Osei",
    "Rossi",
]
CITIES = [
    "Lahore",
    "Manchester",
    "Uppsala",
    "Ankara",
    "Paris",
    "Karachi",
    "Beijing",
    "Sevilla",
    "Gdańsk",
    "Accra",
    "Sofia",
    "Bergen",
    "Kyoto",
    "Buenos Aires",
    "Berlin",
    "Zürich",
]
COMMON_DOMAINS = ["example.org", "example.com", "mail.example.net", "uni.example.edu"]


def generate(path: Path, rows: int, seed: int = 3) -> None:
    """Realistic-ish rows: a few big domains and a long tail of 5,000 institutional ones,
    mixed-case addresses, about 0.1% malformed and 0.1% repeated further down the file."""
    rng = random.Random(seed)
    recent: collections.deque[str] = collections.deque(maxlen=10_000)
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["email", "name", "organisation", "city"])
        for i in range(rows):
            first, last = rng.choice(FIRST), rng.choice(LAST)
            if rng.random() < 0.7:
                domain = rng.choice(COMMON_DOMAINS)
            else:
                domain = f"dept{rng.randrange(5000)}.example.org"
            local = f"{first[0]}.{last}{i}".encode("ascii", "ignore").decode()
            email = f"{local}@{domain}"
            roll = rng.random()
            if roll < 0.001:
                email = f"{local}@"  # malformed
            elif roll < 0.002 and recent:
                email = rng.choice(recent).swapcase()  # a repeat, in another case
            elif roll < 0.1:
                email = email.upper()
            recent.append(email)
            writer.writerow(
                [email, f"{first} {last}", f"Organisation {i % 997}", rng.choice(CITIES)]
            )


def csv_ceiling(path: Path) -> float:
    start = time.perf_counter()
    with path.open(encoding="utf-8-sig", newline="") as handle:
        count = sum(1 for _ in csv.reader(handle)) - 1
    return count / (time.perf_counter() - start)


def _status_kb(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1])
    raise RuntimeError(f"{field} not in /proc/self/status")


def child(csv_path: Path, result_path: Path) -> None:
    """Runs in a fresh process: NEWSLETTER_DATA_DIR points at an empty folder."""
    from newsletter.cli import app

    app(["lists", "create", "bench"], standalone_mode=False)
    baseline_kb = _status_kb("VmRSS")
    start = time.perf_counter()
    app(["subscribers", "import", "bench", str(csv_path)], standalone_mode=False)
    elapsed = time.perf_counter() - start
    result_path.write_text(
        json.dumps({"elapsed": elapsed, "peak_kb": _status_kb("VmHWM"), "baseline_kb": baseline_kb})
    )


def run(size: int, workdir: Path) -> dict[str, float]:
    csv_path = workdir / f"rows-{size}.csv"
    generate(csv_path, size)
    ceiling = csv_ceiling(csv_path)
    data_dir = workdir / f"data-{size}"
    result_path = workdir / f"result-{size}.json"
    report_path = workdir / f"report-{size}.txt"
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEWSLETTER_")}
    env["NEWSLETTER_DATA_DIR"] = str(data_dir)
    with report_path.open("w") as report:
        subprocess.run(
            [sys.executable, __file__, "--child", str(csv_path), str(result_path)],
            env=env,
            stdout=report,
            check=True,
        )
    result = json.loads(result_path.read_text())
    summary = next(
        line for line in report_path.read_text().splitlines() if line.startswith("added")
    )
    rate = size / result["elapsed"]
    print(
        f"{size:>9,} rows: {result['elapsed']:6.1f} s, {rate:9,.0f} rows/s "
        f"({rate / ceiling:.0%} of csv.reader alone at {ceiling:,.0f} rows/s), "
        f"peak RSS {result['peak_kb'] / 1024:5.1f} MB "
        f"(RSS before import {result['baseline_kb'] / 1024:.1f} MB), "
        f"database {(data_dir / 'newsletter.db').stat().st_size / 1e6:.0f} MB; {summary}"
    )
    csv_path.unlink()
    return {"elapsed": result["elapsed"], "peak_mb": result["peak_kb"] / 1024}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100000,1000000")
    parser.add_argument("--keep", type=Path, help="work in this folder and keep it")
    parser.add_argument("--child", nargs=2, type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(*args.child)
        return 0
    sizes = [int(size) for size in args.sizes.split(",")]
    with tempfile.TemporaryDirectory(prefix="newsletter-bench-") as scratch:
        workdir = args.keep or Path(scratch)
        workdir.mkdir(parents=True, exist_ok=True)
        results = {size: run(size, workdir) for size in sizes}
    failures = []
    if 1_000_000 in results:
        elapsed = results[1_000_000]["elapsed"]
        verdict = "ok" if elapsed < TARGET_SECONDS_1M else "MISSED"
        print(f"target 1M rows under {TARGET_SECONDS_1M:.0f} s: {elapsed:.1f} s, {verdict}")
        if elapsed >= TARGET_SECONDS_1M:
            failures.append("time")
    peak = max(result["peak_mb"] for result in results.values())
    verdict = "ok" if peak < TARGET_PEAK_MB else "MISSED"
    print(f"target peak RSS under {TARGET_PEAK_MB:.0f} MB: {peak:.1f} MB, {verdict}")
    if peak >= TARGET_PEAK_MB:
        failures.append("memory")
    if len(results) > 1:
        low, high = min(results), max(results)
        ratio = results[high]["peak_mb"] / results[low]["peak_mb"]
        verdict = "ok" if ratio <= TARGET_FLAT_RATIO else "MISSED"
        print(
            f"target flat memory ({high:,} vs {low:,} rows, ratio at most "
            f"{TARGET_FLAT_RATIO}): {ratio:.2f}, {verdict}"
        )
        if ratio > TARGET_FLAT_RATIO:
            failures.append("flat")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
