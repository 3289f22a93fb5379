"""Telegram's webhook: authenticate, store, then handle with the bot's handlers."""

from __future__ import annotations

import hmac
import json
import logging

from django.conf import settings
from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST
from telegram import Update

from telegram_bot.services import InvalidUpdate, update_id_of, update_store
from telegram_bot.webhook import background_bot

logger = logging.getLogger(__name__)

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"


def _secret_ok(request: HttpRequest) -> bool:
    expected = settings.TELEGRAM_WEBHOOK_SECRET
    if not expected:  # no secret configured: the webhook is off
        return False
    given = request.headers.get(SECRET_HEADER, "")
    return hmac.compare_digest(given.encode(), expected.encode())


def _parse(body: bytes) -> dict:
    raw = json.loads(body)
    update_id_of(raw)
    Update.de_json(raw, None)  # the library must understand it before we keep it
    return raw


@csrf_exempt
@require_POST
def telegram_webhook(request: HttpRequest) -> JsonResponse:
    if not _secret_ok(request):
        return JsonResponse({"ok": False, "error": "forbidden"}, status=403)
    try:
        raw = _parse(request.body)
    except (ValueError, InvalidUpdate, TypeError, KeyError, AttributeError):
        return JsonResponse({"ok": False, "error": "not a Telegram update"}, status=400)
    row, created = update_store(raw=raw, claim=True)
    if not created:
        return JsonResponse({"ok": True, "duplicate": True})
    try:
        outcome = background_bot.process_stored(row.raw, claimed=True)  # as stored (see update_store)
    except Exception:  # noqa: BLE001 - stored: the retry loop finishes it; Telegram must not resend
        logger.exception("webhook update %s was stored but not processed", raw["update_id"])
        outcome = "deferred"
    return JsonResponse({"ok": True, "outcome": outcome})
