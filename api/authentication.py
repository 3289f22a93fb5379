"""Who is calling: a Mini App (`Authorization: tma <initData>`), a trusted backend
(`Authorization: Api-Key <key>` + `X-Telegram-User-Id`) or a staff session.

Nothing is written for a request that fails authentication. Failed attempts
are counted per client address (core.clientip); past API_THROTTLE_AUTH_FAILURES
an address gets 429 before its credentials are even looked at, so keys and
init data cannot be guessed at the speed of the server.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from django.conf import settings
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions

from api.initdata import InvalidInitData, TelegramInitData, init_data_verify
from api.keys import api_key_check
from api.models import ApiKey
from core.clientip import client_address
from core.ratelimit import parse_rate, window_hit, window_peek
from users import services as users_services
from users.services import user_get_or_create_from_telegram
from users.two_factor import staff_session_complete

logger = logging.getLogger(__name__)

TELEGRAM_USER_HEADER = "X-Telegram-User-Id"
MAX_TELEGRAM_ID = 2**63 - 1


AUTH_FAILURES_SCOPE = "auth_failures"


def _failure_window(request) -> tuple[str, int, int] | None:
    rate = settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"].get(AUTH_FAILURES_SCOPE)
    if not rate:
        return None
    limit, seconds = parse_rate(rate)
    return f"throttle:{AUTH_FAILURES_SCOPE}:{client_address(request)}", limit, seconds


def refuse_after_too_many_failures(request) -> None:
    """429 for an address that failed authentication too often in this window."""
    window = _failure_window(request)
    if window is None:
        return
    key, limit, seconds = window
    seen = window_peek(key=key, limit=limit, seconds=seconds)
    if seen.count >= limit:
        raise exceptions.Throttled(
            wait=seen.retry_in, detail="Too many failed authentication attempts from this address; retry later."
        )


def authentication_failed(request, message: str) -> exceptions.AuthenticationFailed:
    """Count the failure against the client address; the caller raises what this returns."""
    window = _failure_window(request)
    if window is not None:
        key, limit, seconds = window
        window_hit(key=key, limit=limit, seconds=seconds)
    return exceptions.AuthenticationFailed(message)


class AccountDeactivated(exceptions.PermissionDenied):
    """Genuine credentials of a user deactivated in the admin (is_active off). An
    APIException, so DRF leaves the request anonymous when authentication raises it."""

    default_code = "account_deactivated"

    def __init__(self):
        super().__init__(detail=str(users_services.AccountDeactivated().message))


def refuse_deactivated(user) -> None:
    """403 account_deactivated for a user deactivated in the admin. Their credentials are
    genuine (Telegram signed them, or a valid key acts for them), so it is not counted as
    a failed attempt."""
    if not user.is_active:
        raise AccountDeactivated()


def _authorization(request, scheme: str) -> str | None:
    """The credentials after `scheme` in the Authorization header, or None for another scheme."""
    header = request.META.get("HTTP_AUTHORIZATION", "")
    found, _space, credentials = header.partition(" ")
    if found.lower() != scheme.lower():
        return None
    return credentials.strip()


class TelegramMiniAppAuthentication(authentication.BaseAuthentication):
    keyword = "tma"

    def authenticate(self, request):
        init_data = _authorization(request, self.keyword)
        if init_data is None:
            return None
        refuse_after_too_many_failures(request)
        try:
            verified = init_data_verify(
                init_data=init_data,
                bot_token=settings.TELEGRAM_BOT_TOKEN,
                max_age_seconds=settings.TMA_AUTH_MAX_AGE_SECONDS,
            )
        except InvalidInitData as exc:
            logger.info("rejected Mini App init data from %s: %s", client_address(request), exc)
            raise authentication_failed(request, "Invalid or expired Telegram init data.")
        user = user_get_or_create_from_telegram(
            telegram_id=verified.telegram_id,
            username=verified.username,
            first_name=verified.first_name,
            last_name=verified.last_name,
            language_code=verified.language_code,
        )
        refuse_deactivated(user)
        return user, verified

    def authenticate_header(self, request) -> str:
        return self.keyword


@dataclass(frozen=True)
class ApiKeyCredentials:
    api_key: ApiKey
    telegram_id: int


class ApiKeyAuthentication(authentication.BaseAuthentication):
    keyword = "Api-Key"

    def authenticate(self, request):
        raw_key = _authorization(request, self.keyword)
        if raw_key is None:
            return None
        refuse_after_too_many_failures(request)
        telegram_id = self._telegram_id(request)
        api_key = api_key_check(raw_key=raw_key)
        if api_key is None:
            logger.info("rejected API key from %s", client_address(request))
            raise authentication_failed(request, "Invalid or revoked API key.")
        user = user_get_or_create_from_telegram(telegram_id=telegram_id)
        refuse_deactivated(user)
        return user, ApiKeyCredentials(api_key=api_key, telegram_id=telegram_id)

    @staticmethod
    def _telegram_id(request) -> int:
        value = request.headers.get(TELEGRAM_USER_HEADER, "").strip()
        if not value.isascii() or not value.isdigit() or not 0 < int(value) <= MAX_TELEGRAM_ID:
            raise authentication_failed(
                request, f"An API key acts for a Telegram user: send a positive integer {TELEGRAM_USER_HEADER} header."
            )
        return int(value)

    def authenticate_header(self, request) -> str:
        return self.keyword


class StaffSessionAuthentication(authentication.SessionAuthentication):
    """The browsable API for staff (CSRF enforced, as for any session)."""

    def authenticate(self, request):
        result = super().authenticate(request)
        if result is None or not result[0].is_staff or not staff_session_complete(result[0]):
            return None
        return result


def principal_of(request) -> str:
    """Whose idempotency keys and throttle bucket a request uses."""
    if isinstance(request.auth, ApiKeyCredentials):
        return f"api_key:{request.auth.api_key.pk}"
    return f"user:{request.user.pk}"


def is_init_data(auth) -> bool:
    return isinstance(auth, TelegramInitData)


class TelegramMiniAppScheme(OpenApiAuthenticationExtension):
    target_class = TelegramMiniAppAuthentication
    name = "tma"

    def get_security_definition(self, auto_schema):
        return {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": "Telegram Mini App init data: `Authorization: tma <initData>`.",
        }


class ApiKeyScheme(OpenApiAuthenticationExtension):
    target_class = ApiKeyAuthentication
    name = ["apiKey", "telegramUser"]

    def get_security_definition(self, auto_schema):
        return [
            {
                "type": "apiKey",
                "in": "header",
                "name": "Authorization",
                "description": "A trusted backend's key: `Authorization: Api-Key <key>`.",
            },
            {
                "type": "apiKey",
                "in": "header",
                "name": TELEGRAM_USER_HEADER,
                "description": "The Telegram user id the API key acts for (created if new).",
            },
        ]


class StaffSessionScheme(OpenApiAuthenticationExtension):
    target_class = StaffSessionAuthentication
    name = "staffSession"

    def get_security_definition(self, auto_schema):
        return {"type": "apiKey", "in": "cookie", "name": "sessionid", "description": "Staff session (browsable API)."}
