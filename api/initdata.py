"""Telegram Mini App init data, verified as Telegram documents it: the hash is
HMAC-SHA256 over the sorted `k=v` lines, keyed with HMAC-SHA256("WebAppData", bot token)."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from dataclasses import dataclass
from urllib.parse import parse_qsl

# A Mini App's clock may run a little ahead of ours.
FUTURE_SKEW_SECONDS = 60
MAX_INIT_DATA_LENGTH = 8192


class InvalidInitData(Exception):
    """Init data that does not prove who the caller is (the reason is for logs)."""


@dataclass(frozen=True)
class TelegramInitData:
    telegram_id: int
    username: str
    first_name: str
    last_name: str
    language_code: str
    auth_date: int


def init_data_hash(*, fields: dict[str, str], bot_token: str) -> str:
    check_string = "\n".join(f"{key}={fields[key]}" for key in sorted(fields) if key != "hash")
    secret = hmac.new(b"WebAppData", bot_token.encode(), hashlib.sha256).digest()
    return hmac.new(secret, check_string.encode(), hashlib.sha256).hexdigest()


def init_data_verify(
    *, init_data: str, bot_token: str, max_age_seconds: int, now: float | None = None
) -> TelegramInitData:
    if not bot_token:
        raise InvalidInitData("no bot token configured")
    if not init_data or len(init_data) > MAX_INIT_DATA_LENGTH:
        raise InvalidInitData("missing or oversized init data")
    try:
        pairs = parse_qsl(init_data, keep_blank_values=True, strict_parsing=True)
    except ValueError:
        raise InvalidInitData("not a query string")
    fields = dict(pairs)
    if len(fields) != len(pairs):
        raise InvalidInitData("repeated field")
    received = fields.get("hash", "")
    if not hmac.compare_digest(received.encode(), init_data_hash(fields=fields, bot_token=bot_token).encode()):
        raise InvalidInitData("bad hash")
    try:
        auth_date = int(fields.get("auth_date", ""))
        user = json.loads(fields.get("user", ""))
        telegram_id = int(user["id"])
    except (ValueError, TypeError, KeyError):
        raise InvalidInitData("missing auth_date or user")
    now = time.time() if now is None else now
    if auth_date < now - max_age_seconds or auth_date > now + FUTURE_SKEW_SECONDS:
        raise InvalidInitData("stale auth_date")
    if not 0 < telegram_id < 2**63:
        raise InvalidInitData("bad user id")
    return TelegramInitData(
        telegram_id=telegram_id,
        username=str(user.get("username") or ""),
        first_name=str(user.get("first_name") or ""),
        last_name=str(user.get("last_name") or ""),
        language_code=str(user.get("language_code") or ""),
        auth_date=auth_date,
    )
