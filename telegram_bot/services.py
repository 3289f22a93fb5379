"""The bot's own state: stored updates, buyer sessions and the flood limit.

Money and subscriptions are never touched here: handlers call the payments,
promos and subscriptions services for that.
"""

from __future__ import annotations

import logging
import re
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import DataError, IntegrityError, transaction
from django.db.models import F, Q
from django.utils import timezone

from core.backoff import backoff_delay
from core.db import insert_skipping_conflicts
from core.ratelimit import window_hit
from promos.models import PromoCode
from promos.services import PromoInvalid, promo_find, promo_quote
from subscriptions.selectors import tariffs_on_sale
from telegram_bot.models import BotSession, TelegramUpdate
from users.models import User

# A claimed update not finished within the lease (settings.TELEGRAM_UPDATE_LEASE_SECONDS)
# is considered abandoned (the worker died) and becomes due again.
# Received but never claimed: give the receiving worker this long first.
RECEIVED_GRACE = timedelta(seconds=30)
RETRY_MAX_SECONDS = 3600
MAX_ATTEMPTS = 8

PAYMENT_KINDS = frozenset({"pre_checkout_query", "successful_payment", "refunded_payment"})

logger = logging.getLogger(__name__)


class InvalidUpdate(ValueError):
    """The body is not a Telegram update (no integer update_id)."""


# --- Stored updates -----------------------------------------------------------


def update_kind(raw: dict[str, Any]) -> str:
    """The update's type, with payment service messages named for what they are."""
    for key, value in raw.items():
        if key == "update_id" or not isinstance(value, dict):
            continue
        if key == "message":
            for special in ("successful_payment", "refunded_payment"):
                if special in value:
                    return special
        return key[:32]
    return "unknown"


def update_user_id(raw: dict[str, Any]) -> int | None:
    for key, value in raw.items():
        if key != "update_id" and isinstance(value, dict):
            sender = value.get("from") or {}
            user_id = sender.get("id") if isinstance(sender, dict) else None
            return user_id if isinstance(user_id, int) else None
    return None


def update_id_of(raw: Any) -> int:
    if not isinstance(raw, dict):
        raise InvalidUpdate("an update is a JSON object")
    update_id = raw.get("update_id")
    if not isinstance(update_id, int) or isinstance(update_id, bool) or update_id < 0:
        raise InvalidUpdate("an update needs a non-negative integer update_id")
    if len(raw) < 2:
        raise InvalidUpdate("an update carries one object besides its update_id")
    return update_id


# What PostgreSQL cannot keep in jsonb (or text): NUL, and surrogates without their pair.
UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
REPLACEMENT = "\ufffd"


def storable(value: Any) -> tuple[Any, bool]:
    """(`value` with every unstorable character replaced by U+FFFD, in keys and
    values, whether anything was replaced)."""
    if isinstance(value, str):
        cleaned = UNSTORABLE.sub(REPLACEMENT, value)
        return cleaned, cleaned != value
    if isinstance(value, dict):
        items = [(storable(key), storable(item)) for key, item in value.items()]
        return {key: item for (key, _), (item, _) in items}, any(k or v for (_, k), (_, v) in items)
    if isinstance(value, list):
        items = [storable(item) for item in value]
        return [item for item, _ in items], any(changed for _, changed in items)
    return value, False


def processing_lease() -> timedelta:
    return timedelta(seconds=settings.TELEGRAM_UPDATE_LEASE_SECONDS)


def _claimed_now() -> dict[str, Any]:
    """Fields of a row stored already claimed by the worker storing it: that
    worker handles it next, so no separate claim is needed (the lease still
    frees it if the worker dies)."""
    return {
        "status": TelegramUpdate.Status.PROCESSING,
        "attempts": 1,
        "next_attempt_at": timezone.now() + processing_lease(),
    }


def _new_row(update_id: int, raw: dict[str, Any], *, claim: bool) -> TelegramUpdate:
    extra = _claimed_now() if claim else {}
    raw, altered = storable(raw)
    if altered:
        logger.warning("update %s holds characters PostgreSQL cannot store: replaced with U+FFFD", update_id)
    return TelegramUpdate(
        update_id=update_id,
        raw=raw,
        kind=update_kind(raw),
        telegram_user_id=update_user_id(raw),
        altered=altered,
        **extra,
    )


STORE_ERRORS = (DataError, ValueError, UnicodeError)  # what a database refuses in the content itself


def update_store(*, raw: dict[str, Any], claim: bool = False) -> tuple[TelegramUpdate, bool]:
    """Save the raw update once. A replay returns the stored row and False.
    With `claim`, a new row is stored as claimed by the caller (attempt 1).

    Characters the database cannot store are replaced (the row is flagged
    `altered`); handle the stored `row.raw`, not the original. An update that
    still cannot be stored is kept as its id alone, failed for an admin, and
    returned with False: it is not handled, and it never blocks later updates."""
    update_id = update_id_of(raw)
    existing = TelegramUpdate.objects.filter(update_id=update_id).first()
    if existing is not None:
        return existing, False
    try:
        with transaction.atomic():
            row = _new_row(update_id, raw, claim=claim)
            row.save(force_insert=True)
            return row, True
    except IntegrityError:
        # A concurrent delivery of the same update stored it first.
        return TelegramUpdate.objects.get(update_id=update_id), False
    except STORE_ERRORS as exc:
        return _store_unstorable(update_id, raw, exc), False


def _store_unstorable(update_id: int, raw: dict[str, Any], exc: Exception) -> TelegramUpdate:
    logger.error("update %s could not be stored (%s): kept as its id only, not handled", update_id, exc)
    kind = update_kind(raw)
    user_id = update_user_id(raw)
    row, _ = TelegramUpdate.objects.get_or_create(
        update_id=update_id,
        defaults={
            "raw": {"update_id": update_id, "unstorable": kind},
            "kind": kind,
            "telegram_user_id": user_id,
            "status": TelegramUpdate.Status.FAILED,
            "error": f"could not be stored: {exc}"[:4000],
            "altered": True,
            "processed_at": timezone.now(),
            "next_attempt_at": None,
        },
    )
    return row


def updates_store_batch(*, raws: list[dict[str, Any]], claim: bool = False) -> list[int]:
    """Store a getUpdates batch; the ids stored now (not before), oldest first.
    Callers handle what was stored (storable(raw)), see update_store.

    One multi-row INSERT ... ON CONFLICT DO NOTHING RETURNING update_id, no
    SELECT: the ids it returns are exactly the rows this call stored; an id
    stored before (a batch fetched again after a restart, a concurrent writer)
    is skipped and left as it was. If the database refuses a row's content, the
    batch is stored one row at a time, so that one stays alone. With `claim`,
    new rows are stored as claimed by the caller (attempt 1). Inside the
    caller's transaction it is a savepoint."""
    by_id = {update_id_of(raw): raw for raw in raws}
    fresh = [_new_row(uid, raw, claim=claim) for uid, raw in by_id.items()]
    if not fresh:
        return []
    try:
        with transaction.atomic():
            stored = insert_skipping_conflicts(fresh, returning="update_id")
    except (IntegrityError, *STORE_ERRORS):
        # One at a time: a row the database refuses stays alone.
        return [uid for uid, raw in by_id.items() if update_store(raw=raw, claim=claim)[1]]
    return sorted(stored)


def update_claim(*, update_id: int) -> bool:
    """Take the update for processing (one worker wins): a received one, or a
    failed/abandoned one whose time has come. Counts the attempt."""
    now = timezone.now()
    claimable = Q(status=TelegramUpdate.Status.RECEIVED) | Q(
        status__in=[TelegramUpdate.Status.FAILED, TelegramUpdate.Status.PROCESSING], next_attempt_at__lte=now
    )
    return bool(
        TelegramUpdate.objects.filter(claimable, update_id=update_id).update(
            status=TelegramUpdate.Status.PROCESSING,
            attempts=F("attempts") + 1,
            next_attempt_at=now + processing_lease(),
        )
    )


def update_attempts(*, update_id: int) -> int:
    return TelegramUpdate.objects.filter(update_id=update_id).values_list("attempts", flat=True).first() or 0


def update_mark_done(*, update_id: int, note: str = "") -> bool:
    return bool(
        TelegramUpdate.objects.filter(update_id=update_id, status=TelegramUpdate.Status.PROCESSING).update(
            status=TelegramUpdate.Status.DONE, processed_at=timezone.now(), next_attempt_at=None, error=note
        )
    )


def updates_mark_done(*, update_ids: list[int]) -> int:
    """Mark a batch of handled updates done in one query."""
    return TelegramUpdate.objects.filter(update_id__in=update_ids, status=TelegramUpdate.Status.PROCESSING).update(
        status=TelegramUpdate.Status.DONE, processed_at=timezone.now(), next_attempt_at=None, error=""
    )


def retry_delay(*, attempts: int, retry_after: float | None = None) -> timedelta:
    base = settings.TELEGRAM_UPDATE_RETRY_SECONDS
    return backoff_delay(attempt=attempts, base=base, cap=RETRY_MAX_SECONDS, at_least=retry_after or 0)


def update_mark_failed(*, update_id: int, error: str, retry_after: float | None = None) -> TelegramUpdate | None:
    """Record the failure; retried with exponential backoff until MAX_ATTEMPTS,
    then left for an admin (update_reprocess)."""
    row = TelegramUpdate.objects.filter(update_id=update_id).first()
    if row is None:
        return None
    now = timezone.now()
    row.status = TelegramUpdate.Status.FAILED
    row.error = error[:4000]
    row.processed_at = now
    row.next_attempt_at = (
        now + retry_delay(attempts=row.attempts, retry_after=retry_after) if row.attempts < MAX_ATTEMPTS else None
    )
    row.save(update_fields=["status", "error", "processed_at", "next_attempt_at"])
    return row


def updates_due(*, limit: int = 50) -> list[tuple[int, dict[str, Any]]]:
    """Stored updates that need (another) run, oldest first."""
    now = timezone.now()
    due = Q(status=TelegramUpdate.Status.RECEIVED, received_at__lte=now - RECEIVED_GRACE) | Q(
        status__in=[TelegramUpdate.Status.FAILED, TelegramUpdate.Status.PROCESSING], next_attempt_at__lte=now
    )
    rows = TelegramUpdate.objects.filter(due).order_by("update_id").values_list("update_id", "raw")[:limit]
    return list(rows)


PURGE_BATCH = 5000


def updates_purge(*, older_than: timedelta | None = None) -> int:
    """Delete handled updates older than TELEGRAM_UPDATES_RETENTION_DAYS, in batches
    (failed and unfinished ones are kept for admins)."""
    cutoff = timezone.now() - (older_than or timedelta(days=settings.TELEGRAM_UPDATES_RETENTION_DAYS))
    deleted = 0
    while True:
        ids = list(
            TelegramUpdate.objects.filter(status=TelegramUpdate.Status.DONE, received_at__lt=cutoff).values_list(
                "pk", flat=True
            )[:PURGE_BATCH]
        )
        if not ids:
            return deleted
        deleted += TelegramUpdate.objects.filter(pk__in=ids).delete()[0]


def update_reprocess(*, update_id: int) -> TelegramUpdate:
    """An admin's re-run: the update becomes due now, whatever happened before.
    Handlers call idempotent services, so re-running a done update is safe."""
    row = TelegramUpdate.objects.get(update_id=update_id)
    TelegramUpdate.objects.filter(pk=row.pk).update(status=TelegramUpdate.Status.FAILED, next_attempt_at=timezone.now())
    row.refresh_from_db()
    return row


# --- Flood limit ----------------------------------------------------------------


class RateDecision:
    ALLOW = "allow"
    WARN = "warn"  # the first update over the limit: tell the user once
    DROP = "drop"


def rate_limit_check(*, telegram_id: int, kind: str) -> str:
    """Fixed-window counter per user in the cache. Payment updates are never limited."""
    if kind in PAYMENT_KINDS:
        return RateDecision.ALLOW
    hit = window_hit(
        key=f"tgbot:{telegram_id}", limit=int(settings.BOT_RATE_LIMIT_UPDATES), seconds=settings.BOT_RATE_LIMIT_SECONDS
    )
    if hit.allowed:
        return RateDecision.ALLOW
    return RateDecision.WARN if hit.count == hit.limit + 1 else RateDecision.DROP


# --- Buyer sessions -------------------------------------------------------------


def session_for(*, user: User) -> BotSession:
    session, _ = BotSession.objects.get_or_create(user=user)
    return session


def session_update(*, user: User, **fields: str) -> BotSession:
    session = session_for(user=user)
    for name, value in fields.items():
        setattr(session, name, value)
    session.save(update_fields=[*fields, "updated_at"])
    return session


def session_await_promo(*, user: User, tariff_code: str = "") -> BotSession:
    return session_update(user=user, awaiting=BotSession.Awaiting.PROMO, tariff_code=tariff_code)


def session_clear_promo(*, user: User) -> BotSession:
    return session_update(user=user, promo_code="", awaiting=BotSession.Awaiting.NOTHING)


def promo_apply(*, user: User, code: str, tariff_code: str = "") -> PromoCode:
    """Remember a promo code for the buyer once the promos service accepts it:
    for the tariff they are looking at, else for at least one tariff on sale.
    Returns the promo (so the bot can say what it gives); raises PromoInvalid
    with the service's reason otherwise."""
    tariffs = [t for t in tariffs_on_sale() if not tariff_code or t.code == tariff_code] or tariffs_on_sale()
    first_error: PromoInvalid | None = None
    for tariff in tariffs:
        try:
            quote = promo_quote(tariff=tariff, user=user, code=code)
        except PromoInvalid as exc:
            first_error = first_error or exc
            continue
        if quote.promo is None:  # a blank code: nothing to remember
            raise PromoInvalid("unknown", promo_code=code.strip()[:64])
        session_update(user=user, promo_code=quote.promo.code, awaiting=BotSession.Awaiting.NOTHING)
        return quote.promo
    if first_error is None:  # no tariff on sale at all: say what the code itself is worth
        if promo_find(code=code) is None:
            raise PromoInvalid("unknown", promo_code=code.strip()[:64])
        raise PromoInvalid("wrong_tariff", promo_code=code.strip()[:64])
    raise first_error
