"""The batch worker: a process of its own (deploy/Procfile `batches`) that
takes batches from the queue in the declarations database and processes
them one at a time (services/declarations/batch/batches.py `process_next`).

It answers no reads, so a 20,000-row file never holds an HTTP request, a
gunicorn thread or a declarations worker; ops scale it on its own (several
processes split the waiting batches). It runs at a lower CPU priority
(BATCH_WORKER_NICE, default 10) than the processes that answer users, so a
campaign peak slows the batches a little rather than the reads.

Settings: BATCH_POLL_INTERVAL (seconds between looks at the queue when it
was empty, default 0.5), BATCH_LEASE_SECONDS (how long a batch stays this
worker's without news, default 60: a worker killed mid-file leaves its
batch to another after that), BATCH_WORKER_NICE.
"""
import logging
import os
import socket
import uuid
from zoneinfo import ZoneInfo

from eventlet.semaphore import Semaphore
from nameko.dependency_providers import Config
from nameko.extensions import DependencyProvider
from nameko.timer import Timer

from common.metrics import BATCHES_OPEN, BATCHES_PROCESSED
from common.service import PlatformService
from services.declarations.batch import batches
from services.declarations.batch.store import BatchStore, LeaseLost
from services.declarations.store import DeclarationsDatabase

log = logging.getLogger(__name__)


class Worker(DependencyProvider):
    """This process's identity in the batches it holds, its settings, and
    the lock that keeps it to one batch at a time."""

    def setup(self):
        config = self.container.config
        self.name = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self.lease_seconds = float(config.get("BATCH_LEASE_SECONDS") or 60)
        self.limits = batches.limits_of(config)
        self.tz = ZoneInfo(config.get("BUSINESS_TZ") or "Asia/Shanghai")
        self.lock = Semaphore(1)
        nice = int(config.get("BATCH_WORKER_NICE") or 10)
        if nice:
            try:
                os.nice(nice)
            except OSError:
                log.warning("could not lower the batch worker's CPU priority")

    def get_dependency(self, worker_ctx):
        return self

    def work(self):
        return batches.Work(worker=self.name, lease_seconds=self.lease_seconds)


class QueueTimer(Timer):
    """Looks at the queue every BATCH_POLL_INTERVAL seconds (default 0.5)."""

    def __init__(self, **kwargs):
        super().__init__(interval=0.5, eager=True, **kwargs)

    def setup(self):
        self.interval = float(self.container.config.get("BATCH_POLL_INTERVAL") or 0.5)
        super().setup()


class BatchWorker(PlatformService):
    name = "batch_worker"
    store = DeclarationsDatabase()
    worker = Worker()
    config = Config()

    @QueueTimer.decorator
    def drain(self):
        """Process waiting batches until there are none."""
        if not self.worker.lock.acquire(blocking=False):
            return
        try:
            while True:
                try:
                    done = batches.process_next(self.store, self.worker.work(), self.worker.tz,
                                                self.worker.limits)
                except LeaseLost as lost:
                    log.warning("batch %s was taken over by another worker; nothing committed here", lost)
                    BATCHES_PROCESSED.labels("lease_lost").inc()
                    continue
                if done is None:
                    break
                BATCHES_PROCESSED.labels("ended").inc()
            with self.store.reading():
                BATCHES_OPEN.set(BatchStore(self.store.session).open_count())
        finally:
            self.worker.lock.release()
