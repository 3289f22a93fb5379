"""Runs the polling loop's stored updates without holding up the next fetch.

Different users' updates run side by side (at most `concurrency` at once); one
user's run one at a time in the order they were submitted (a FIFO lock per
user), across getUpdates batches too. A slow answer for one user (Telegram's
10 s pre-checkout deadline counts) therefore delays neither other users nor the
fetching of their updates.

Handled updates are marked done in bulk: together with the next batch's
store (one database hop) or, when the loop goes idle, on their own. Until
then they stay claimed under their lease, so nothing is lost if the process dies.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from telegram import Update

from telegram_bot import services
from telegram_bot.pipeline import StoringApplication, db, mark_received

logger = logging.getLogger(__name__)


class Dispatcher:
    def __init__(self, application: StoringApplication, *, concurrency: int, max_in_flight: int) -> None:
        self.application = application
        self._room = asyncio.Semaphore(max_in_flight)  # back-pressure on fetching
        self._slots = asyncio.Semaphore(concurrency)
        self._users: dict[int | None, tuple[asyncio.Lock, int]] = {}  # lock, updates holding or waiting
        self._tasks: set[asyncio.Task] = set()
        self._done: list[int] = []

    async def submit(self, update: Update, raw: dict[str, Any]) -> None:
        """Run a stored update that this loop claimed when storing it; waits
        while max_in_flight updates are pending (so the loop fetches no more)."""
        await self._room.acquire()
        user_id = services.update_user_id(raw)
        lock, count = self._users.get(user_id) or (asyncio.Lock(), 0)
        self._users[user_id] = (lock, count + 1)
        mark_received()  # the task copies this context: its wait for a slot counts as latency
        task = asyncio.create_task(self._run(update, raw, user_id, lock))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _run(self, update: Update, raw: dict[str, Any], user_id: int | None, lock: asyncio.Lock) -> None:
        try:
            async with lock, self._slots:  # the lock first: a waiting user holds no slot
                await self.application.process_stored(raw, update=update, claimed=True, done=self._done)
        except Exception:  # noqa: BLE001 - it is stored: the retry loop runs it again
            logger.exception("update %s could not be processed now", update.update_id)
        finally:
            self._room.release()
            lock_, count = self._users[user_id]
            if count == 1:
                del self._users[user_id]
            else:
                self._users[user_id] = (lock_, count - 1)
        if len(self._tasks) <= 1:  # the last one running: nothing else will mark these soon
            await self.flush_done()

    def take_done(self) -> list[int]:
        """The handled update ids not yet marked done; the caller marks them."""
        done = list(self._done)
        self._done.clear()  # in place: updates running now hold this very list
        return done

    def give_back(self, done: list[int]) -> None:
        """Marking them failed: keep them for the next try."""
        self._done.extend(done)

    async def flush_done(self) -> None:
        done = self.take_done()
        if not done:
            return
        try:
            await db(services.updates_mark_done)(update_ids=done)
        except Exception:  # noqa: BLE001 - they stay claimed: tried again with the next batch
            logger.exception("could not mark updates %s done", done)
            self.give_back(done)

    async def drain(self) -> None:
        """Let every submitted update finish, then mark them done."""
        while self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.flush_done()
