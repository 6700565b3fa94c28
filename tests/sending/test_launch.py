"""What a sender that sends alone loads: the modules of the single-process send, and none
of the clients only workers use (each costs memory, a target of benchmarks/send.py)."""

from __future__ import annotations

import subprocess
import sys


def test_sending_alone_loads_no_redis_or_celery_client() -> None:
    script = (
        "import sys\n"
        "import newsletter.cli.campaigns, newsletter.cli.send, newsletter.sending.launch\n"
        "import newsletter.sending.runner, newsletter.sending.service\n"
        "print(' '.join(sorted(m for m in ('redis', 'celery', 'kombu') if m in sys.modules)))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == ""
