from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from newsletter.sending.marks import (
    MarkFile,
    Marks,
    discard_marks,
    marks_path,
    previous_marks,
    read_marks,
)

HOST = socket.gethostname()


def test_marks_are_set_cleared_and_read_back(tmp_path: Path) -> None:
    path = marks_path(tmp_path / "journal", 7, f"{HOST}:123")
    marks = MarkFile(path, first=100, count=50)
    for key in (100, 120, 149):
        marks.set(key)
    marks.clear(120)
    marks.handed_over(110)
    marks.set(111)
    marks.handed_over(111)
    assert read_marks(path) == Marks(frozenset({100, 149}), frozenset({110, 111}))
    with pytest.raises(KeyError, match="not one of this campaign's"):
        marks.set(150)
    marks.close(delete=True)
    assert not path.exists()


def test_a_mark_outlives_the_process_killed_right_after_setting_it(tmp_path: Path) -> None:
    path = tmp_path / "campaign-1--x.marks"
    child = (
        "import os, signal\n"
        "from pathlib import Path\n"
        "from newsletter.sending.marks import MarkFile\n"
        f"marks = MarkFile(Path({str(path)!r}), first=1, count=10)\n"
        "marks.set(4)\n"
        "os.kill(os.getpid(), signal.SIGKILL)\n"
    )
    process = subprocess.run([sys.executable, "-c", child], env=dict(os.environ), check=False)
    assert process.returncode == -signal.SIGKILL
    assert read_marks(path).committed == {4}


def test_only_the_previous_owners_file_on_this_host_counts(tmp_path: Path) -> None:
    mine = MarkFile(marks_path(tmp_path, 3, f"{HOST}:42"), first=1, count=5)
    mine.set(2)
    mine.close()
    assert previous_marks(tmp_path, 3, f"{HOST}:42") == Marks(frozenset({2}))
    # Another runner's, another host's or nobody's: the database decides.
    assert previous_marks(tmp_path, 3, f"{HOST}:43") is None
    assert previous_marks(tmp_path, 3, "elsewhere:42") is None
    assert previous_marks(tmp_path, 3, None) is None
    (tmp_path / "campaign-3--junk.marks").write_bytes(b"not marks")
    assert previous_marks(tmp_path, 3, "junk") is None
    other = MarkFile(marks_path(tmp_path, 4, f"{HOST}:42"), first=1, count=5)
    other.close()
    another = MarkFile(marks_path(tmp_path, 3, f"{HOST}:44"), first=1, count=5)
    another.close()
    # One runner's file, when it is settled; its neighbours' stay.
    discard_marks(tmp_path, 3, f"{HOST}:42")
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        [f"campaign-3--{HOST}_44.marks", "campaign-3--junk.marks", f"campaign-4--{HOST}_42.marks"]
    )
    discard_marks(tmp_path, 3)
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"campaign-4--{HOST}_42.marks"]


def test_a_file_that_is_not_a_mark_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "campaign-1--x.marks"
    path.write_bytes(b"NLMARKS0" + bytes(20))
    with pytest.raises(ValueError, match="not a mark file"):
        read_marks(path)
