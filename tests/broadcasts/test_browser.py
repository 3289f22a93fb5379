"""A broadcast in a real browser (Debian's Chromium driven by Playwright) sent by a real Celery worker.

A Marketing user writes a broadcast, sees how many buyers the segment reaches, sends a test to
themselves, sends it after the confirmation and watches its progress until every recipient is
done; then reads the finished page in Russian. Screenshots go to test-artifacts/ (gitignored).
"""

from __future__ import annotations

import importlib
import os
import re

import pytest
from django.apps import apps
from django.contrib.auth.models import Group

from broadcasts.models import Broadcast, Delivery
from tests.admin.browser import ARTIFACTS, CHROMIUM, admin_page, in_browser
from tests.broadcasts.helpers import messages_per_chat, subscribers
from tests.runtime.processes import worker_ready
from tests.users.factories import StaffUserFactory

pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.postgres,
    pytest.mark.skipif(not os.path.exists(CHROMIUM), reason=f"{CHROMIUM} is missing (scripts/install_test_deps.sh)"),
    pytest.mark.django_db(transaction=True),
]

RECIPIENTS = 12
DRAFT = ARTIFACTS / "admin-broadcast-draft.png"
IN_PROGRESS = ARTIFACTS / "admin-broadcast-in-progress.png"
DONE_RU = ARTIFACTS / "admin-broadcast-done-ru.png"


@pytest.fixture
def marketing_user(db):
    """A transactional test may start on a flushed database: the migration's groups are put back."""
    importlib.import_module("payments.migrations.0004_admin_groups").grant_groups(apps)
    importlib.import_module("broadcasts.migrations.0002_marketing_group").grant(apps, None)
    user = StaffUserFactory(telegram_id=777_001, language_code="en")
    user.groups.add(Group.objects.get(name="Marketing"))
    return user


def marketing_sends_a_broadcast(base_url: str, username: str) -> dict:
    from playwright.sync_api import expect

    ARTIFACTS.mkdir(exist_ok=True)
    seen: dict = {}
    with admin_page(base_url, username, width=1400, height=1100) as page:
        page.set_default_timeout(20_000)
        page.click("#broadcasts-link a.addlink")

        # compose: the recipient count follows the segment as it is chosen
        page.fill("#id_name", "New servers")
        page.fill("#id_text", "<b>New servers</b> in Frankfurt\nFaster connections for everyone.")
        page.select_option("#id_button", "buy")
        page.select_option("#id_segment", "active")
        expect(page.locator("#live-recipient-count")).to_have_text(str(RECIPIENTS))
        page.select_option("#id_segment", "expired")
        expect(page.locator("#live-recipient-count")).to_have_text("0")
        page.select_option("#id_segment", "active")
        expect(page.locator("#live-recipient-count")).to_have_text(str(RECIPIENTS))
        page.click("input[name=_continue]")

        # the draft: its count, a test to myself (the worker sends it; the page shows the answer)
        expect(page.locator("#recipient-count")).to_have_text(str(RECIPIENTS))
        page.click("#send-test")
        expect(page.locator("ul.messagelist")).to_contain_text("on its way to your Telegram")
        expect(page.locator("#test-status")).to_contain_text("The test was sent to your Telegram")
        page.screenshot(path=str(DRAFT), full_page=True)

        # send, after the confirmation with the count
        page.click("#send-broadcast")
        expect(page.locator("#send-summary")).to_contain_text(f"goes to {RECIPIENTS} recipients")
        page.click("#confirm-send")
        expect(page.locator("ul.messagelist")).to_contain_text("Sending has started")

        # the progress moves while the worker sends: screenshot it in the middle
        label = page.locator("#progress-label")
        expect(label).to_have_text(re.compile(rf"^([1-9]|1[01]) / {RECIPIENTS}$"), timeout=60_000)
        seen["midway"] = label.inner_text()
        page.screenshot(path=str(IN_PROGRESS), full_page=True)
        expect(page.locator("#cancel-broadcast")).to_be_visible()
        expect(label).to_have_text(f"{RECIPIENTS} / {RECIPIENTS}", timeout=60_000)
        expect(page.locator("#progress-status")).to_have_text("sent")
        expect(page.locator("#cancel-form")).to_be_hidden()
        seen["sent"] = page.locator("#count-sent").inner_text()

        # the finished broadcast in Russian
        russian = page.context.browser.new_context(locale="ru-RU", extra_http_headers={"Accept-Language": "ru"})
        ru_page = russian.new_page()
        ru_page.set_default_timeout(20_000)
        for cookie in page.context.cookies():
            russian.add_cookies([cookie])
        ru_page.goto(page.url)
        seen["ru"] = ru_page.locator("#broadcast-progress").inner_text()
        ru_page.screenshot(path=str(DONE_RU), full_page=True)
    return seen


def test_marketing_composes_tests_sends_and_watches_a_broadcast_in_the_browser(
    live_server, processes, shop_env, broker, fake_telegram, marketing_user
):
    # given a Celery worker that sends two messages a second, and 12 active subscribers
    worker = processes.worker(
        shop_env(broker_url=broker, BROADCAST_BATCH_SIZE="2", TELEGRAM_OUTBOUND_MAX_PER_SECOND="2"), name="solo"
    )
    worker_ready(worker)
    people = subscribers(RECIPIENTS)

    seen = in_browser(marketing_sends_a_broadcast, live_server.url, marketing_user.username)

    print(f"screenshots: {DRAFT}, {IN_PROGRESS} (at {seen['midway']}), {DONE_RU}")
    broadcast = Broadcast.objects.get()
    assert broadcast.status == Broadcast.Status.DONE and broadcast.started_by == marketing_user
    assert seen["sent"] == str(RECIPIENTS)
    assert "Обработано:" in seen["ru"] and f"{RECIPIENTS} / {RECIPIENTS}" in seen["ru"] and "отправлено" in seen["ru"]
    assert messages_per_chat(fake_telegram, people) == {user.telegram_id: 1 for user in people}
    assert Delivery.objects.filter(broadcast=broadcast, status=Delivery.Status.SENT).count() == RECIPIENTS
    # the test went to the marketing user, as a buyer gets it (button in their language)
    [test] = fake_telegram.sent_messages(marketing_user.telegram_id)
    assert test["text"].startswith("<b>New servers</b>")
    assert test["reply_markup"]["inline_keyboard"][0][0]["text"] == "🛒 Buy"
    assert all(path.stat().st_size > 0 for path in (DRAFT, IN_PROGRESS, DONE_RU))
