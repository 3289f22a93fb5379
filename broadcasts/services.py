"""The admin's writes to broadcasts: drafts, the test message, start, cancel, copy.

Starting a broadcast only marks it `sending` and hands it to the worker (after the commit): the
worker fixes the recipients and sends (broadcasts/sending.py). Nothing here talks to Telegram.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from broadcasts.images import inspect_image
from broadcasts.models import Broadcast, BroadcastImage, Delivery
from broadcasts.selectors import recipient_count
from broadcasts.telegram_html import CAPTION_MAX, MESSAGE_MAX, TelegramHtmlError, check_telegram_html
from core.audit import staff_action_record
from core.background import enqueue_on_commit
from core.errors import ApplicationError
from core.models import StaffAction
from integrations.telegram import telegram_configured
from users.models import User

RUN_BROADCAST = "broadcasts.run_broadcast"
SEND_TEST = "broadcasts.send_test"

# The fields a copy takes over (what is written and whom it is for).
CONTENT_FIELDS = ("text", "button", "button_text", "button_url", "segment", "expiring_days", "language")


class BroadcastError(ApplicationError):
    code = "broadcast_error"


@dataclass(frozen=True)
class ImageUpload:
    data: bytes
    name: str


def broadcast_problem(broadcast: Broadcast) -> str | None:
    """Why this broadcast cannot be sent as it is (the first reason), or None."""
    has_image = bool(broadcast.image_name)
    try:
        visible = check_telegram_html(broadcast.text, limit=CAPTION_MAX if has_image else MESSAGE_MAX)
    except TelegramHtmlError as exc:
        return exc.message
    if not visible and not has_image:
        return _("The message is empty: write some text or add a picture.")
    if broadcast.button == Broadcast.ButtonKind.URL and not (
        broadcast.button_text.strip() and broadcast.button_url.startswith("https://")
    ):
        return _("A link button needs a label and an https:// link.")
    if broadcast.segment == Broadcast.Segment.EXPIRING and not broadcast.expiring_days:
        return _("Say within how many days the subscriptions end.")
    return None


def broadcast_save_draft(
    *, broadcast: Broadcast, by: User | None = None, image: ImageUpload | None = None, remove_image: bool = False
) -> Broadcast:
    """Create or change a draft (its picture too). A broadcast started meanwhile is not changed."""
    info = inspect_image(image.data) if image is not None else None
    with transaction.atomic():
        if broadcast.pk is None:
            broadcast.created_by = by
            broadcast.save()
        else:
            status = Broadcast.objects.select_for_update().values_list("status", flat=True).get(pk=broadcast.pk)
            if status != Broadcast.Status.DRAFT:
                raise BroadcastError(_("This broadcast has been started: it can no longer be changed."))
            broadcast.save()
        if image is not None:
            BroadcastImage.objects.update_or_create(broadcast=broadcast, defaults={"data": image.data})
            Broadcast.objects.filter(pk=broadcast.pk).update(
                image_name=image.name[:100], image_type=info.content_type, image_size=len(image.data), photo_file_id=""
            )
        elif remove_image:
            BroadcastImage.objects.filter(broadcast=broadcast).delete()
            Broadcast.objects.filter(pk=broadcast.pk).update(
                image_name="", image_type="", image_size=0, photo_file_id=""
            )
    broadcast.refresh_from_db()
    return broadcast


def _lock_draft(broadcast_id: int) -> Broadcast:
    broadcast = Broadcast.objects.select_for_update().get(pk=broadcast_id)
    if broadcast.status != Broadcast.Status.DRAFT:
        raise BroadcastError(_("This broadcast has already been started."))
    return broadcast


def _check_can_send(broadcast: Broadcast) -> None:
    if not telegram_configured():
        raise BroadcastError(_("Telegram is not configured (TELEGRAM_BOT_TOKEN): the shop cannot send messages."))
    problem = broadcast_problem(broadcast)
    if problem:
        raise BroadcastError(problem)


def broadcast_request_test(*, broadcast_id: int, user: User) -> Broadcast:
    """Send the draft to `user` in Telegram, as a buyer would get it (by the worker, after the commit)."""
    if not user.telegram_id:
        raise BroadcastError(
            _(
                "Your account has no Telegram id, so the bot cannot send you a test. Ask a superuser to enter "
                "your Telegram id on your user page, then open the bot and press Start."
            ),
            code="no_telegram_id",
        )
    now = timezone.now()
    with transaction.atomic():
        broadcast = _lock_draft(broadcast_id)
        _check_can_send(broadcast)
        Broadcast.objects.filter(pk=broadcast_id).update(
            test_user=user, test_requested_at=now, test_sent_at=None, test_error=""
        )
        enqueue_on_commit(SEND_TEST, broadcast_id)
    broadcast.refresh_from_db()
    return broadcast


def broadcast_start(*, broadcast_id: int, by: User | None) -> Broadcast:
    """Send the draft to its segment: the worker fixes the recipients (one Delivery row each) and sends."""
    now = timezone.now()
    with transaction.atomic():
        broadcast = _lock_draft(broadcast_id)
        _check_can_send(broadcast)
        recipients = recipient_count(broadcast)
        if not recipients:
            raise BroadcastError(_("Nobody is in this segment now: there is no one to send it to."))
        Broadcast.objects.filter(pk=broadcast_id, status=Broadcast.Status.DRAFT).update(
            status=Broadcast.Status.SENDING, started_by=by, started_at=now, handed_over_at=now
        )
        staff_action_record(
            action=StaffAction.Action.BROADCAST_SEND,
            actor=by,
            target=broadcast,
            before={"status": broadcast.status},
            after={"status": Broadcast.Status.SENDING, "recipients": recipients},
        )
        enqueue_on_commit(RUN_BROADCAST, broadcast_id)
    broadcast.refresh_from_db()
    return broadcast


def broadcast_cancel(*, broadcast_id: int, by: User | None, reason: str = "") -> int:
    """Stop sending: the messages not handed to Telegram yet are not sent (the batch in flight, a
    second's worth at most, still is). Returns how many recipients will not get it."""
    now = timezone.now()
    with transaction.atomic():
        stopped = Broadcast.objects.filter(pk=broadcast_id, status=Broadcast.Status.SENDING).update(
            status=Broadcast.Status.CANCELLED, cancelled_by=by, cancelled_at=now, stop_reason=reason[:500]
        )
        if not stopped:
            raise BroadcastError(_("Only a broadcast that is being sent can be cancelled."))
        # A row the worker claims at this moment is either claimed first (and sent) or cancelled
        # here: both are conditional UPDATEs of the same row, so it ends in exactly one of them.
        not_sent = Delivery.objects.filter(broadcast_id=broadcast_id, status=Delivery.Status.PENDING).update(
            status=Delivery.Status.CANCELLED, done_at=now
        )
        staff_action_record(
            action=StaffAction.Action.BROADCAST_CANCEL,
            actor=by,
            target=Broadcast.objects.get(pk=broadcast_id),
            before={"status": Broadcast.Status.SENDING},
            after={"status": Broadcast.Status.CANCELLED, "not_sent": not_sent},
            note=reason,
        )
        return not_sent


def broadcast_copy(*, broadcast: Broadcast, by: User | None) -> Broadcast:
    """A new draft with the same message, picture and recipients (a sent broadcast cannot be edited)."""
    with transaction.atomic():
        copy = Broadcast(
            name=(_("Copy of %(name)s") % {"name": broadcast.name})[:100],
            created_by=by,
            **{field: getattr(broadcast, field) for field in CONTENT_FIELDS},
        )
        copy.save()
        image = BroadcastImage.objects.filter(broadcast=broadcast).values_list("data", flat=True).first()
        if image is not None:
            BroadcastImage.objects.create(broadcast=copy, data=image)
            Broadcast.objects.filter(pk=copy.pk).update(
                image_name=broadcast.image_name,
                image_type=broadcast.image_type,
                image_size=broadcast.image_size,
                photo_file_id=broadcast.photo_file_id,
            )
    copy.refresh_from_db()
    return copy
