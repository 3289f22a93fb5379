"""The polling loop's dispatcher: users side by side, one user's updates in order,
and every handled update reported for marking done (no database here)."""

import asyncio
from types import SimpleNamespace

import pytest

from telegram_bot import dispatch
from telegram_bot.dispatch import Dispatcher


@pytest.fixture(autouse=True)
def marked_done(monkeypatch) -> list[int]:
    """Record what the dispatcher marks done instead of touching the database."""
    marked: list[int] = []

    def fake_db(fn):
        async def call(*, update_ids):
            marked.extend(update_ids)

        return call

    monkeypatch.setattr(dispatch, "db", fake_db)
    return marked


def _raw(update_id: int, user_id: int) -> dict:
    return {"update_id": update_id, "message": {"from": {"id": user_id}, "text": "hi"}}


class GatedApplication:
    """process_stored waits until the test opens the update's gate."""

    def __init__(self) -> None:
        self.gates: dict[int, asyncio.Event] = {}
        self.started: list[int] = []
        self.finished: list[int] = []

    def gate(self, update_id: int) -> asyncio.Event:
        return self.gates.setdefault(update_id, asyncio.Event())

    async def process_stored(self, raw, *, update, claimed, done) -> str:
        self.started.append(raw["update_id"])
        await self.gate(raw["update_id"]).wait()
        self.finished.append(raw["update_id"])
        done.append(raw["update_id"])
        return "done"


async def _submit(dispatcher: Dispatcher, update_id: int, user_id: int) -> None:
    await dispatcher.submit(SimpleNamespace(update_id=update_id), _raw(update_id, user_id))


async def _settle() -> None:
    for _ in range(10):
        await asyncio.sleep(0)


def test_other_users_run_while_one_user_waits_and_each_users_order_holds(marked_done):
    async def scenario() -> GatedApplication:
        app = GatedApplication()
        dispatcher = Dispatcher(app, concurrency=4, max_in_flight=10)
        await _submit(dispatcher, 1, user_id=100)  # slow
        await _submit(dispatcher, 2, user_id=100)  # must wait for 1
        await _submit(dispatcher, 3, user_id=200)
        await _settle()
        assert app.started == [1, 3]
        app.gate(3).set()
        await _settle()
        assert app.finished == [3]
        app.gate(1).set()
        app.gate(2).set()
        await dispatcher.drain()
        return app

    app = asyncio.run(scenario())
    assert app.finished == [3, 1, 2]
    assert sorted(marked_done) == [1, 2, 3]


def test_an_update_finishing_while_the_loop_takes_the_done_ids_is_not_lost(marked_done):
    async def scenario() -> list[int]:
        app = GatedApplication()
        dispatcher = Dispatcher(app, concurrency=4, max_in_flight=10)
        await _submit(dispatcher, 1, user_id=100)
        await _submit(dispatcher, 2, user_id=200)
        await _settle()
        app.gate(1).set()
        await _settle()
        first = list(dispatcher.take_done())  # the loop marks these with the next batch
        app.gate(2).set()  # finishes afterwards, appending to the list it was given
        await _settle()
        return first + dispatcher.take_done()

    taken = asyncio.run(scenario())
    assert sorted(taken + marked_done) == [1, 2]
