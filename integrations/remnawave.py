"""A small typed client for the Remnawave panel API (generations 2.x and 3.x).

Only what the shop needs: find a user (by username, by Telegram id), create,
update expiry/status, enable/disable, delete, read the subscription URL.
Retries (with backoff) happen on connection errors and 5xx only; a 4xx is
raised at once as PanelRejected carrying the panel's status, errorCode and
message. Only a 404 means "not found": a 400 never does (3.x answers 400 for a
malformed id, and treating that as "absent" would create duplicates).
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx

from core.backoff import backoff_seconds
from core.metrics import PANEL_CALL_ERRORS

logger = logging.getLogger(__name__)

API_V2 = "2"
API_V3 = "3"

STATUS_ACTIVE = "ACTIVE"
STATUS_DISABLED = "DISABLED"
MAX_RETRY_DELAY = 10.0  # seconds; longer outages are the outbox's to wait out


class PanelError(Exception):
    """Any failure talking to the panel."""

    def __init__(self, message: str, *, status: int | None = None, error_code: str = "", body: Any = None) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.error_code = error_code
        self.body = body

    def __str__(self) -> str:
        parts = [f"HTTP {self.status}" if self.status else "", self.error_code, self.message]
        return " ".join(part for part in parts if part)


class PanelUnavailable(PanelError):
    """Connection error, timeout or 5xx after the client's own retries: worth retrying later."""


class PanelRejected(PanelError):
    """A 4xx answer: the request itself was refused (validation, auth, conflict)."""


class PanelNotFound(PanelRejected):
    """A 404: the panel has no such user."""


class PanelProtocolError(PanelError):
    """A 2xx answer the client cannot read (not JSON, no `response`)."""


@dataclass(frozen=True)
class PanelUser:
    """A panel user as the shop sees it; `uuid` (2.x) or `id` (3.x) identifies it."""

    username: str
    status: str
    expire_at: datetime | None
    api_version: str
    uuid: str = ""
    id: int | None = None
    short_uuid: str = ""
    subscription_url: str = ""
    telegram_id: int | None = None

    @property
    def ref(self) -> str:
        """The path identifier for /api/users/{ref}/...: uuid on 2.x, numeric id on 3.x."""
        return self.uuid if self.api_version == API_V2 else str(self.id)

    @classmethod
    def from_panel(cls, data: dict[str, Any], *, api_version: str) -> PanelUser:
        if not isinstance(data, dict) or not data.get("username"):
            raise PanelProtocolError("the panel answered a user without a username", body=data)
        raw_id = data.get("id")
        telegram_id = data.get("telegramId")
        return cls(
            username=str(data["username"]),
            status=str(data.get("status") or ""),
            expire_at=parse_panel_datetime(data.get("expireAt")),
            api_version=api_version,
            uuid=str(data.get("uuid") or ""),
            id=int(raw_id) if isinstance(raw_id, int | str) and str(raw_id).isdigit() else None,
            short_uuid=str(data.get("shortUuid") or ""),
            subscription_url=str(data.get("subscriptionUrl") or ""),
            telegram_id=int(telegram_id) if telegram_id not in (None, "") else None,
        )


def format_panel_datetime(value: datetime) -> str:
    """UTC, ISO 8601 with milliseconds and a Z, as the panel writes it."""
    return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse_panel_datetime(value: Any) -> datetime | None:
    if not value or not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


class RemnawaveClient:
    def __init__(
        self,
        *,
        base_url: str,
        token: str,
        api_version: str = "auto",
        extra_headers: dict[str, str] | None = None,
        forwarded: bool = False,
        timeout: float = 10.0,
        max_retries: int = 2,
        retry_backoff: float = 0.5,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        if api_version not in ("auto", API_V2, API_V3):
            raise ValueError("REMNAWAVE_API_VERSION must be auto, 2 or 3")
        headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
        if forwarded:
            headers.update({"X-Forwarded-For": "127.0.0.1", "X-Forwarded-Proto": "https"})
        headers.update({str(key): str(value) for key, value in (extra_headers or {}).items()})
        self._http = httpx.Client(base_url=base_url.rstrip("/"), headers=headers, timeout=timeout, transport=transport)
        self._configured_version = api_version
        self._detected_version: str | None = None
        self._version_lock = threading.Lock()
        self.max_retries = max_retries
        self.retry_backoff = retry_backoff

    def close(self) -> None:
        self._http.close()

    # --- version ------------------------------------------------------------
    @property
    def api_version(self) -> str:
        """ "2" or "3": from the setting, or probed once (3.x has /api/users/stream, 2.x does not)."""
        if self._configured_version != "auto":
            return self._configured_version
        with self._version_lock:
            if self._detected_version is None:
                self._detected_version = self._probe_version()
                logger.info("Remnawave panel API generation detected: %s.x", self._detected_version)
            return self._detected_version

    def _probe_version(self) -> str:
        try:
            self._request("GET", "/api/users/stream", params={"telegramId": 0, "size": 1})
        except PanelNotFound:
            return API_V2
        except PanelRejected as exc:
            if exc.status in (401, 403):
                raise
            # 2.x reads "stream" as a user uuid and answers a validation error.
            return API_V2
        return API_V3

    # --- users ---------------------------------------------------------------
    def find_by_username(self, username: str) -> PanelUser | None:
        try:
            data = self._request("GET", f"/api/users/by-username/{username}")
        except PanelNotFound:
            return None
        return PanelUser.from_panel(data, api_version=self.api_version)

    def find_by_telegram_id(self, telegram_id: int) -> list[PanelUser]:
        version = self.api_version
        if version == API_V2:
            try:
                data = self._request("GET", f"/api/users/by-telegram-id/{int(telegram_id)}")
            except PanelNotFound:
                return []
            items = data if isinstance(data, list) else []
        else:
            data = self._request("GET", "/api/users/stream", params={"telegramId": int(telegram_id)})
            items = data.get("users", []) if isinstance(data, dict) else []
        return [PanelUser.from_panel(item, api_version=version) for item in items]

    def create_user(
        self,
        *,
        username: str,
        expire_at: datetime,
        telegram_id: int | None = None,
        squads: list[str] | None = None,
        traffic_limit_bytes: int = 0,
        traffic_limit_strategy: str = "NO_RESET",
        device_limit: int = 0,
        description: str = "",
        tag: str | None = None,
    ) -> PanelUser:
        body: dict[str, Any] = {
            "username": username,
            "status": STATUS_ACTIVE,
            "expireAt": format_panel_datetime(expire_at),
            "trafficLimitBytes": int(traffic_limit_bytes),
            "trafficLimitStrategy": traffic_limit_strategy,
            "activeInternalSquads": list(squads or []),
        }
        if telegram_id is not None:
            body["telegramId"] = int(telegram_id)
        if device_limit:
            body["hwidDeviceLimit"] = int(device_limit)
        if description:
            body["description"] = description
        if tag:
            body["tag"] = tag
        data = self._request("POST", "/api/users", json=body)
        return PanelUser.from_panel(data, api_version=self.api_version)

    def update_user(
        self,
        user: PanelUser,
        *,
        expire_at: datetime | None = None,
        status: str | None = None,
        traffic_limit_bytes: int | None = None,
        traffic_limit_strategy: str | None = None,
        device_limit: int | None = None,
        squads: list[str] | None = None,
    ) -> PanelUser:
        """PATCH /api/users: by uuid on 2.x, by id (or username) on 3.x. Absolute values only."""
        body: dict[str, Any] = self._identity(user)
        if expire_at is not None:
            body["expireAt"] = format_panel_datetime(expire_at)
        if status is not None:
            body["status"] = status
        if traffic_limit_bytes is not None:
            body["trafficLimitBytes"] = int(traffic_limit_bytes)
        if traffic_limit_strategy is not None:
            body["trafficLimitStrategy"] = traffic_limit_strategy
        if device_limit is not None:
            body["hwidDeviceLimit"] = int(device_limit)
        if squads is not None:
            body["activeInternalSquads"] = list(squads)
        data = self._request("PATCH", "/api/users", json=body)
        return PanelUser.from_panel(data, api_version=self.api_version)

    def disable_user(self, user: PanelUser) -> PanelUser:
        data = self._request("POST", f"/api/users/{user.ref}/actions/disable")
        return PanelUser.from_panel(data, api_version=self.api_version)

    def enable_user(self, user: PanelUser) -> PanelUser:
        data = self._request("POST", f"/api/users/{user.ref}/actions/enable")
        return PanelUser.from_panel(data, api_version=self.api_version)

    def delete_user(self, user: PanelUser) -> None:
        self._request("DELETE", f"/api/users/{user.ref}")

    def subscription_url(self, username: str) -> str:
        user = self.find_by_username(username)
        if user is None:
            raise PanelNotFound(f"panel user {username} not found", status=404)
        return user.subscription_url

    def _identity(self, user: PanelUser) -> dict[str, Any]:
        if self.api_version == API_V2:
            if not user.uuid:
                raise PanelProtocolError("a 2.x panel user without uuid cannot be updated")
            return {"uuid": user.uuid}
        return {"id": user.id} if user.id is not None else {"username": user.username}

    # --- transport -------------------------------------------------------------
    def _request(self, method: str, path: str, *, json: Any = None, params: dict[str, Any] | None = None) -> Any:
        """One API call: retried on connection errors and 5xx, unwrapped from {"response": ...}.
        A call that fails for good is counted (a 404 is an answer, not an error)."""
        try:
            return self._request_with_retries(method, path, json=json, params=params)
        except PanelNotFound:
            raise
        except PanelError as exc:
            PANEL_CALL_ERRORS.labels(error=type(exc).__name__).inc()
            raise

    def _request_with_retries(self, method: str, path: str, *, json: Any, params: dict[str, Any] | None) -> Any:
        attempt = 0
        while True:
            try:
                response = self._http.request(method, path, json=json, params=params)
            except httpx.HTTPError as exc:
                error: PanelError = PanelUnavailable(f"{method} {path}: {type(exc).__name__}: {exc}".rstrip(": "))
            else:
                if response.status_code < 400:
                    return self._unwrap(response, method=method, path=path)
                error = self._error_from(response, method=method, path=path)
                if not isinstance(error, PanelUnavailable):
                    raise error
            if attempt >= self.max_retries:
                raise error
            attempt += 1
            delay = backoff_seconds(attempt=attempt, base=self.retry_backoff, cap=MAX_RETRY_DELAY)
            logger.warning("Remnawave %s %s failed (%s); retry in %.2fs", method, path, error, delay)
            time.sleep(delay)

    @staticmethod
    def _unwrap(response: httpx.Response, *, method: str, path: str) -> Any:
        if response.status_code == 204 or not response.content:
            return None
        try:
            payload = response.json()
        except ValueError:
            raise PanelProtocolError(f"{method} {path}: the panel answered non-JSON", status=response.status_code)
        if not isinstance(payload, dict) or "response" not in payload:
            raise PanelProtocolError(
                f"{method} {path}: the answer has no 'response'", status=response.status_code, body=payload
            )
        return payload["response"]

    @staticmethod
    def _error_from(response: httpx.Response, *, method: str, path: str) -> PanelError:
        try:
            body = response.json()
        except ValueError:
            body = response.text[:500]
        message, code = "", ""
        if isinstance(body, dict):
            raw_message = body.get("message")
            message = "; ".join(map(str, raw_message)) if isinstance(raw_message, list) else str(raw_message or "")
            code = str(body.get("errorCode") or "")
        message = message or (body if isinstance(body, str) else "") or response.reason_phrase
        status = response.status_code
        # A 404 is the normal "no such user yet" answer; anything else is worth a look.
        log = logger.debug if status == 404 else logger.warning
        log("Remnawave %s %s answered %s: %s", method, path, status, body)
        text = f"{method} {path}: {message}"
        if status >= 500:
            return PanelUnavailable(text, status=status, error_code=code, body=body)
        if status == 404:
            return PanelNotFound(text, status=status, error_code=code, body=body)
        return PanelRejected(text, status=status, error_code=code, body=body)
