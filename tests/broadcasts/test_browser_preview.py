"""A broadcast's preview in a real browser (Debian's Chromium driven by Playwright): markup that a
browser and the check would read differently runs no script in a superuser's session."""

from __future__ import annotations

from tests.admin.browser import admin_page, browser_marks, in_browser
from tests.broadcasts.factories import BroadcastFactory
from tests.users.factories import StaffUserFactory, UserFactory

pytestmark = browser_marks

# A browser keeps the first href, a parser keeping the last would have passed it.
DOUBLE_HREF = '<a href="javascript:alert(document.cookie)" href="https://ok.example">offer</a>'


def superuser_reads_the_preview(base_url: str, username: str, broadcast_id: int) -> dict:
    seen: dict = {"dialogs": [], "pages": {}}
    with admin_page(base_url, username) as page:
        page.on("dialog", lambda dialog: (seen["dialogs"].append(dialog.message), dialog.dismiss()))
        for name, path in (("draft", "change/"), ("confirmation", "send/")):
            page.goto(f"{base_url}/admin/broadcasts/broadcast/{broadcast_id}/{path}")
            preview = page.locator("#broadcast-preview")
            links = preview.locator("a")
            for index in range(links.count()):  # a javascript: link runs when clicked
                links.nth(index).click(no_wait_after=True)
            page.wait_for_timeout(300)
            seen["pages"][name] = {"text": preview.inner_text(), "links": links.count()}
    return seen


def test_a_link_written_twice_runs_no_script_in_the_preview(live_server):
    # given a draft holding markup the form now refuses (saved around it, or before the check knew)
    UserFactory()
    draft = BroadcastFactory(text=f"<b>Sale</b> {DOUBLE_HREF}")
    superuser = StaffUserFactory(is_superuser=True)

    # when a superuser opens the draft and the send confirmation, clicking whatever link the preview has
    seen = in_browser(superuser_reads_the_preview, live_server.url, superuser.username, draft.pk)

    # then no script ran, and the preview shows the markup as text
    assert seen["dialogs"] == []
    for page in seen["pages"].values():
        assert page["links"] == 0
        assert page["text"].startswith('<b>Sale</b> <a href="javascript:')
