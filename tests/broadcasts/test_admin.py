"""Broadcasts in the admin: who may do what, composing with validation, the recipient count, the
test message, the confirmation, progress, cancel, the read-only deliveries; in English and Russian."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone

from broadcasts import sending
from broadcasts.models import Broadcast, BroadcastImage, Delivery
from tests.broadcasts.conftest import png_of_size, png_picture
from tests.broadcasts.factories import BroadcastFactory
from tests.subscriptions.factories import SubscriptionFactory
from tests.users.factories import StaffUserFactory, UserFactory

pytestmark = pytest.mark.django_db

ADD = reverse("admin:broadcasts_broadcast_add")
CHANGELIST = reverse("admin:broadcasts_broadcast_changelist")
RECIPIENTS = reverse("admin:broadcasts_broadcast_recipients")


def change_url(broadcast) -> str:
    return reverse("admin:broadcasts_broadcast_change", args=[broadcast.pk])


def url(name: str, broadcast) -> str:
    return reverse(f"admin:broadcasts_broadcast_{name}", args=[broadcast.pk])


def staff_in(group: str, **fields):
    user = StaffUserFactory(**fields)
    user.groups.add(Group.objects.get(name=group))
    return user


@pytest.fixture
def login(client):
    def as_user(user, *, language: str = "en"):
        client.defaults["HTTP_ACCEPT_LANGUAGE"] = language
        client.force_login(user)
        return client

    return as_user


@pytest.fixture
def marketing(db):
    return staff_in("Marketing", telegram_id=888_001)


def form_data(**overrides) -> dict:
    data = {
        "name": "Spring sale",
        "text": "<b>Spring sale</b>\n−20 % on every tariff",
        "button": "buy",
        "button_text": "",
        "button_url": "",
        "segment": "all",
        "expiring_days": "",
        "language": "",
    }
    data.update(overrides)
    return data


def page_text(response) -> str:
    return response.content.decode()


# --- Who may do what -------------------------------------------------------------------------


def test_the_marketing_group_sends_and_the_other_staff_groups_only_look():
    rights = {
        name: set(
            Group.objects.get(name=name)
            .permissions.filter(content_type__app_label="broadcasts")
            .values_list("codename", flat=True)
        )
        for name in ("Marketing", "Finance", "Support")
    }

    assert rights["Marketing"] == {
        "add_broadcast",
        "change_broadcast",
        "delete_broadcast",
        "view_broadcast",
        "send_broadcast",
        "view_delivery",
    }
    assert rights["Finance"] == rights["Support"] == {"view_broadcast", "view_delivery"}


def test_the_admin_index_links_to_broadcasts(login, marketing):
    page = login(marketing).get(reverse("admin:index"))

    assert 'id="broadcasts-link"' in page_text(page) and CHANGELIST in page_text(page)


def test_support_sees_a_broadcast_but_can_neither_send_nor_cancel_it(login, fake_telegram):
    support = staff_in("Support")
    UserFactory()
    draft = BroadcastFactory()
    client = login(support)

    assert client.get(change_url(draft)).status_code == 200
    assert client.get(url("send", draft)).status_code == 403
    assert client.post(url("send", draft)).status_code == 403
    assert client.post(url("test", draft)).status_code == 403
    assert Broadcast.objects.get(pk=draft.pk).status == Broadcast.Status.DRAFT
    assert 'id="send-broadcast"' not in page_text(client.get(change_url(draft)))


def test_finance_cannot_send_either(login, fake_telegram):
    UserFactory()
    draft = BroadcastFactory()

    response = login(staff_in("Finance")).post(url("send", draft))

    assert response.status_code == 403
    assert Broadcast.objects.get(pk=draft.pk).status == Broadcast.Status.DRAFT


# --- Composing -------------------------------------------------------------------------------


def test_marketing_composes_a_draft(login, marketing):
    response = login(marketing).post(ADD, form_data(_continue="1"))

    broadcast = Broadcast.objects.get()
    assert response.status_code == 302 and response["Location"].endswith(change_url(broadcast))
    assert (broadcast.name, broadcast.text, broadcast.button) == ("Spring sale", form_data()["text"], "buy")
    assert (broadcast.status, broadcast.created_by) == (Broadcast.Status.DRAFT, marketing)


@pytest.mark.parametrize(
    ("fields", "says"),
    [
        ({"text": "Tom & Jerry"}, "does not start an entity"),
        ({"text": "<p>para</p>"}, "not a tag Telegram supports"),
        ({"text": ""}, "Write the message"),
        ({"button": "url", "button_text": "Open", "button_url": "http://plain.example"}, "Enter a valid URL"),
        ({"button": "url", "button_text": "", "button_url": "https://shop.example"}, "needs a label"),
        ({"segment": "expiring", "expiring_days": ""}, "within how many days"),
        ({"segment": "expiring", "expiring_days": "400"}, "less than or equal to 365"),
    ],
)
def test_what_telegram_would_refuse_is_shown_on_the_form_and_nothing_is_saved(login, marketing, fields, says):
    response = login(marketing).post(ADD, form_data(**fields))

    assert response.status_code == 200
    assert says in page_text(response)
    assert not Broadcast.objects.exists()


def test_a_picture_is_uploaded_with_the_draft_and_shown_back(login, marketing):
    picture = png_picture()
    client = login(marketing)

    client.post(ADD, {**form_data(), "picture": SimpleUploadedFile("offer.png", picture, "image/png")})

    broadcast = Broadcast.objects.get()
    assert (broadcast.image_name, broadcast.image_type) == ("offer.png", "image/png")
    shown = client.get(url("picture", broadcast))
    assert shown["Content-Type"] == "image/png" and shown.content == picture


def test_a_picture_telegram_would_not_show_is_refused_on_the_form(login, marketing):
    response = login(marketing).post(
        ADD, {**form_data(), "picture": SimpleUploadedFile("long.png", png_of_size(4000, 100), "image/png")}
    )

    assert "20 times the shorter" in page_text(response)
    assert not Broadcast.objects.exists()


def test_a_long_text_fits_a_message_but_not_a_caption(login, marketing):
    client = login(marketing)
    long_text = "x" * 2000

    with_picture = client.post(
        ADD, {**form_data(text=long_text), "picture": SimpleUploadedFile("p.png", png_picture(), "image/png")}
    )
    without = client.post(ADD, form_data(text=long_text))

    assert "Telegram allows 1024" in page_text(with_picture)
    assert without.status_code == 302 and Broadcast.objects.count() == 1


def test_the_draft_page_shows_the_recipient_count_the_preview_and_the_buttons(login, marketing):
    SubscriptionFactory(user=UserFactory(), expires_at=timezone.now() + timezone.timedelta(days=10))
    UserFactory()
    draft = BroadcastFactory(text="<b>Hi</b> there", segment=Broadcast.Segment.ACTIVE)

    page = page_text(login(marketing).get(change_url(draft)))

    assert 'id="recipient-count">1<' in page
    assert '<div class="broadcast-preview" id="broadcast-preview"><b>Hi</b> there' in page
    assert 'id="send-test"' in page and 'id="send-broadcast"' in page


DOUBLE_HREF = '<a href="javascript:alert(document.cookie)" href="https://ok.example">offer</a>'


def test_a_link_with_its_href_written_twice_is_refused_on_the_form(login, marketing):
    response = login(marketing).post(ADD, form_data(text=DOUBLE_HREF))

    assert response.status_code == 200
    assert "has the attribute “href” twice" in page_text(response)
    assert not Broadcast.objects.exists()


@pytest.mark.parametrize("page", ["change", "send"])
def test_a_stored_link_written_twice_is_shown_as_text_on_the_draft_and_the_confirmation(login, marketing, page):
    # given a draft saved before the check refused it (or written around the form)
    UserFactory()
    draft = BroadcastFactory(text=f"<b>Sale</b> {DOUBLE_HREF}")

    shown = page_text(login(marketing).get(change_url(draft) if page == "change" else url("send", draft)))

    preview = shown[shown.index('id="broadcast-preview">') :]
    assert preview.startswith('id="broadcast-preview"><pre>&lt;b&gt;Sale&lt;/b&gt; &lt;a href=&quot;javascript:')
    assert 'href="javascript:' not in shown


def test_the_preview_is_rebuilt_from_the_checked_markup(login, marketing):
    draft = BroadcastFactory(text="<B>Hi</B> <a HREF='https://ok.example/?q=&quot;x&quot;'>there</a> &#60;3")

    page = page_text(login(marketing).get(change_url(draft)))

    assert (
        '<div class="broadcast-preview" id="broadcast-preview">'
        '<b>Hi</b> <a href="https://ok.example/?q=&quot;x&quot;">there</a> &lt;3'
    ) in page


def test_the_live_count_follows_the_choice_on_the_form(login, marketing):
    SubscriptionFactory(user=UserFactory(language_code="en"), expires_at=timezone.now() + timezone.timedelta(days=2))
    UserFactory(language_code="ru")
    client = login(marketing)

    def count(**params):
        return client.get(RECIPIENTS, params).json()

    assert count(segment="all") == {"count": 2}
    assert count(segment="all", language="ru") == {"count": 1}
    assert count(segment="expiring", expiring_days=3) == {"count": 1}
    assert count(segment="expiring") == {"count": None}  # days not chosen yet
    assert count(segment="never_paid") == {"count": 2}
    bad = client.get(RECIPIENTS, {"segment": "everyone", "expiring_days": "x"})
    assert bad.status_code == 400 and "segment" in bad.json()["error"]


# --- The test message ----------------------------------------------------------------------


def test_a_test_goes_to_the_admin_in_telegram(login, marketing, fake_telegram, django_capture_on_commit_callbacks):
    draft = BroadcastFactory(text="<b>Try me</b>")
    client = login(marketing)

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(url("test", draft), follow=True)

    assert "on its way to your Telegram (888001)" in page_text(response)
    (message,) = fake_telegram.sent_messages(888_001)
    assert message["text"] == "<b>Try me</b>"
    assert "The test was sent to your Telegram" in page_text(client.get(change_url(draft)))


def test_an_admin_without_a_telegram_id_is_told_how_to_get_a_test(login, fake_telegram):
    admin = staff_in("Marketing", telegram_id=None)
    draft = BroadcastFactory()

    response = login(admin).post(url("test", draft), follow=True)

    assert "Your account has no Telegram id" in page_text(response)
    assert fake_telegram.calls("sendMessage") == []


def test_a_failed_test_says_why(login, fake_telegram, django_capture_on_commit_callbacks):
    admin = staff_in("Marketing", telegram_id=888_002)
    fake_telegram.block(888_002)
    draft = BroadcastFactory()
    client = login(admin)

    with django_capture_on_commit_callbacks(execute=True):
        client.post(url("test", draft))

    page = page_text(client.get(change_url(draft)))
    assert "The test failed" in page and "blocked by the user" in page and "press Start" in page


# --- Sending, progress, cancel -------------------------------------------------------------


def test_send_asks_for_confirmation_with_the_count_then_sends(
    login, marketing, fake_telegram, django_capture_on_commit_callbacks
):
    people = [UserFactory(), UserFactory()]
    draft = BroadcastFactory()
    client = login(marketing)

    confirm = client.get(url("send", draft))
    assert "This message goes to 2 recipients: all buyers." in page_text(confirm)
    assert 'value="Yes, send it to 2 recipients"' in page_text(confirm)
    assert Broadcast.objects.get(pk=draft.pk).status == Broadcast.Status.DRAFT

    with django_capture_on_commit_callbacks(execute=True):  # the worker's run, inline here
        response = client.post(url("send", draft), follow=True)

    assert "Sending has started" in page_text(response)
    assert all(len(fake_telegram.sent_messages(user.telegram_id)) == 1 for user in people)
    progress = client.get(url("progress", draft)).json()
    assert (progress["label"], progress["sent"], progress["status"], progress["finished"]) == ("2 / 2", 2, "done", True)
    page = page_text(client.get(change_url(draft)))
    assert 'id="progress-label">2 / 2<' in page and 'name="_save"' not in page


def test_the_confirmation_cannot_send_to_nobody(login, marketing, fake_telegram):
    draft = BroadcastFactory(segment=Broadcast.Segment.ACTIVE)

    page = page_text(login(marketing).get(url("send", draft)))
    refused = login(marketing).post(url("send", draft), follow=True)

    assert "goes to 0 recipients" in page and "disabled" in page
    assert "Nobody is in this segment" in page_text(refused)


def test_a_started_broadcast_cannot_be_changed_or_deleted(login, marketing, fake_telegram):
    UserFactory()
    draft = BroadcastFactory(text="before")
    client = login(marketing)
    client.post(url("send", draft))

    response = client.post(change_url(draft), form_data(text="after"), follow=True)
    deleted = client.post(reverse("admin:broadcasts_broadcast_delete", args=[draft.pk]), {"post": "yes"})

    assert "can no longer be changed" in page_text(response)
    assert deleted.status_code == 403
    assert Broadcast.objects.get(pk=draft.pk).text == "before"


def test_a_draft_can_be_deleted(login, marketing):
    draft = BroadcastFactory()

    login(marketing).post(reverse("admin:broadcasts_broadcast_delete", args=[draft.pk]), {"post": "yes"})

    assert not Broadcast.objects.filter(pk=draft.pk).exists()


def test_cancel_from_the_page_stops_the_rest(login, marketing, fake_telegram):
    [UserFactory() for _ in range(3)]
    draft = BroadcastFactory()
    client = login(marketing)
    client.post(url("send", draft))  # not run: the hand-over waits for a commit this test never makes

    page = page_text(client.get(change_url(draft)))
    assert 'id="cancel-broadcast"' in page and "Fixing the list of recipients" in page
    response = client.post(url("cancel", draft), follow=True)

    assert "Cancelled" in page_text(response)
    assert Broadcast.objects.get(pk=draft.pk).status == Broadcast.Status.CANCELLED
    assert client.get(url("progress", draft)).json()["status"] == "cancelled"
    again = client.post(url("cancel", draft), follow=True)
    assert "Only a broadcast that is being sent can be cancelled" in page_text(again)


def test_copy_into_a_new_draft(login, marketing):
    original = BroadcastFactory(status=Broadcast.Status.DONE)

    login(marketing).post(CHANGELIST, {"action": "copy_as_draft", "_selected_action": [original.pk]})

    copy = Broadcast.objects.exclude(pk=original.pk).get()
    assert copy.status == Broadcast.Status.DRAFT and copy.text == original.text


def test_bad_addresses_are_404_not_500(login, marketing):
    client = login(marketing)

    assert client.get(reverse("admin:broadcasts_broadcast_progress", args=[999_999])).status_code == 404
    assert client.get(reverse("admin:broadcasts_broadcast_picture", args=[BroadcastFactory().pk])).status_code == 404
    assert client.get(url("test", BroadcastFactory())).status_code == 405


# --- Deliveries ----------------------------------------------------------------------------


def test_deliveries_are_read_only_and_found_by_telegram_id(login, fake_telegram):
    superuser = StaffUserFactory(is_superuser=True)
    buyer = UserFactory(telegram_id=424_242)
    other = UserFactory()
    broadcast = BroadcastFactory(status=Broadcast.Status.DONE)
    row = Delivery.objects.create(broadcast=broadcast, user=buyer, status=Delivery.Status.SENT)
    Delivery.objects.create(broadcast=broadcast, user=other, status=Delivery.Status.BLOCKED)
    client = login(superuser)
    changelist = reverse("admin:broadcasts_delivery_changelist")

    found = client.get(changelist, {"q": "424242"})
    edit = client.post(reverse("admin:broadcasts_delivery_change", args=[row.pk]), {"status": "failed"})

    assert found.status_code == 200 and found.context["cl"].result_count == 1
    assert (
        client.get(changelist, {"broadcast__id__exact": broadcast.pk, "status__exact": "blocked"})
        .context["cl"]
        .result_count
        == 1
    )
    assert edit.status_code == 403 and Delivery.objects.get(pk=row.pk).status == Delivery.Status.SENT
    assert client.get(reverse("admin:broadcasts_delivery_add")).status_code == 403


# --- Russian ---------------------------------------------------------------------------------


def test_the_pages_speak_russian_to_a_russian_browser(login, marketing, fake_telegram):
    UserFactory()
    draft = BroadcastFactory()
    client = login(marketing, language="ru")

    form = page_text(client.get(change_url(draft)))
    confirm = page_text(client.get(url("send", draft)))
    invalid = page_text(client.post(ADD, form_data(text="Tom & Jerry")))

    assert "Рассылки" in form and "Получателей сейчас" in form and "Отправить тест себе" in form
    assert "Это сообщение получит 1 получатель" in confirm
    assert "не начинает сущность" in invalid and "строке 1" in invalid


def test_a_draft_with_a_picture_offers_to_remove_it(login, marketing):
    draft = BroadcastFactory(image_name="p.png", image_type="image/png", image_size=10)
    BroadcastImage.objects.create(broadcast=draft, data=png_picture())

    page = page_text(login(marketing).get(change_url(draft)))

    assert 'name="remove_picture"' in page


def test_the_list_shows_live_progress_of_a_broadcast_being_sent_and_the_size_of_finished_ones(login, marketing):
    sending_now = BroadcastFactory(status=Broadcast.Status.SENDING, total=3, prepared_at=timezone.now())
    for status in ("sent", "blocked", "pending"):
        Delivery.objects.create(broadcast=sending_now, user=UserFactory(), status=status)
    BroadcastFactory(status=Broadcast.Status.DONE, total=1234)

    page = page_text(login(marketing).get(CHANGELIST))

    assert '<td class="field-progress_column">2 / 3</td>' in page
    assert '<td class="field-progress_column">1234</td>' in page


@pytest.mark.parametrize(
    ("recorded", "english", "russian"),
    [
        (sending.INTERRUPTED, "Interrupted: the worker stopped", "Прервано: воркер остановился"),
        (sending.UNCERTAIN + "Timed out", "may have delivered it", "Telegram мог доставить"),
        (sending.SKIPPED_BLOCKED, "Skipped: the user blocked the bot", "Пропущено: пользователь заблокировал"),
        (sending.GAVE_UP.format(attempts=5) + "Bad Gateway", "Gave up after 5 attempts: Bad Gateway", "Bad Gateway"),
        ("Forbidden: bot was blocked by the user", "Forbidden: bot was blocked by the user", "Forbidden: bot was"),
    ],
)
def test_what_the_worker_recorded_reads_in_the_admins_language(login, recorded, english, russian):
    superuser = StaffUserFactory(is_superuser=True)
    row = Delivery.objects.create(
        broadcast=BroadcastFactory(status=Broadcast.Status.DONE), user=UserFactory(), status="failed", error=recorded
    )
    page = reverse("admin:broadcasts_delivery_change", args=[row.pk])

    assert english in page_text(login(superuser).get(page))
    assert russian in page_text(login(superuser, language="ru").get(page))


def test_a_stopped_broadcast_says_why_on_its_page(login, marketing):
    stopped = BroadcastFactory(
        status=Broadcast.Status.CANCELLED, stop_reason=sending.REFUSED + "Bad Request: can't parse entities"
    )

    page = page_text(login(marketing, language="ru").get(change_url(stopped)))

    assert "Telegram отклонил сообщение: Bad Request: can&#x27;t parse entities" in page


def test_support_is_not_offered_a_test_of_a_draft(login):
    page = page_text(login(staff_in("Support")).get(change_url(BroadcastFactory())))

    assert 'id="send-test"' not in page and 'id="recipient-count"' in page
