"""Campaign runs (newsletter.sending.service) in background threads of the web server.

One thread per campaign in this process; the runner's lease keeps other processes (a
`newsletter campaigns resume`, a second server worker) off a campaign this one sends,
and refuses this one a campaign another process sends. A resume asked for while the
campaign's thread is still finishing is not lost: the thread runs once more.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field

from newsletter.core.errors import NewsletterError
from newsletter.sending.service import CampaignService

log = logging.getLogger(__name__)


@dataclass
class _Job:
    thread: threading.Thread
    again: bool = False
    error: str | None = None


@dataclass
class Senders:
    _jobs: dict[int, _Job] = field(default_factory=dict)
    # Why the last run of a campaign in this process stopped with an error, if it did.
    _errors: dict[int, str] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def start(self, service: CampaignService, campaign_id: int) -> None:
        """Run the campaign in the background, unless this process runs it already."""
        with self._lock:
            job = self._jobs.get(campaign_id)
            if job is not None:
                job.again = True
                return
            self._errors.pop(campaign_id, None)
            thread = threading.Thread(
                target=self._work,
                args=(service, campaign_id),
                name=f"campaign-{campaign_id}",
                # A server that stops leaves the lease and marks as a kill would; the
                # next resume settles what was in flight.
                daemon=True,
            )
            self._jobs[campaign_id] = _Job(thread)
            thread.start()

    def running(self, campaign_id: int) -> bool:
        with self._lock:
            return campaign_id in self._jobs

    def error(self, campaign_id: int) -> str | None:
        with self._lock:
            return self._errors.get(campaign_id)

    def join(self, timeout: float | None = None) -> None:
        """Wait for every campaign thread of this process to end."""
        with self._lock:
            threads = [job.thread for job in self._jobs.values()]
        for thread in threads:
            thread.join(timeout)

    def _work(self, service: CampaignService, campaign_id: int) -> None:
        while True:
            error = _run(service, campaign_id)
            with self._lock:
                job = self._jobs[campaign_id]
                if error is not None:
                    self._errors[campaign_id] = error
                if job.again and error is None:
                    job.again = False
                    continue
                del self._jobs[campaign_id]
                return


def _run(service: CampaignService, campaign_id: int) -> str | None:
    """One run of the campaign; why it failed, or None."""
    try:
        service.run(campaign_id)
    except NewsletterError as exc:
        return str(exc)
    except Exception as exc:  # a thread has nobody to raise to: keep it for the page
        log.exception("campaign %s stopped", campaign_id)
        return f"the sender stopped: {exc}"
    return None


senders = Senders()
