from __future__ import annotations

import multiprocessing
import threading
import time
from pathlib import Path

import pytest

from newsletter.web.pdf_cache import cached_pdf

PDF = b"%PDF-1.7\n" + b"x" * 200_000 + b"\n%%EOF\n"


def _slow_render(log: Path, seconds: float = 0.3) -> bytes:
    with log.open("a") as handle:
        handle.write("rendered\n")
    time.sleep(seconds)
    return PDF


def _in_another_process(folder: str, log: str) -> None:
    path = cached_pdf(Path(folder), "7-abc", lambda: _slow_render(Path(log), 1.0))
    assert path.read_bytes() == PDF


def test_first_requests_in_other_threads_and_processes_wait_for_one_render(tmp_path: Path) -> None:
    folder, log = tmp_path / "pdf", tmp_path / "renders.log"
    context = multiprocessing.get_context("spawn")
    process = context.Process(target=_in_another_process, args=(str(folder), str(log)))
    process.start()
    # Wait until the other process is rendering (and so holds the lock), then ask here.
    deadline = time.monotonic() + 30
    while not (log.exists() and log.read_text()) and time.monotonic() < deadline:
        time.sleep(0.01)
    results: list[bytes] = []
    threads = [
        threading.Thread(
            target=lambda: results.append(
                cached_pdf(folder, "7-abc", lambda: _slow_render(log)).read_bytes()
            )
        )
        for _ in range(3)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    process.join(timeout=30)
    assert process.exitcode == 0

    assert results == [PDF] * 3
    assert log.read_text() == "rendered\n"
    assert sorted(path.name for path in folder.iterdir()) == ["7-abc.lock", "7-abc.pdf"]


def test_a_failed_render_leaves_nothing_and_the_next_request_renders(tmp_path: Path) -> None:
    folder = tmp_path / "pdf"

    def failing() -> bytes:
        raise RuntimeError("weasyprint fell over")

    with pytest.raises(RuntimeError):
        cached_pdf(folder, "1-x", failing)
    assert not (folder / "1-x.pdf").exists()
    assert not list(folder.glob(".*tmp"))
    assert cached_pdf(folder, "1-x", lambda: PDF).read_bytes() == PDF


def test_names_cannot_leave_the_folder(tmp_path: Path) -> None:
    path = cached_pdf(tmp_path / "pdf", "../../etc/passwd", lambda: PDF)
    assert path.parent == tmp_path / "pdf"
