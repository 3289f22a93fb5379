"""A small typed client for the Remnawave panel API, releases 2.0 to 3.3.

Only what the shop needs: the panel's version, find a user (by username, by
Telegram id), create, update expiry/status/limits, enable/disable, delete, the
internal squads, a user's HWID devices (list, delete) and traffic. Retries (with
backoff) happen on connection errors and 5xx only; a 4xx is raised at once as
PanelRejected carrying the panel's status, errorCode and message. Only a 404
means "not found": a 400 never does (3.x answers 400 for a malformed id, and
treating that as "absent" would create duplicates). A 401 or 403 is the shop's
configuration (the token), raised as PanelConfigError so that the caller waits
for the owner instead of retrying.

The version comes from the panel itself (GET /api/system/metadata, 2.5.0 and
later; a 404 there means 2.0-2.4), never from whether some route answers: the
users stream route exists since 2.8.0, where users are still addressed by uuid.
What differs by release (from remnawave/backend libs/contract at each tag):
- 2.x addresses a user by `uuid` (paths and PATCH); 3.0.0 by the numeric `id`.
- `by-telegram-id` exists on every 2.x and is gone in 3.0.0, where
  `stream?telegramId=` replaces it (2.8's stream ignores that filter).
- 2.0.x wants usernames of at least 6 characters (3 from 2.1.0).
- API tokens carry scopes since 2.8.0; a missing one answers 403.
- HWID devices (hwid.ts, commands/hwid/ at 2.0.0, 2.7.4, 2.8.1, 3.0.0, 3.3.2): GET
  /api/hwid/devices/{userUuid} (2.x) or /{userId} (3.x); POST /api/hwid/devices/delete
  with {userUuid, hwid} (2.x) or {userId, hwid} (3.x); both answer {total, devices}.
  Deleting an absent device: 500 A101 on 2.0-2.2 (prisma delete throws), 404 A204 from 2.3.0.
- Traffic used: top-level usedTrafficBytes until 2.2.x, userTraffic.usedTrafficBytes
  from 2.3.0 (user-traffic.schema.ts).
"""

from __future__ import annotations

import logging
import re
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
# 2.0.x refuses shorter usernames (2.0.0 create-user.command.ts: min 6; 2.1.0: min 3).
USERNAME_MIN_LENGTH = 6
USERNAME_MAX_LENGTH = 36
USERNAME_RE = re.compile(r"^[A-Za-z0-9_-]+$")

# libs/contract/constants/errors/errors.ts: HWID_DEVICE_NOT_FOUND (2.3.0+) and
# DELETE_HWID_USER_DEVICE_ERROR (what 2.0-2.2 answer for a device that is not there).
ERROR_HWID_DEVICE_NOT_FOUND = "A204"
ERROR_DELETE_HWID_DEVICE = "A101"

STATUS_ACTIVE = "ACTIVE"
STATUS_DISABLED = "DISABLED"
MAX_RETRY_DELAY = 10.0  # seconds; longer outages are the outbox's to wait out
# The detected release is read again after this: a panel upgraded from 2.x to 3.x while the
# shop runs changes how users are addressed.
VERSION_TTL_SECONDS = 600.0


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


class PanelConfigError(PanelRejected):
    """The shop's panel settings are wrong (token, permissions, squads): retrying will not help
    until the owner changes them. `cause` names the problem once, whatever call met it."""

    cause = "configuration"

    def __init__(self, message: str, *, cause: str = "", **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        if cause:
            self.cause = cause


class PanelTokenRejected(PanelConfigError):
    """A 401: REMNAWAVE_TOKEN is not a valid API token of this panel."""

    cause = "token_rejected"


class PanelPermissionDenied(PanelConfigError):
    """A 403: the token is valid but its scopes (2.8.0 and later) do not allow this call."""


class PanelSquadsMissing(PanelConfigError):
    """REMNAWAVE_SQUADS names internal squads the panel does not have."""

    cause = "unknown_squads"


class PanelProtocolError(PanelError):
    """A 2xx answer the client cannot read (not JSON, no `response`)."""


@dataclass(frozen=True, order=True)
class PanelVersion:
    """A panel release. `exact` is False when only a range is known: a 2.x panel
    without the metadata route (before 2.5.0), or a version pinned as "2" or "3"."""

    major: int
    minor: int = 0
    patch: int = 0
    exact: bool = True

    @classmethod
    def parse(cls, value: str) -> PanelVersion:
        """ "2.8.1", "3.0.0-beta", "v2.7.4" -> that release; "2" or "3" -> the generation."""
        match = re.fullmatch(r"v?(\d+)(?:\.(\d+))?(?:\.(\d+))?(?:[-+][0-9A-Za-z.-]*)?", str(value).strip())
        if not match:
            raise ValueError(f"not a panel version: {value!r}")
        major, minor, patch = match.groups()
        if minor is None:
            return cls(int(major), exact=False)
        return cls(int(major), int(minor), int(patch or 0))

    @property
    def generation(self) -> str:
        """How users are addressed: "2" (uuid) or "3" (numeric id)."""
        return API_V3 if self.major >= 3 else API_V2

    @property
    def label(self) -> str:
        """What the shop stores and shows: "2.8.1", "<2.5" (no metadata route), "3.x" (pinned)."""
        if self.exact:
            return f"{self.major}.{self.minor}.{self.patch}"
        if self.major == 2 and self.minor == 0:
            return "2.x" if self == PINNED_V2 else "<2.5"
        return f"{self.major}.x"

    @property
    def has_scopes(self) -> bool:
        """Scoped API tokens: 2.8.0 and later (a 403 names a missing scope)."""
        return (self.major, self.minor) >= (2, 8)


# A 2.x panel whose metadata route is missing (added in 2.5.0), and the pinned generations.
BEFORE_METADATA = PanelVersion(2, 0, 0, exact=False)
PINNED_V2 = PanelVersion(2, 0, 1, exact=False)
PINNED_V3 = PanelVersion(3, 0, 0, exact=False)


def configured_version(value: str) -> PanelVersion | None:
    """REMNAWAVE_API_VERSION: None for auto, else the pinned release or generation."""
    value = str(value).strip().lower()
    if value in ("", "auto"):
        return None
    if value == API_V2:
        return PINNED_V2
    if value == API_V3:
        return PINNED_V3
    version = PanelVersion.parse(value)
    if version.major not in (2, 3):
        raise ValueError(f"REMNAWAVE_API_VERSION {value!r}: the shop supports panels 2.0 to 3.x")
    return version


def valid_panel_username(username: str) -> bool:
    """Accepted by every supported release: 6-36 characters of letters, digits, _ and -."""
    return USERNAME_MIN_LENGTH <= len(username) <= USERNAME_MAX_LENGTH and bool(USERNAME_RE.match(username))


def scope_of(method: str, path: str) -> str:
    """The scope a call needs as the panel names it (getEndpointDetails in each command,
    2.8.0+), e.g. "users:update", so that a 403 tells the owner what the token lacks."""
    if path == "/api/system/metadata":
        return "system:metadata"
    if path == "/api/internal-squads":
        return "internal-squads:list"
    # hwid-user-devices (controllers-info.ts), scopes from commands/hwid at 2.8.1 and 3.3.2
    if path == "/api/hwid/devices/delete":
        return "hwid-user-devices:delete"
    if path.startswith("/api/hwid/devices/") and method == "GET":
        return "hwid-user-devices:list-by-user"
    if path == "/api/users":
        return {"POST": "users:create", "PATCH": "users:update"}.get(method, f"{method} {path}")
    rest = path.removeprefix("/api/users/")
    for prefix in ("stream", "by-username/", "by-telegram-id/"):
        if rest.startswith(prefix):
            return f"users:{prefix.rstrip('/')}"
    for action in ("enable", "disable"):
        if rest.endswith(f"/actions/{action}"):
            return f"users:{action}"
    if method == "DELETE":
        return "users:delete"
    return f"{method} {path}"


@dataclass(frozen=True)
class PanelUser:
    """A panel user as the shop sees it; `uuid` (2.x) or `id` (3.x) identifies it.
    `api_version` is the release it was read from (a PanelVersion label, e.g. "2.8.1")."""

    username: str
    status: str
    expire_at: datetime | None
    api_version: str
    uuid: str = ""
    id: int | None = None
    short_uuid: str = ""
    subscription_url: str = ""
    telegram_id: int | None = None
    device_limit: int | None = None
    # Traffic as the panel counts it (None when the answer did not carry it).
    used_traffic_bytes: int | None = None
    traffic_limit_bytes: int | None = None
    traffic_limit_strategy: str = ""
    last_traffic_reset_at: datetime | None = None
    created_at: datetime | None = None

    @property
    def generation(self) -> str:
        return API_V3 if self.api_version.lstrip("<v").startswith("3") else API_V2

    @property
    def ref(self) -> str:
        """The path identifier for /api/users/{ref}/...: uuid on 2.x, numeric id on 3.x."""
        return self.uuid if self.generation == API_V2 else str(self.id)

    @classmethod
    def from_panel(cls, data: dict[str, Any], *, api_version: str) -> PanelUser:
        if not isinstance(data, dict) or not data.get("username"):
            raise PanelProtocolError("the panel answered a user without a username", body=data)
        raw_id = data.get("id")
        telegram_id = data.get("telegramId")
        devices = data.get("hwidDeviceLimit")
        # 2.3.0 moved usedTrafficBytes into userTraffic (user-traffic.schema.ts); 2.0-2.2 have it on the user.
        traffic = data.get("userTraffic")
        used = traffic.get("usedTrafficBytes") if isinstance(traffic, dict) else data.get("usedTrafficBytes")
        limit = data.get("trafficLimitBytes")
        return cls(
            username=str(data["username"]),
            status=str(data.get("status") or ""),
            expire_at=parse_panel_datetime(data.get("expireAt")),
            api_version=api_version,
            uuid=str(data.get("uuid") or ""),
            id=int(raw_id) if isinstance(raw_id, int | str) and str(raw_id).isdigit() else None,
            short_uuid=str(data.get("shortUuid") or ""),
            subscription_url=str(data.get("subscriptionUrl") or ""),
            telegram_id=int(telegram_id) if str(telegram_id).isdigit() else None,
            device_limit=devices if isinstance(devices, int) else None,
            used_traffic_bytes=int(used) if _is_number(used) else None,
            traffic_limit_bytes=int(limit) if _is_number(limit) else None,
            traffic_limit_strategy=str(data.get("trafficLimitStrategy") or ""),
            last_traffic_reset_at=parse_panel_datetime(data.get("lastTrafficResetAt")),
            created_at=parse_panel_datetime(data.get("createdAt")),
        )


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


@dataclass(frozen=True)
class PanelDevice:
    """A device the panel registered for a user (HwidUserDeviceSchema, every release):
    `created_at` is when it first fetched the subscription, `updated_at` the latest time."""

    hwid: str
    platform: str = ""
    os_version: str = ""
    device_model: str = ""
    user_agent: str = ""
    created_at: datetime | None = None
    updated_at: datetime | None = None

    @classmethod
    def from_panel(cls, data: Any) -> PanelDevice:
        if not isinstance(data, dict) or not isinstance(data.get("hwid"), str):
            raise PanelProtocolError("the panel answered a device without a hwid", body=data)
        return cls(
            hwid=data["hwid"],
            platform=str(data.get("platform") or ""),
            os_version=str(data.get("osVersion") or ""),
            device_model=str(data.get("deviceModel") or ""),
            user_agent=str(data.get("userAgent") or ""),
            created_at=parse_panel_datetime(data.get("createdAt")),
            updated_at=parse_panel_datetime(data.get("updatedAt")),
        )


@dataclass(frozen=True)
class PanelSquad:
    uuid: str
    name: str


# The device limit sent to the panel: None = the panel's default (hwidDeviceLimit null),
# 0 = no limit at all (the panel skips the check: subscription.service.ts
# checkHwidDeviceLimit, `hwidDeviceLimit === 0`), N = N devices. The same meaning is
# sent on create and on every update.
DeviceLimit = int | None
UNCHANGED: Any = object()  # update_user: leave the field as the panel has it


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
        try:
            self._configured_version = configured_version(api_version)
        except ValueError:
            raise ValueError("REMNAWAVE_API_VERSION must be auto, 2, 3 or a release such as 2.8.1")
        headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
        if forwarded:
            headers.update({"X-Forwarded-For": "127.0.0.1", "X-Forwarded-Proto": "https"})
        headers.update({str(key): str(value) for key, value in (extra_headers or {}).items()})
        self._http = httpx.Client(base_url=base_url.rstrip("/"), headers=headers, timeout=timeout, transport=transport)
        self._detected_version: PanelVersion | None = None
        self._detected_at = 0.0
        self._version_lock = threading.Lock()
        self.max_retries = max_retries
        self.retry_backoff = retry_backoff

    def close(self) -> None:
        self._http.close()

    # --- version ------------------------------------------------------------
    @property
    def version(self) -> PanelVersion:
        """The panel's release: pinned by REMNAWAVE_API_VERSION, or read once from the panel."""
        if self._configured_version is not None:
            return self._configured_version
        with self._version_lock:
            stale = time.monotonic() - self._detected_at > VERSION_TTL_SECONDS
            if self._detected_version is None or stale:
                version = self.read_version()
                if version != self._detected_version:
                    logger.info("Remnawave panel version detected: %s", version.label)
                self._detected_version, self._detected_at = version, time.monotonic()
            return self._detected_version

    @property
    def pinned(self) -> bool:
        return self._configured_version is not None

    @property
    def api_version(self) -> str:
        """The release's label, stored with each panel identity (e.g. "2.8.1")."""
        return self.version.label

    @property
    def generation(self) -> str:
        return self.version.generation

    def read_version(self) -> PanelVersion:
        """GET /api/system/metadata (2.5.0+): its `version`; a 404 means a 2.x before 2.5.
        A 403 (a scoped token without system:metadata) is raised: the shop cannot tell
        how to address users, and guessing is what breaks updates on 2.8 panels."""
        try:
            data = self._request("GET", "/api/system/metadata")
        except PanelNotFound:
            return BEFORE_METADATA
        except PanelPermissionDenied as exc:
            raise PanelPermissionDenied(
                "the panel token may not read the panel's version (scope system:metadata): "
                "grant it, or set REMNAWAVE_API_VERSION to the panel's release",
                cause=exc.cause,
                status=exc.status,
                error_code=exc.error_code,
                body=exc.body,
            )
        raw = data.get("version") if isinstance(data, dict) else None
        try:
            version = PanelVersion.parse(str(raw))
        except ValueError:
            raise PanelProtocolError(f"the panel reported no readable version: {raw!r}", body=data)
        if version.major < 2:
            raise PanelConfigError(
                f"panel {version.label} is too old: the shop supports Remnawave 2.0 to 3.x", cause="unsupported_version"
            )
        return version

    # --- users ---------------------------------------------------------------
    def find_by_username(self, username: str) -> PanelUser | None:
        try:
            data = self._request("GET", f"/api/users/by-username/{username}")
        except PanelNotFound:
            return None
        return PanelUser.from_panel(data, api_version=self.api_version)

    def find_by_telegram_id(self, telegram_id: int, *, max_pages: int = 20) -> list[PanelUser]:
        """2.x: GET by-telegram-id (a list; 404 when none). 3.x: the users stream filtered by
        telegramId, read page by page. The answer is filtered here too: a 2.8 panel's stream
        ignores the filter, and a panel must never hand one buyer another's account."""
        telegram_id = int(telegram_id)
        if self.generation == API_V2:
            try:
                data = self._request("GET", f"/api/users/by-telegram-id/{telegram_id}")
            except PanelNotFound:
                return []
            items = data if isinstance(data, list) else []
        else:
            items, cursor = [], None
            for _page in range(max_pages):
                params: dict[str, Any] = {"telegramId": telegram_id, "size": 100}
                if cursor:
                    params["cursor"] = cursor
                data = self._request("GET", "/api/users/stream", params=params)
                data = data if isinstance(data, dict) else {}
                items.extend(data.get("users") or [])
                cursor = data.get("nextCursor")
                if not data.get("hasMore") or not cursor:
                    break
        users = [PanelUser.from_panel(item, api_version=self.api_version) for item in items]
        return [user for user in users if user.telegram_id == telegram_id]

    def create_user(
        self,
        *,
        username: str,
        expire_at: datetime,
        telegram_id: int | None = None,
        squads: list[str] | None = None,
        traffic_limit_bytes: int = 0,
        traffic_limit_strategy: str = "NO_RESET",
        device_limit: DeviceLimit = None,
        description: str = "",
        tag: str | None = None,
    ) -> PanelUser:
        """POST /api/users. `device_limit` None leaves hwidDeviceLimit out (the panel's default)."""
        if not valid_panel_username(username):
            raise PanelConfigError(
                f"panel username {username!r} is not 6-36 letters, digits, _ or -", cause="username_invalid"
            )
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
        if device_limit is not None:
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
        device_limit: DeviceLimit | object = UNCHANGED,
        squads: list[str] | None = None,
    ) -> PanelUser:
        """PATCH /api/users: by uuid on 2.x, by id (or username) on 3.x. Absolute values only.
        `device_limit` None sends null (back to the panel's default); leave it out to keep it."""
        body: dict[str, Any] = self._identity(user)
        if expire_at is not None:
            body["expireAt"] = format_panel_datetime(expire_at)
        if status is not None:
            body["status"] = status
        if traffic_limit_bytes is not None:
            body["trafficLimitBytes"] = int(traffic_limit_bytes)
        if traffic_limit_strategy is not None:
            body["trafficLimitStrategy"] = traffic_limit_strategy
        if device_limit is not UNCHANGED:
            body["hwidDeviceLimit"] = device_limit if device_limit is None else int(device_limit)  # type: ignore[call-overload]
        if squads is not None:
            body["activeInternalSquads"] = list(squads)
        data = self._request("PATCH", "/api/users", json=body)
        return PanelUser.from_panel(data, api_version=self.api_version)

    def disable_user(self, user: PanelUser) -> PanelUser:
        data = self._request("POST", f"/api/users/{self._ref(user)}/actions/disable")
        return PanelUser.from_panel(data, api_version=self.api_version)

    def enable_user(self, user: PanelUser) -> PanelUser:
        data = self._request("POST", f"/api/users/{self._ref(user)}/actions/enable")
        return PanelUser.from_panel(data, api_version=self.api_version)

    def delete_user(self, user: PanelUser) -> None:
        self._request("DELETE", f"/api/users/{self._ref(user)}")

    def subscription_url(self, username: str) -> str:
        user = self.find_by_username(username)
        if user is None:
            raise PanelNotFound(f"panel user {username} not found", status=404)
        return user.subscription_url

    def internal_squads(self) -> list[PanelSquad]:
        """GET /api/internal-squads: the squads a user can be put in."""
        data = self._request("GET", "/api/internal-squads")
        items = data.get("internalSquads") if isinstance(data, dict) else None
        return [
            PanelSquad(uuid=str(item.get("uuid")), name=str(item.get("name") or ""))
            for item in items or []
            if isinstance(item, dict) and item.get("uuid")
        ]

    # --- HWID devices -----------------------------------------------------------
    def user_devices(self, user: PanelUser) -> list[PanelDevice]:
        """GET /api/hwid/devices/{ref}: uuid on 2.x, numeric id on 3.x. A 404 means no such user."""
        data = self._request("GET", f"/api/hwid/devices/{self._ref(user)}")
        return self._devices(data)

    def delete_device(self, user: PanelUser, *, hwid: str) -> list[PanelDevice]:
        """POST /api/hwid/devices/delete; returns the devices left. Idempotent: a device that is
        already gone is success (404 A204 from 2.3.0; a 500 A101 on 2.0-2.2, checked by reading
        the list again). A 404 for the user itself (A025) is raised as PanelNotFound."""
        if self.generation == API_V2:
            body: dict[str, Any] = {"userUuid": self._ref(user), "hwid": hwid}
        else:
            body = {"userId": int(self._ref(user)), "hwid": hwid}
        try:
            data = self._request("POST", "/api/hwid/devices/delete", json=body)
        except PanelNotFound as exc:
            if exc.error_code != ERROR_HWID_DEVICE_NOT_FOUND:
                raise
            return self.user_devices(user)
        except PanelUnavailable as exc:
            if exc.error_code != ERROR_DELETE_HWID_DEVICE:
                raise
            left = self.user_devices(user)
            if any(device.hwid == hwid for device in left):
                raise
            return left
        return self._devices(data)

    @staticmethod
    def _devices(data: Any) -> list[PanelDevice]:
        items = data.get("devices") if isinstance(data, dict) else None
        if not isinstance(items, list):
            raise PanelProtocolError("the panel answered no device list", body=data)
        return [PanelDevice.from_panel(item) for item in items]

    def may(self, method: str, path: str, *, json: Any = None) -> bool:
        """Whether the token is allowed this call, asked without changing anything: the call is
        made with an invalid body or id, which the panel refuses with 400 after its scope check
        (NestJS runs guards before validation pipes) and with 403 when the scope is missing."""
        try:
            self._request_with_retries(method, path, json=json, params=None)
        except PanelPermissionDenied:
            return False
        except PanelRejected:
            return True
        return True

    def _ref(self, user: PanelUser) -> str:
        if self.generation == API_V2:
            if not user.uuid:
                raise PanelProtocolError("a 2.x panel user without uuid cannot be addressed")
            return user.uuid
        if user.id is None:
            raise PanelProtocolError("a 3.x panel user without id cannot be addressed")
        return str(user.id)

    def _identity(self, user: PanelUser) -> dict[str, Any]:
        # 2.x PATCH takes uuid (2.5.0+: or username) and drops `id`; 3.0.0 takes id or
        # username and drops `uuid`: a key of the other generation fails validation.
        if self.generation == API_V2:
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
            # A validation error says "Validation failed" and lists what failed in `errors`.
            details = body.get("errors")
            if isinstance(details, list) and details:
                parts = [
                    f"{'.'.join(map(str, item.get('path') or []))}: {item.get('message')}".lstrip(": ")
                    for item in details[:5]
                    if isinstance(item, dict)
                ]
                message = f"{message} ({'; '.join(parts)})" if parts else message
        message = message or (body if isinstance(body, str) else "") or response.reason_phrase
        status = response.status_code
        if status == 401:
            text = f"the panel refused REMNAWAVE_TOKEN ({method} {path}: {message}): not an API token of this panel"
            logger.warning("Remnawave %s %s answered 401: %s", method, path, body)
            return PanelTokenRejected(text, status=status, error_code=code, body=body)
        if status == 403:
            scope = scope_of(method, path)
            text = f"the panel token may not do {scope} ({method} {path}: {message}): add the scope to the token"
            logger.warning("Remnawave %s %s answered 403: %s", method, path, body)
            return PanelPermissionDenied(text, cause=f"permission:{scope}", status=status, error_code=code, body=body)
        # A 404 is the normal "no such user yet" answer; anything else is worth a look.
        log = logger.debug if status == 404 else logger.warning
        log("Remnawave %s %s answered %s: %s", method, path, status, body)
        text = f"{method} {path}: {message}"
        if status >= 500:
            return PanelUnavailable(text, status=status, error_code=code, body=body)
        if status == 404:
            return PanelNotFound(text, status=status, error_code=code, body=body)
        return PanelRejected(text, status=status, error_code=code, body=body)
