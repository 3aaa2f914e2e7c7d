"""Usage of /v1/chat/completions, written in batches off the request path.

A request hands its `Completion` to `UsageWriter.submit()` and answers at once; a background task
writes what accumulated every `interval` seconds (sooner once `max_rows` are waiting) in one
transaction: one bulk insert of the usage rows, one quota upsert per (user, period) and one update
per key. Until then this replica counts the unwritten platform tokens in its quota checks, and
`GET /v1/usage` flushes first, so on this replica the numbers stay exact.

What is lost on a crash: the completions of at most one flush interval (a graceful stop flushes).
A batch that fails to write (the database is unreachable) is kept and retried with the next one for
as long as the outage lasts, up to `MAX_BACKLOG_ROWS` rows (tens of MB); beyond that the oldest rows
are dropped with an error logged, so an endless outage cannot exhaust memory. A row that can never
be written (its user was deleted) is dropped alone.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import uuid
from collections import defaultdict
from datetime import datetime

import anyio
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from chat_api.core.columns import utcnow
from chat_api.core.tasks import cancel_and_wait
from chat_api.usage.service import Completion, period_of, record_completions

__all__ = ["MAX_BACKLOG_ROWS", "UsageWriter"]

logger = logging.getLogger(__name__)

MAX_BACKLOG_ROWS = 200_000

_Row = tuple[Completion, datetime]


class UsageWriter:
    """Batches completions into few short transactions; `start()` with a running loop, then `stop()`."""

    def __init__(self, *, sessions: sessionmaker[Session], interval: float, max_rows: int) -> None:
        self._sessions = sessions
        self._interval = interval
        self._max_rows = max_rows
        self._rows: list[_Row] = []
        self._failed: list[_Row] = []  # a batch that failed, written before the newer rows
        self._attempts = 0
        # Platform tokens submitted but not yet committed, per (user, period).
        self._unwritten: dict[tuple[uuid.UUID, str], int] = defaultdict(int)
        self._lock = threading.Lock()  # guards the three above
        self._flushing = threading.Lock()  # one flush at a time, in whichever thread
        self._waiting: asyncio.Event | None = None
        self._full: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None

    def submit(self, completion: Completion) -> None:
        """Queue one completion that ended now; called on the event loop, never blocks."""
        at = utcnow()
        with self._lock:
            self._rows.append((completion, at))
            if completion.platform_tokens:
                self._unwritten[completion.user_id, period_of(at)] += completion.platform_tokens
            waiting = len(self._rows)
        if self._waiting is not None and self._full is not None:
            self._waiting.set()
            if waiting >= self._max_rows:
                self._full.set()

    def unwritten_platform_tokens(self, user_id: uuid.UUID) -> int:
        """The user's platform tokens of this period that this replica has not written yet."""
        with self._lock:
            return self._unwritten.get((user_id, period_of(utcnow())), 0)

    def flush(self) -> None:
        """Write everything submitted so far; blocking, so call it from a worker thread."""
        with self._flushing:
            with self._lock:
                batch = self._failed + self._rows
                self._failed, self._rows = [], []
            if not batch:
                return
            try:
                self._write(batch)
            except IntegrityError:
                # A row that can never be written (its user is gone): the others must not share its fate.
                self._write_one_by_one(batch)
            except Exception as exc:
                self._keep_for_retry(batch, exc)
                return
            self._attempts = 0
            # Only now: until the commit, quota checks must still see these tokens as spent.
            self._forget(batch)

    def _write(self, batch: list[_Row]) -> None:
        with self._sessions() as db_session:
            record_completions(db_session=db_session, completions=batch)
            db_session.commit()

    def _write_one_by_one(self, batch: list[_Row]) -> None:
        for row in batch:
            try:
                self._write([row])
            except IntegrityError:
                logger.error("a usage row of user %s cannot be written; dropped", row[0].user_id)

    def _keep_for_retry(self, batch: list[_Row], exc: Exception) -> None:
        self._attempts += 1
        overflow = max(0, len(batch) - MAX_BACKLOG_ROWS)
        # Only the exception's type: its text may quote the SQL parameters.
        logger.warning(
            "writing %d usage rows failed %d times in a row (%s); retrying",
            len(batch),
            self._attempts,
            type(exc).__name__,
        )
        if overflow:
            logger.error("usage backlog over %d rows: the %d oldest dropped", MAX_BACKLOG_ROWS, overflow)
            self._forget(batch[:overflow])
        with self._lock:
            self._failed = batch[overflow:]

    def _forget(self, batch: list[_Row]) -> None:
        with self._lock:
            for completion, at in batch:
                if completion.platform_tokens:
                    key = (completion.user_id, period_of(at))
                    left = self._unwritten[key] - completion.platform_tokens
                    if left > 0:
                        self._unwritten[key] = left
                    else:
                        del self._unwritten[key]

    def start(self) -> None:
        self._waiting, self._full = asyncio.Event(), asyncio.Event()
        self._task = asyncio.get_running_loop().create_task(self._run(self._waiting, self._full))

    async def stop(self) -> None:
        """Stop the background task and write what is left."""
        await cancel_and_wait(self._task)
        self._task = None
        self._waiting = self._full = None
        await anyio.to_thread.run_sync(self.flush)

    async def _run(self, waiting: asyncio.Event, full: asyncio.Event) -> None:
        while True:
            await waiting.wait()
            # Let the batch fill for one interval, unless it fills up sooner.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(full.wait(), timeout=self._interval)
            waiting.clear()
            full.clear()
            await anyio.to_thread.run_sync(self.flush)
            with self._lock:
                if self._failed:
                    waiting.set()  # retry with the next interval even if nothing new arrives
