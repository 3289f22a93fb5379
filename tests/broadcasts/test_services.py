"""The admin's writes: drafts, the test message, start, cancel, copy; and what they refuse."""

from __future__ import annotations

import pytest
from django.utils import translation

from broadcasts import sending
from broadcasts.images import ImageRefused
from broadcasts.models import Broadcast, BroadcastImage, Delivery
from broadcasts.services import (
    BroadcastError,
    ImageUpload,
    broadcast_cancel,
    broadcast_copy,
    broadcast_problem,
    broadcast_request_test,
    broadcast_save_draft,
    broadcast_start,
)
from tests.broadcasts.conftest import png_of_size, png_picture
from tests.broadcasts.factories import BroadcastFactory
from tests.users.factories import StaffUserFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def english():
    with translation.override("en"):
        yield


def test_starting_marks_it_sending_and_hands_it_to_the_worker(fake_telegram, django_capture_on_commit_callbacks):
    UserFactory()
    admin = StaffUserFactory()
    draft = BroadcastFactory()

    with django_capture_on_commit_callbacks() as hand_overs:
        broadcast = broadcast_start(broadcast_id=draft.pk, by=admin)

    assert (broadcast.status, broadcast.started_by, broadcast.total) == (Broadcast.Status.SENDING, admin, 0)
    assert broadcast.started_at is not None and len(hand_overs) == 1
    assert not Delivery.objects.exists()  # the worker fixes the recipients


def test_a_broadcast_starts_once(fake_telegram):
    UserFactory()
    draft = BroadcastFactory()
    broadcast_start(broadcast_id=draft.pk, by=None)

    with pytest.raises(BroadcastError, match="already been started"):
        broadcast_start(broadcast_id=draft.pk, by=None)


def test_nobody_in_the_segment_is_refused(fake_telegram):
    draft = BroadcastFactory(segment=Broadcast.Segment.ACTIVE)

    with pytest.raises(BroadcastError, match="Nobody is in this segment"):
        broadcast_start(broadcast_id=draft.pk, by=None)


def test_without_telegram_nothing_can_be_sent(settings):
    settings.TELEGRAM_BOT_TOKEN = ""
    UserFactory()
    draft = BroadcastFactory()

    with pytest.raises(BroadcastError, match="not configured"):
        broadcast_start(broadcast_id=draft.pk, by=None)
    assert Broadcast.objects.get(pk=draft.pk).status == Broadcast.Status.DRAFT


@pytest.mark.parametrize(
    ("fields", "says"),
    [
        ({"text": "Tom & Jerry"}, "does not start an entity"),
        ({"text": "  "}, "message is empty"),
        ({"button": "url", "button_text": "", "button_url": "https://x.example"}, "needs a label"),
        ({"segment": "expiring", "expiring_days": None}, "within how many days"),
    ],
)
def test_a_draft_that_telegram_would_refuse_is_not_started(fake_telegram, fields, says):
    UserFactory()
    draft = BroadcastFactory(**fields)

    assert says in broadcast_problem(draft)
    with pytest.raises(BroadcastError, match=says):
        broadcast_start(broadcast_id=draft.pk, by=None)


def test_a_picture_makes_the_text_a_caption_of_at_most_1024_characters():
    draft = BroadcastFactory(text="x" * 1500)
    assert broadcast_problem(draft) is None

    draft = broadcast_save_draft(broadcast=draft, image=ImageUpload(data=png_picture(), name="a.png"))

    assert "1024" in broadcast_problem(draft)


def test_a_picture_alone_needs_no_text():
    draft = broadcast_save_draft(
        broadcast=BroadcastFactory(text=""), image=ImageUpload(data=png_picture(), name="a.png")
    )

    assert broadcast_problem(draft) is None


def test_saving_a_draft_keeps_its_picture_and_forgets_the_old_file_id():
    draft = BroadcastFactory(photo_file_id="old-id")
    picture = png_picture()

    saved = broadcast_save_draft(broadcast=draft, image=ImageUpload(data=picture, name="offer.png"))

    assert (saved.image_name, saved.image_type, saved.image_size, saved.photo_file_id) == (
        "offer.png",
        "image/png",
        len(picture),
        "",
    )
    assert bytes(BroadcastImage.objects.get(broadcast=saved).data) == picture
    removed = broadcast_save_draft(broadcast=saved, remove_image=True)
    assert (removed.image_name, BroadcastImage.objects.filter(broadcast=saved).exists()) == ("", False)


def test_a_picture_telegram_would_not_show_is_refused():
    with pytest.raises(ImageRefused, match="width \\+ height"):
        broadcast_save_draft(broadcast=BroadcastFactory(), image=ImageUpload(data=png_of_size(9000, 5000), name="x"))


def test_a_page_opened_before_the_start_cannot_change_it(fake_telegram):
    UserFactory()
    draft = BroadcastFactory(text="first")
    stale_copy = Broadcast.objects.get(pk=draft.pk)  # an admin's form, opened earlier
    broadcast_start(broadcast_id=draft.pk, by=None)
    stale_copy.text = "changed"

    with pytest.raises(BroadcastError, match="can no longer be changed"):
        broadcast_save_draft(broadcast=stale_copy)

    assert Broadcast.objects.get(pk=draft.pk).text == "first"


def test_an_admin_form_never_writes_back_the_status(fake_telegram):
    UserFactory()
    draft = BroadcastFactory()
    stale_copy = Broadcast.objects.get(pk=draft.pk)
    broadcast_start(broadcast_id=draft.pk, by=None)

    stale_copy.save()  # the status it holds (draft) is the service's to write, not save()'s

    assert Broadcast.objects.get(pk=draft.pk).status == Broadcast.Status.SENDING


def test_a_test_goes_to_the_admin_and_its_result_is_recorded(fake_telegram):
    admin = StaffUserFactory(telegram_id=555_001, language_code="ru")
    draft = BroadcastFactory(text="<b>Hello</b>", button=Broadcast.ButtonKind.BUY)

    broadcast_request_test(broadcast_id=draft.pk, user=admin)
    sent = sending.send_test(broadcast_id=draft.pk)

    assert sent
    (message,) = fake_telegram.sent_messages(555_001)
    assert message["text"] == "<b>Hello</b>"
    assert message["reply_markup"]["inline_keyboard"][0][0]["text"] == "🛒 Купить"
    draft.refresh_from_db()
    assert draft.test_sent_at is not None and draft.test_error == "" and draft.status == Broadcast.Status.DRAFT


def test_an_admin_without_a_telegram_id_is_told_what_to_do(fake_telegram):
    admin = StaffUserFactory(telegram_id=None)
    draft = BroadcastFactory()

    with pytest.raises(BroadcastError, match="no Telegram id") as refused:
        broadcast_request_test(broadcast_id=draft.pk, user=admin)

    assert "press Start" in refused.value.message
    assert Broadcast.objects.get(pk=draft.pk).test_requested_at is None


def test_a_test_to_an_admin_who_never_started_the_bot_records_telegrams_answer(fake_telegram):
    admin = StaffUserFactory(telegram_id=555_002)
    fake_telegram.block(555_002, "Forbidden: bot can't initiate conversation with a user")
    draft = BroadcastFactory()
    broadcast_request_test(broadcast_id=draft.pk, user=admin)

    assert not sending.send_test(broadcast_id=draft.pk)

    draft.refresh_from_db()
    assert "can't initiate conversation" in draft.test_error and draft.test_sent_at is None


def test_a_test_with_a_picture_does_not_keep_the_file_id_of_a_draft(fake_telegram):
    admin = StaffUserFactory(telegram_id=555_003)
    draft = broadcast_save_draft(broadcast=BroadcastFactory(), image=ImageUpload(data=png_picture(), name="p.png"))
    broadcast_request_test(broadcast_id=draft.pk, user=admin)

    sending.send_test(broadcast_id=draft.pk)

    assert len(fake_telegram.sent_photos(555_003)) == 1
    assert Broadcast.objects.get(pk=draft.pk).photo_file_id == ""  # the picture may still change


def test_only_a_broadcast_being_sent_can_be_cancelled(fake_telegram):
    draft = BroadcastFactory()

    with pytest.raises(BroadcastError, match="being sent"):
        broadcast_cancel(broadcast_id=draft.pk, by=None)


def test_a_copy_is_a_new_draft_with_the_same_message_picture_and_recipients(fake_telegram):
    UserFactory(language_code="en")
    original = broadcast_save_draft(
        broadcast=BroadcastFactory(
            text="<i>again</i>", segment=Broadcast.Segment.NEVER_PAID, language="en", button="renew"
        ),
        image=ImageUpload(data=png_picture(), name="p.png"),
    )
    broadcast_start(broadcast_id=original.pk, by=None)

    copy = broadcast_copy(broadcast=Broadcast.objects.get(pk=original.pk), by=None)

    assert copy.pk != original.pk and copy.status == Broadcast.Status.DRAFT
    assert copy.name == f"Copy of {original.name}"
    assert (copy.text, copy.segment, copy.language, copy.button) == ("<i>again</i>", "never_paid", "en", "renew")
    assert bytes(BroadcastImage.objects.get(broadcast=copy).data) == png_picture()
