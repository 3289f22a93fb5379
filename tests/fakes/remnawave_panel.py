"""A fake Remnawave panel: real HTTP on 127.0.0.1, one profile per official release line,
with failure injection.

Every rule below is taken from the official contract (github remnawave/backend,
libs/contract/ and src/ read at the release tag named in the comment next to it).

| profile | stands for      | reported version (GET /api/system/metadata)               |
| "2.0"   | 2.0.0 - 2.0.8   | none: the route answers 404 (it exists from 2.5.0)         |
| "2.7"   | 2.5.0 - 2.7.4   | "2.7.4"                                                    |
| "2.8"   | 2.8.0 - 2.8.1   | "2.8.1"                                                    |
| "3.0"   | 3.0.0 - 3.3.2   | "3.3.2"                                                    |
(2.1.0 - 2.4.x sit between "2.0" and "2.7": usernames of 3+ characters from 2.1.0, PATCH by
uuid or username from 2.1.14, no metadata route; no profile of its own.)

HWID devices (libs/contract/api/controllers/hwid.ts and commands/hwid/, src/modules/hwid-user-devices):
| profile | list                        | delete body          | device carries   | absent device on delete |
| "2.0"   | GET /api/hwid/devices/{uuid} | {userUuid, hwid}     | userUuid         | 500 A101 (2.0.0)        |
| "2.7"   | GET /api/hwid/devices/{uuid} | {userUuid, hwid}     | userUuid         | 404 A204 (2.3.0+)       |
| "2.8"   | GET /api/hwid/devices/{uuid} | {userUuid, hwid}     | userId, requestIp| 404 A204 (2.8.1)        |
| "3.0"   | GET /api/hwid/devices/{id}   | {userId, hwid}       | userId, requestIp| 404 A204 (3.3.2)        |
Traffic used: on the user at 2.0.0 (usedTrafficBytes...), in `userTraffic` from 2.3.0.

Answers: success bodies wrapped in {"response": ...}; panel errors
{"timestamp", "path", "message", "errorCode"} (src/common/exception/http-exception.filter.ts);
validation errors as nestjs-zod raises them, {"statusCode": 400, "message": "Validation failed",
"errors": [{"code", "message", "path"}]} (2.8.1 src/common/decorators/base-endpoint); NestJS's own
bodies {"message", "error", "statusCode"} for an unknown route (404 "Cannot GET ..."), a bad token
(401) and a token without the scope (403, 2.8+). Failure injection: fail_next, delay_next,
set_latency, create_then_hang, down (503 for everything) and drop (connection closed).
"""

from __future__ import annotations

import json
import re
import threading
import time
import uuid as uuidlib
from dataclasses import dataclass
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

PROFILES = ("2.0", "2.7", "2.8", "3.0")
ALIASES = {"2": "2.7", "3": "3.0"}
REPORTED_VERSIONS = {"2.0": None, "2.7": "2.7.4", "2.8": "2.8.1", "3.0": "3.3.2"}
DEFAULT_SQUAD = "6f1e8a2c-1111-4222-8333-944455556666"

USERNAME_RE = re.compile(r"^[a-zA-Z0-9_-]+$")
TAG_RE = re.compile(r"^[A-Z0-9_]+$")
UUID_RE = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
# zod .datetime({offset: true, local: true}): a full date and time, offset optional.
DATETIME_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}(:?\d{2})?)?$")
STATUSES = ("ACTIVE", "DISABLED", "LIMITED", "EXPIRED")
STRATEGIES = ("NO_RESET", "DAY", "WEEK", "MONTH")

# libs/contract/constants/errors/errors.ts (same codes at 2.0.0 and 3.3.2)
ERRORS = {
    "A018": (500, "Failed to create user"),
    "A019": (400, "User username already exists"),
    "A025": (404, "User not found"),
    "A026": (500, "Get user by error"),
    "A029": (400, "User already disabled"),
    "A030": (400, "User already enabled"),
    "A039": (500, "Update user error"),
    "A062": (404, "Users not found"),
    "A063": (404, "User with specified params not found"),
    "A100": (500, "Get user hwid devices error"),
    "A101": (500, "Delete hwid user device error"),
    "A204": (404, "HWID device not found"),  # from 2.3.0
}


@dataclass
class Call:
    method: str
    path: str
    query: dict[str, list[str]]
    body: Any
    headers: dict[str, str]


@dataclass
class _Injection:
    count: int
    path_contains: str
    method: str
    status: int = 500
    delay: float = 0.0


class PanelHttpError(Exception):
    """An answer other than success: `body` is sent as is (the path is filled in for panel errors)."""

    def __init__(self, status: int, body: dict[str, Any]) -> None:
        super().__init__(body.get("message"))
        self.status, self.body = status, body


def panel_error(code: str) -> PanelHttpError:
    status, message = ERRORS[code]
    return PanelHttpError(status, {"timestamp": _iso(_now()), "path": "", "message": message, "errorCode": code})


def nest_error(status: int, message: str, error: str) -> PanelHttpError:
    return PanelHttpError(status, {"message": message, "error": error, "statusCode": status})


def validation_error(issues: list[dict[str, Any]]) -> PanelHttpError:
    return PanelHttpError(400, {"statusCode": 400, "message": "Validation failed", "errors": issues})


def _issue(path: str | None, message: str, code: str = "custom") -> dict[str, Any]:
    return {"code": code, "message": message, "path": [path] if path else []}


def _now() -> datetime:
    return datetime.now(UTC)


def _iso(value: datetime | None) -> str | None:
    return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z") if value else None


def _parse_datetime(value: Any) -> datetime | None:
    if not isinstance(value, str) or not DATETIME_RE.match(value):
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)  # local: the panel runs in UTC


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


@dataclass(frozen=True)
class _Route:
    name: str
    resource: str
    scope: str
    kind: str  # read | write
    args: tuple[str, ...] = ()


class FakeRemnawavePanel:
    def __init__(
        self,
        profile: str | None = None,
        *,
        version: str | None = None,
        token: str = "test-panel-token",
        public_url: str = "https://sub.example.test",
        reported_version: str | None = None,
        squads: dict[str, str] | None = None,
        default_device_limit: int = 1,
    ) -> None:
        self.profile = _profile(profile or version or "2")
        self.token = token
        self.public_url = public_url
        self.reported_version = reported_version or REPORTED_VERSIONS[self.profile]
        # uuid -> name of the internal squads that exist on the panel.
        self.squads: dict[str, str] = dict(squads) if squads is not None else {DEFAULT_SQUAD: "Default"}
        # The panel's fallback device limit for users whose hwidDeviceLimit is null: a setting
        # (2.0.0 env HWID_FALLBACK_DEVICE_LIMIT 1..999; 3.3.2 hwidSettings.fallbackDeviceLimit, seeded 999).
        self.default_device_limit = default_device_limit
        self.users: dict[str, dict[str, Any]] = {}
        # username -> the HWID devices the panel registered for that user, oldest first.
        self.devices: dict[str, list[dict[str, Any]]] = {}
        self.calls: list[Call] = []
        self.down = False
        self.drop = False
        self._scoped_tokens: dict[str, list[str]] = {}
        self._lock = threading.RLock()
        self._injections: list[_Injection] = []
        self._hang_after_create: float = 0.0
        self._latency = _Injection(count=0, path_contains="", method="", status=0, delay=0.0)
        self._next_id = 1
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # --- profile ----------------------------------------------------------------
    @property
    def version(self) -> str:
        """The API generation, "2" or "3" (what the shop's REMNAWAVE_API_VERSION pins)."""
        return "3" if self.profile == "3.0" else "2"

    @version.setter
    def version(self, value: str) -> None:
        self.profile = _profile(value)
        self.reported_version = REPORTED_VERSIONS[self.profile]

    @property
    def has_scopes(self) -> bool:
        return self.profile in ("2.8", "3.0")  # 2.8.0 src/common/guards/scopes/scopes.guard.ts

    def grant(self, token: str, scopes: list[str]) -> str:
        """Register another valid API token limited to `scopes` (e.g. ["users:read"]); from 2.8
        a call outside them answers 403. Before 2.8 there are no scopes: the token may do all."""
        with self._lock:
            self._scoped_tokens[token] = list(scopes)
        return token

    # --- lifecycle -------------------------------------------------------------
    def start(self) -> FakeRemnawavePanel:
        panel = self

        class Handler(_Handler):
            fake = panel

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._server.block_on_close = False
        self._server.handle_error = lambda request, client_address: None  # broken pipes after injected timeouts
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    @property
    def url(self) -> str:
        assert self._server is not None, "start() the panel first"
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    # --- failure injection -------------------------------------------------------
    def fail_next(self, count: int = 1, *, status: int = 500, path_contains: str = "", method: str = "") -> None:
        """The next `count` matching calls answer `status` (with a panel error body)."""
        with self._lock:
            self._injections.append(_Injection(count=count, path_contains=path_contains, method=method, status=status))

    def heal(self) -> None:
        """Drop the failures and delays not used up yet: the panel answers normally again."""
        with self._lock:
            self._injections.clear()

    def delay_next(self, seconds: float, count: int = 1, *, path_contains: str = "", method: str = "") -> None:
        """The next `count` matching calls are processed and answered after `seconds` (a slow
        panel; longer than the client timeout, the client sees a timeout)."""
        with self._lock:
            self._injections.append(
                _Injection(count=count, path_contains=path_contains, method=method, status=0, delay=seconds)
            )

    def set_latency(self, seconds: float, *, path_contains: str = "", method: str = "") -> None:
        """From now on every matching call waits `seconds` before it is processed and
        answered, until set_latency(0). (A call already waiting finishes its wait.)"""
        with self._lock:
            self._latency = _Injection(count=0, path_contains=path_contains, method=method, status=0, delay=seconds)

    def _latency_for(self, method: str, path: str) -> float:
        with self._lock:
            rule = self._latency
        if rule.path_contains in path and rule.method in ("", method):
            return rule.delay
        return 0.0

    def create_then_hang(self, seconds: float) -> None:
        """The next create stores the user, then answers only after `seconds` (the client times out)."""
        with self._lock:
            self._hang_after_create = seconds

    def _take_injection(self, method: str, path: str) -> _Injection | None:
        with self._lock:
            for injection in self._injections:
                if injection.count > 0 and injection.path_contains in path and injection.method in ("", method):
                    injection.count -= 1
                    return injection
        return None

    # --- inspection --------------------------------------------------------------
    def calls_to(self, method: str, path_prefix: str = "") -> list[Call]:
        with self._lock:
            return [c for c in self.calls if c.method == method and c.path.startswith(path_prefix)]

    def creates(self) -> list[Call]:
        return [c for c in self.calls_to("POST", "/api/users") if c.path == "/api/users"]

    def user(self, username: str) -> dict[str, Any] | None:
        with self._lock:
            return self.users.get(username)

    def expire_at(self, username: str) -> datetime | None:
        user = self.user(username)
        return user["expireAt"] if user else None

    def effective_device_limit(self, username: str) -> int | None:
        """The device limit the panel applies to this user; None means no limit at all."""
        user = self.users[username]
        limit = user["hwidDeviceLimit"]
        if limit == 0:
            return None
        return self.default_device_limit if limit is None else limit

    def device_allowed(self, username: str, devices_in_use: int | None = None) -> bool:
        """Whether the panel lets one more (new) device in when `devices_in_use` are registered
        (default: the devices registered for the user).
        3.3.2 subscription.service.ts checkHwidDeviceLimit (same in 2.0.0): hwidDeviceLimit === 0
        bypasses the check; null falls back to the panel's limit; a new device is refused when
        the count is >= the limit (3.3.2 hwid-user-devices.repository.ts `hwids.length >= deviceLimit`)."""
        limit = self.effective_device_limit(username)
        if devices_in_use is None:
            devices_in_use = len(self.devices_of(username))
        return limit is None or devices_in_use < limit

    def add_device(
        self,
        username: str,
        *,
        hwid: str,
        platform: str | None = None,
        os_version: str | None = None,
        device_model: str | None = None,
        user_agent: str | None = None,
        first_seen: datetime | None = None,
        last_seen: datetime | None = None,
    ) -> dict[str, Any]:
        """Register a device for a user as the panel does when a client with an x-hwid header
        fetches the subscription (hwid-user-device.entity.ts: one row per (hwid, user))."""
        with self._lock:
            user = self.users[username]
            now = _now()
            device = {
                "hwid": hwid,
                "userUuid": user["uuid"],
                "userId": user["id"],
                "platform": platform,
                "osVersion": os_version,
                "deviceModel": device_model,
                "userAgent": user_agent,
                "requestIp": "203.0.113.7",
                "createdAt": first_seen or now,
                "updatedAt": last_seen or first_seen or now,
            }
            rows = self.devices.setdefault(username, [])
            rows[:] = [row for row in rows if row["hwid"] != hwid] + [device]
            return device

    def devices_of(self, username: str) -> list[dict[str, Any]]:
        with self._lock:
            return list(self.devices.get(username, []))

    def set_traffic(self, username: str, *, used_bytes: int, last_reset_at: datetime | None = None) -> None:
        """What the nodes reported for a user (the panel counts it; the shop only reads it)."""
        with self._lock:
            user = self.users[username]
            user["usedTrafficBytes"] = int(used_bytes)
            user["lifetimeUsedTrafficBytes"] = max(user["lifetimeUsedTrafficBytes"], int(used_bytes))
            user["lastTrafficResetAt"] = last_reset_at

    def add_user(
        self,
        username: str,
        *,
        expire_at: datetime,
        telegram_id: int | None = None,
        status: str = "ACTIVE",
        hwid_device_limit: int | None = None,
        squads: list[str] | None = None,
    ) -> dict[str, Any]:
        """Seed a panel user directly (e.g. one made by an earlier lost answer); returns the stored
        record, which carries both `uuid` and `id` whatever the profile shows."""
        with self._lock:
            user = self._store_user(
                {
                    "username": username,
                    "telegramId": telegram_id,
                    "status": status,
                    "hwidDeviceLimit": hwid_device_limit,
                    "activeInternalSquads": list(squads or []),
                },
                expire_at,
            )
            return user

    # --- routing -------------------------------------------------------------------
    def _route(self, method: str, path: str) -> _Route:
        parts = [p for p in path.split("/") if p]
        not_found = nest_error(404, f"Cannot {method} {path}", "Not Found")
        if parts[:1] != ["api"]:
            raise not_found
        rest = parts[1:]
        if method == "GET" and rest == ["system", "metadata"] and self.profile != "2.0":
            # 2.5.0 libs/contract/api/controllers/system.ts SYSTEM_ROUTES.METADATA (absent in 2.4.4)
            return _Route("metadata", "system", "metadata", "read")
        if method == "GET" and rest == ["internal-squads"]:
            return _Route("squads", "internal-squads", "list", "read")
        if rest[:2] == ["hwid", "devices"]:
            return self._hwid_route(method, rest[2:], not_found)
        if rest[:1] != ["users"]:
            raise not_found
        rest = rest[1:]
        v3 = self.profile == "3.0"
        if method == "POST" and not rest:
            return _Route("create", "users", "create", "write")
        if method == "PATCH" and not rest:
            return _Route("update", "users", "update", "write")
        if method == "GET" and rest == ["stream"] and self.profile in ("2.8", "3.0"):
            # 2.8.0 users.ts USERS_ROUTES.STREAM, declared before /:uuid; earlier, "stream" is a uuid.
            return _Route("stream", "users", "stream", "read")
        if method == "GET" and len(rest) == 2 and rest[0] == "by-username":
            return _Route("by_username", "users", "by-username", "read", (rest[1],))
        if method == "GET" and len(rest) == 2 and rest[0] == "by-telegram-id" and not v3:
            # 2.x users.ts GET_BY.TELEGRAM_ID; gone in 3.0.0 (GET_BY has SHORT_UUID and USERNAME only).
            return _Route("by_telegram_id", "users", "by-telegram-id", "read", (rest[1],))
        if method == "GET" and len(rest) == 1:
            # 2.x GET_BY_UUID(':uuid'); 3.0.0 GET_BY_ID(':userId')
            return _Route("get", "users", "by-id" if v3 else "by-uuid", "read", (rest[0],))
        if method == "POST" and len(rest) == 3 and rest[1] == "actions" and rest[2] in ("enable", "disable"):
            return _Route(rest[2], "users", rest[2], "write", (rest[0],))
        if method == "DELETE" and len(rest) == 1:
            return _Route("delete", "users", "delete", "write", (rest[0],))
        raise not_found

    def _hwid_route(self, method: str, rest: list[str], not_found: PanelHttpError) -> _Route:
        # hwid.ts at 2.0.0 .. 3.3.2: GET devices/{userUuid | userId (3.0.0)}, POST devices/delete;
        # scopes (2.8.1 and 3.3.2 commands/hwid): resource hwid-user-devices, list-by-user / delete.
        # (devices, devices/stats, devices/top-users and devices/delete-all: not used by the shop.)
        if method == "POST" and rest == ["delete"]:
            return _Route("hwid_delete", "hwid-user-devices", "delete", "write")
        if method == "GET" and len(rest) == 1 and rest[0] not in ("stats", "top-users"):
            return _Route("hwid_list", "hwid-user-devices", "list-by-user", "read", (rest[0],))
        raise not_found

    def _check_scopes(self, token: str, route: _Route) -> None:
        """2.8.0 src/common/guards/scopes/scopes.guard.ts (unchanged to 3.3.2): "*", "<resource>:*",
        "<resource>:<read|write>" or "<resource>:<endpoint scope>"; otherwise the guard returns
        false and NestJS answers its default 403 (the controllers' filter does not catch it)."""
        scopes = self._scoped_tokens.get(token)
        if scopes is None or not self.has_scopes:
            return
        wanted = {"*", f"{route.resource}:*", f"{route.resource}:{route.kind}", f"{route.resource}:{route.scope}"}
        if not wanted.intersection(scopes):
            raise nest_error(403, "Forbidden resource", "Forbidden")

    def authorized(self, header: str | None) -> str | None:
        if not header or not header.startswith("Bearer "):
            return None
        token = header[len("Bearer ") :]
        return token if token == self.token or token in self._scoped_tokens else None

    # --- the API --------------------------------------------------------------------
    def handle(
        self, method: str, path: str, query: dict[str, list[str]], body: Any, *, token: str | None = None
    ) -> tuple[int, Any]:
        route = self._route(method, path)
        self._check_scopes(token or self.token, route)
        with self._lock:
            if route.name == "metadata":
                return 200, self._metadata()
            if route.name == "squads":
                return 200, self._internal_squads()
            if route.name == "create":
                return 201, self._public(self._create(body))
            if route.name == "update":
                return 200, self._public(self._patch(body))
            if route.name == "stream":
                return 200, self._stream(query)
            if route.name == "by_username":
                return 200, self._public(self._find(lambda u: u["username"] == route.args[0], "A063"))
            if route.name == "by_telegram_id":
                return 200, self._by_telegram_id(route.args[0])
            if route.name == "hwid_list":
                return 200, self._hwid_list(route.args[0])
            if route.name == "hwid_delete":
                return 200, self._hwid_delete(body)
            user = self._get_by_ref(route.args[0], "A063" if route.name == "get" else "A025")
            if route.name == "get":
                return 200, self._public(user)
            if route.name in ("enable", "disable"):
                return 200, self._public(self._set_status(user, route.name))
            del self.users[user["username"]]
            self.devices.pop(user["username"], None)  # the devices go with the user (onDelete: Cascade)
            if self.profile == "3.0":
                return 204, None  # 3.0.0 users.controller.ts deleteUser: HttpStatus.NO_CONTENT
            return 200, {"isDeleted": True}  # 2.x delete-user.command.ts ResponseSchema

    def _metadata(self) -> dict[str, Any]:
        # 2.5.0 libs/contract/commands/system/get-metadata.command.ts (unchanged to 3.3.2)
        return {
            "version": self.reported_version,
            "build": {"time": "2025-01-01T00:00:00.000Z", "number": "1"},
            "git": {
                "backend": {"commitSha": "0" * 40, "branch": "main", "commitUrl": "https://example.invalid/backend"},
                "frontend": {"commitSha": "0" * 40, "commitUrl": "https://example.invalid/frontend"},
            },
        }

    def _internal_squads(self) -> dict[str, Any]:
        # get-internal-squads.command.ts {total, internalSquads} at 2.0.0 and 3.3.2;
        # internal-squad.schema.ts has viewPosition at 2.7.4 and later, not at 2.0.0.
        squads = []
        for position, (squad_uuid, name) in enumerate(self.squads.items(), start=1):
            members = sum(1 for u in self.users.values() if squad_uuid in u["activeInternalSquads"])
            squad: dict[str, Any] = {"uuid": squad_uuid}
            if self.profile != "2.0":
                squad["viewPosition"] = position
            squad.update(
                {
                    "name": name,
                    "info": {"membersCount": members, "inboundsCount": 1},
                    "inbounds": [],
                    "createdAt": "2025-01-01T00:00:00.000Z",
                    "updatedAt": "2025-01-01T00:00:00.000Z",
                }
            )
            squads.append(squad)
        return {"total": len(squads), "internalSquads": squads}

    # --- users ------------------------------------------------------------------------
    def _create(self, body: Any) -> dict[str, Any]:
        if not isinstance(body, dict):
            raise validation_error([_issue(None, "Expected object", "invalid_type")])
        issues: list[dict[str, Any]] = []
        username = body.get("username")
        # create-user.command.ts: regex ^[a-zA-Z0-9_-]+$, max 36, min 6 at 2.0.0-2.0.8, min 3 from 2.1.0
        minimum = 6 if self.profile == "2.0" else 3
        if "username" not in body:
            issues.append(_issue("username", "Username is required", "invalid_type"))
        elif not isinstance(username, str):
            issues.append(_issue("username", "Username must be a string", "invalid_type"))
        else:
            if not USERNAME_RE.match(username):
                issues.append(
                    _issue(
                        "username",
                        "Username can only contain letters, numbers, underscores and dashes",
                        "invalid_string",
                    )
                )
            if len(username) > 36:
                issues.append(_issue("username", "Username must be less than 36 characters", "too_big"))
            if len(username) < minimum:
                issues.append(_issue("username", f"Username must be at least {minimum} characters", "too_small"))
        # expireAt required; on create no "in the past" refinement (only update-user.command.ts has one).
        expire = None
        if "expireAt" not in body:
            issues.append(_issue("expireAt", "Expiration date is required", "invalid_type"))
        else:
            expire = _parse_datetime(body["expireAt"])
            if expire is None:
                issues.append(_issue("expireAt", "Invalid date format", "invalid_string"))
        if "status" in body and body["status"] not in STATUSES:
            issues.append(_issue("status", "Invalid enum value", "invalid_enum_value"))
        issues += self._common_field_issues(body)
        # create-user.command.ts at 2.0.0, 2.8.1 and 3.0.0: hwidDeviceLimit optional int >= 0, NOT
        # nullable on create (null is refused; leave the key out for the panel's default).
        if "hwidDeviceLimit" in body and not (_is_int(body["hwidDeviceLimit"]) and body["hwidDeviceLimit"] >= 0):
            issues.append(_issue("hwidDeviceLimit", "Device limit must be a number", "invalid_type"))
        if issues:
            raise validation_error(issues)
        if username in self.users:
            raise panel_error("A019")  # users.service.ts createUser: P2002 on username
        squads = list(body.get("activeInternalSquads") or [])
        if any(squad not in self.squads for squad in squads):
            # 3.3.2 users.service.ts createUser: the foreign key fails in the one nested create,
            # nothing is stored, the catch answers CREATE_USER_ERROR (2.0.0: same, in a transaction).
            raise panel_error("A018")
        return self._store_user(body, expire)

    def _common_field_issues(self, body: dict[str, Any]) -> list[dict[str, Any]]:
        """Fields shared by create and update (create-user / update-user.command.ts)."""
        issues = []
        if "trafficLimitBytes" in body and not (
            _is_number(body["trafficLimitBytes"]) and body["trafficLimitBytes"] >= 0
        ):
            issues.append(_issue("trafficLimitBytes", "Traffic limit must be greater than 0", "too_small"))
        if "trafficLimitStrategy" in body and body["trafficLimitStrategy"] not in STRATEGIES:
            issues.append(_issue("trafficLimitStrategy", "Invalid traffic limit strategy", "invalid_enum_value"))
        if "telegramId" in body and body["telegramId"] is not None and not _is_int(body["telegramId"]):
            issues.append(_issue("telegramId", "Expected number", "invalid_type"))
        if "description" in body and body["description"] is not None and not isinstance(body["description"], str):
            issues.append(_issue("description", "Expected string", "invalid_type"))
        tag = body.get("tag")
        if tag is not None and not (isinstance(tag, str) and TAG_RE.match(tag) and len(tag) <= 16):
            issues.append(
                _issue("tag", "Tag can only contain uppercase letters, numbers, underscores", "invalid_string")
            )
        squads = body.get("activeInternalSquads")
        if "activeInternalSquads" in body and not (
            isinstance(squads, list) and all(isinstance(s, str) and UUID_RE.match(s) for s in squads)
        ):
            issues.append(_issue("activeInternalSquads", "Invalid uuid", "invalid_string"))
        return issues

    def _store_user(self, body: dict[str, Any], expire: datetime) -> dict[str, Any]:
        now = _now()
        user = {
            "id": self._next_id,
            "uuid": str(uuidlib.uuid4()),
            "vlessUuid": str(uuidlib.uuid4()),
            "shortUuid": uuidlib.uuid4().hex[:16],
            "username": body["username"],
            "status": body.get("status", "ACTIVE"),
            "expireAt": expire,
            "trafficLimitBytes": int(body.get("trafficLimitBytes") or 0),
            "trafficLimitStrategy": body.get("trafficLimitStrategy", "NO_RESET"),
            "telegramId": body.get("telegramId"),
            "description": body.get("description"),
            "tag": body.get("tag"),
            "hwidDeviceLimit": body.get("hwidDeviceLimit"),
            "activeInternalSquads": list(body.get("activeInternalSquads") or []),
            "usedTrafficBytes": 0,
            "lifetimeUsedTrafficBytes": 0,
            "lastTrafficResetAt": None,
            "onlineAt": None,
            "firstConnectedAt": None,
            "createdAt": now,
            "updatedAt": now,
        }
        self._next_id += 1
        self.users[user["username"]] = user
        return user

    def _patch(self, body: Any) -> dict[str, Any]:
        if not isinstance(body, dict):
            raise validation_error([_issue(None, "Expected object", "invalid_type")])
        issues: list[dict[str, Any]] = []
        if self.profile == "2.0":
            # 2.0.0 update-user.command.ts: UsersSchema.pick({uuid}) - uuid required (to 2.1.13);
            # `username` and `id` are not keys of the schema and are dropped.
            if "uuid" not in body:
                issues.append(_issue("uuid", "Required", "invalid_type"))
            elif not (isinstance(body["uuid"], str) and UUID_RE.match(body["uuid"])):
                issues.append(_issue("uuid", "Invalid uuid", "invalid_string"))
        elif self.profile in ("2.7", "2.8"):
            # 2.5.0 .. 2.8.1 update-user.command.ts: uuid (wins) or username; `id` is dropped.
            if body.get("uuid") is not None and not (isinstance(body["uuid"], str) and UUID_RE.match(body["uuid"])):
                issues.append(_issue("uuid", "Invalid uuid", "invalid_string"))
            if body.get("username") is not None and not isinstance(body["username"], str):
                issues.append(_issue("username", "Expected string", "invalid_type"))
        else:
            # 3.0.0 update-user.command.ts: id (wins, users.repository.ts findUniqueByCriteria) or
            # username; `uuid` is dropped.
            if body.get("id") is not None and not _is_number(body["id"]):
                issues.append(_issue("id", "Invalid input: expected number", "invalid_type"))
            if body.get("username") is not None and not isinstance(body["username"], str):
                issues.append(_issue("username", "Invalid input: expected string", "invalid_type"))
        if "status" in body and body["status"] not in (STATUSES if self.profile == "2.0" else ("ACTIVE", "DISABLED")):
            # 2.1.0+: "You can't change status to LIMITED or EXPIRED"; 2.0.0 takes UsersSchema.status
            issues.append(_issue("status", "You can't change status to LIMITED or EXPIRED.", "invalid_enum_value"))
        expire = None
        if "expireAt" in body:
            expire = _parse_datetime(body["expireAt"])
            if expire is None:
                issues.append(_issue("expireAt", "Invalid date format", "invalid_string"))
            elif expire <= _now():
                issues.append(_issue("expireAt", "Expiration date cannot be in the past"))
        issues += self._common_field_issues(body)
        # update-user.command.ts at 2.0.0, 2.8.1, 3.0.0: hwidDeviceLimit int >= 0 or null (null clears it).
        limit = body.get("hwidDeviceLimit")
        if limit is not None and not (_is_int(limit) and limit >= 0):
            issues.append(_issue("hwidDeviceLimit", "Device limit must be non-negative", "too_small"))
        if not issues:
            if self.profile in ("2.7", "2.8") and not (body.get("uuid") or body.get("username")):
                issues.append(_issue(None, "Either uuid or username must be provided"))
            if self.profile == "3.0" and not (body.get("username") or body.get("id")):
                issues.append(_issue(None, "At least one of username, id must be provided"))
        if issues:
            raise validation_error(issues)

        if self.profile == "3.0":
            if body.get("id") is not None:
                user = self._find(lambda u: u["id"] == body["id"], "A025")
            else:
                user = self._find(lambda u: u["username"] == body["username"], "A025")
        elif body.get("uuid"):
            user = self._find(lambda u: u["uuid"] == body["uuid"].lower(), "A025")
        else:
            user = self._find(lambda u: u["username"] == body["username"], "A025")

        before = dict(user)
        for key in ("trafficLimitBytes", "trafficLimitStrategy", "telegramId", "description", "tag", "hwidDeviceLimit"):
            if key in body:
                user[key] = body[key]
        if expire is not None:
            user["expireAt"] = expire
            # users.service.ts updateUser (2.0.0 and 3.3.2): an EXPIRED user given a new future
            # expireAt without a status becomes ACTIVE.
            if before["status"] == "EXPIRED" and "status" not in body and expire != before["expireAt"]:
                user["status"] = "ACTIVE"
        if "status" in body:
            user["status"] = body["status"]
        user["updatedAt"] = _now()
        squads = body.get("activeInternalSquads")
        if squads is not None and set(squads) != set(user["activeInternalSquads"]):
            if any(squad not in self.squads for squad in squads):
                if self.profile == "2.0":
                    # 2.0.0 users.service.ts updateUserTransactional: rolled back, nothing changes.
                    user.clear()
                    user.update(before)
                else:
                    # 2.7.4 .. 3.3.2 users.repository.ts update: no transaction - the fields are
                    # saved and the old squads removed before the insert of the new ones fails.
                    user["activeInternalSquads"] = []
                raise panel_error("A039")
            user["activeInternalSquads"] = list(squads)
        return user

    def _set_status(self, user: dict[str, Any], action: str) -> dict[str, Any]:
        # users.service.ts enableUser / disableUser (2.0.0, 2.8.1, 3.3.2): already in that state -> 400.
        if action == "enable" and user["status"] == "ACTIVE":
            raise panel_error("A030")
        if action == "disable" and user["status"] == "DISABLED":
            raise panel_error("A029")
        user["status"] = "ACTIVE" if action == "enable" else "DISABLED"
        user["updatedAt"] = _now()
        return user

    def _find(self, predicate, not_found: str) -> dict[str, Any]:
        for user in self.users.values():
            if predicate(user):
                return user
        raise panel_error(not_found)

    def _get_by_ref(self, ref: str, not_found: str) -> dict[str, Any]:
        if self.profile != "3.0":
            # 2.x get-user-by-uuid / delete-user / actions: {uuid: z.string().uuid()}
            if not UUID_RE.match(ref):
                raise validation_error([_issue("uuid", "Invalid uuid", "invalid_string")])
            return self._find(lambda u: u["uuid"] == ref.lower(), not_found)
        # 3.0.0 models/path-params.schema.ts numberParamSchema = z.coerce.number().positive()
        try:
            number = float(ref)
        except ValueError:
            raise validation_error([_issue("userId", "Invalid input: expected number, received NaN", "invalid_type")])
        if not number > 0:
            raise validation_error([_issue("userId", "Too small: expected number to be >0", "too_small")])
        return self._find(lambda u: u["id"] == number, not_found)

    def _by_telegram_id(self, raw: str) -> list[dict[str, Any]]:
        # 2.x get-user-by-telegram-id.command.ts: {telegramId: z.string()}; the service does
        # BigInt(telegramId), which throws for a non-number -> GET_USER_BY_ERROR.
        if not raw.isdigit():
            raise panel_error("A026")
        found = [self._public(u) for u in self.users.values() if str(u.get("telegramId")) == raw]
        if not found and self.profile == "2.0":
            raise panel_error("A062")  # 2.0.0 .. 2.2.6 users.service.ts: none -> USERS_NOT_FOUND
        return found  # 2.3.0 and later: an empty list

    def _stream(self, query: dict[str, list[str]]) -> dict[str, Any]:
        issues = []
        users = sorted(self.users.values(), key=lambda u: u["id"])
        cursor = query.get("cursor", [None])[0]
        size_raw = query.get("size", ["250"])[0]
        try:
            size = float(size_raw)
        except ValueError:
            size = float("nan")
        if not (1 <= size <= 1000) or (self.profile == "2.8" and size != int(size)):
            issues.append(_issue("size", "Size (limit) must be between 1 and 1000", "too_small"))
        if cursor is not None and not cursor.isdigit():
            issues.append(_issue("cursor", "Cursor must be a positive integer string", "invalid_string"))
        if self.profile == "3.0":
            # 3.0.0 get-users-stream.command.ts: filters telegramId (string -> non-negative number),
            # status, trafficLimitStrategy, tag... In 2.8.0 the query schema has only cursor and size:
            # every other key (telegramId included) is dropped and all users are listed.
            if "telegramId" in query:
                raw = query["telegramId"][0]
                try:
                    telegram_id = float(raw)
                except ValueError:
                    telegram_id = float("nan")
                if not telegram_id >= 0:
                    issues.append(_issue("telegramId", "Invalid input: expected number", "invalid_type"))
                users = [u for u in users if u.get("telegramId") is not None and u["telegramId"] == telegram_id]
            if "status" in query:
                if query["status"][0] not in STATUSES:
                    issues.append(_issue("status", "Invalid option", "invalid_value"))
                users = [u for u in users if u["status"] == query["status"][0]]
            if "tag" in query:
                users = [u for u in users if u.get("tag") == query["tag"][0]]
        if issues:
            raise validation_error(issues)
        if cursor:
            users = [u for u in users if u["id"] > int(cursor)]
        # 2.8.0 users.repository.ts getUsersStream: keyset on id, size + 1 rows to tell hasMore.
        page = users[: int(size)]
        has_more = len(users) > len(page)
        return {
            "users": [self._public(u) for u in page],
            "nextCursor": str(page[-1]["id"]) if has_more else None,
            "hasMore": has_more,
        }

    # --- HWID devices --------------------------------------------------------------------
    def _hwid_list(self, ref: str) -> dict[str, Any]:
        # 2.x get-user-hwid-devices.command.ts {userUuid: z.string().uuid()}; 3.0.0 {userId:
        # z.coerce.number()}. hwid-user-devices.service.ts getUserHwidDevices: no user -> A025.
        if self.profile != "3.0":
            if not UUID_RE.match(ref):
                raise validation_error([_issue("userUuid", "Invalid uuid", "invalid_string")])
            user = self._find(lambda u: u["uuid"] == ref.lower(), "A025")
        else:
            try:
                number = float(ref)
            except ValueError:
                number = float("nan")
            if number != number:
                raise validation_error([_issue("userId", "Invalid input: expected number, received NaN")])
            user = self._find(lambda u: u["id"] == number, "A025")
        return self._device_list(user)

    def _hwid_delete(self, body: Any) -> dict[str, Any]:
        if not isinstance(body, dict):
            raise validation_error([_issue(None, "Expected object", "invalid_type")])
        issues = []
        if not isinstance(body.get("hwid"), str):
            issues.append(_issue("hwid", "Required", "invalid_type"))
        if self.profile != "3.0":
            # 2.0.0 .. 2.8.1 delete-user-hwid-device.command.ts: {userUuid: uuid, hwid: string}
            if not (isinstance(body.get("userUuid"), str) and UUID_RE.match(body["userUuid"])):
                issues.append(_issue("userUuid", "Invalid uuid", "invalid_string"))
        elif not _is_number(body.get("userId")):
            # 3.0.0 .. 3.3.2: {userId: z.number(), hwid: z.string()}
            issues.append(_issue("userId", "Invalid input: expected number", "invalid_type"))
        if issues:
            raise validation_error(issues)
        if self.profile != "3.0":
            user = self._find(lambda u: u["uuid"] == body["userUuid"].lower(), "A025")
        else:
            user = self._find(lambda u: u["id"] == body["userId"], "A025")
        rows = self.devices.get(user["username"], [])
        if not any(row["hwid"] == body["hwid"] for row in rows):
            # 2.0.0 repository deleteByHwidAndUserUuid: prisma delete throws -> DELETE_HWID_USER_DEVICE_ERROR;
            # 2.3.0 .. 3.3.2 service: findFirstByCriteria, none -> HWID_DEVICE_NOT_FOUND.
            raise panel_error("A101" if self.profile == "2.0" else "A204")
        rows[:] = [row for row in rows if row["hwid"] != body["hwid"]]
        return self._device_list(user)

    def _device_list(self, user: dict[str, Any]) -> dict[str, Any]:
        # BaseUserHwidDevicesResponseModel: 2.0.0 .. 2.7.4 userUuid; 2.8.0 .. 3.3.2 userId and requestIp.
        devices = []
        for row in self.devices.get(user["username"], []):
            device = {"hwid": row["hwid"]}
            if self.profile in ("2.0", "2.7"):
                device["userUuid"] = row["userUuid"]
            else:
                device["userId"] = row["userId"]
            for key in ("platform", "osVersion", "deviceModel", "userAgent"):
                device[key] = row[key]
            if self.profile not in ("2.0", "2.7"):
                device["requestIp"] = row["requestIp"]
            device["createdAt"] = _iso(row["createdAt"])
            device["updatedAt"] = _iso(row["updatedAt"])
            devices.append(device)
        return {"total": len(devices), "devices": devices}

    def _public(self, user: dict[str, Any]) -> dict[str, Any]:
        data = dict(user)
        data["expireAt"] = _iso(user["expireAt"])
        data["lastTrafficResetAt"] = _iso(user["lastTrafficResetAt"])
        if self.profile != "2.0":
            # 2.3.0 user-traffic.schema.ts: the counters moved to `userTraffic` (2.0.0: on the user).
            data["userTraffic"] = {
                "usedTrafficBytes": data.pop("usedTrafficBytes"),
                "lifetimeUsedTrafficBytes": data.pop("lifetimeUsedTrafficBytes"),
                "onlineAt": _iso(data.pop("onlineAt")),
                "firstConnectedAt": _iso(data.pop("firstConnectedAt")),
                "lastConnectedNodeUuid": None,
            }
        else:
            data["onlineAt"] = _iso(user["onlineAt"])
            data["firstConnectedAt"] = _iso(user["firstConnectedAt"])
        data["createdAt"] = _iso(user["createdAt"])
        data["updatedAt"] = _iso(user["updatedAt"])
        data["subscriptionUrl"] = f"{self.public_url}/{user['shortUuid']}"
        data["activeInternalSquads"] = [
            {"uuid": squad, "name": self.squads.get(squad, "")} for squad in user["activeInternalSquads"]
        ]
        # users.schema.ts: 2.0.0 uuid only; 2.7.4 / 2.8.1 uuid and id; 3.0.0 id only.
        if self.profile == "2.0":
            data.pop("id")
        elif self.profile == "3.0":
            data.pop("uuid")
        return data


def _profile(value: str) -> str:
    profile = ALIASES.get(str(value), str(value))
    if profile not in PROFILES:
        raise ValueError(f"unknown panel profile {value!r}; one of {PROFILES} or {tuple(ALIASES)}")
    return profile


class _Handler(BaseHTTPRequestHandler):
    fake: FakeRemnawavePanel
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - quiet test output
        return

    def _serve(self) -> None:
        fake = self.fake
        split = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = raw.decode("utf-8", "replace")
        query = parse_qs(split.query)
        with fake._lock:
            fake.calls.append(Call(self.command, split.path, query, body, dict(self.headers.items())))
        if fake.drop:
            self.close_connection = True
            self.connection.close()
            return
        if fake.down:
            self._json(503, {"message": "Service Unavailable", "statusCode": 503})
            return
        token = fake.authorized(self.headers.get("Authorization"))
        if token is None:
            self._json(401, {"message": "Unauthorized", "statusCode": 401})
            return
        latency = fake._latency_for(self.command, split.path)
        if latency:
            time.sleep(latency)
        injection = fake._take_injection(self.command, split.path)
        if injection is not None and injection.delay:
            time.sleep(injection.delay)
        elif injection is not None:
            self._json(
                injection.status,
                {"message": "Injected failure", "statusCode": injection.status, "errorCode": "E500"},
            )
            return
        hang = 0.0
        try:
            with fake._lock:
                is_create = self.command == "POST" and split.path.rstrip("/") == "/api/users"
                status, payload = fake.handle(self.command, split.path, query, body, token=token)
                if is_create and fake._hang_after_create:
                    hang, fake._hang_after_create = fake._hang_after_create, 0.0
        except PanelHttpError as exc:
            error = dict(exc.body)
            if "path" in error:
                error["path"] = self.path
            self._json(exc.status, error)
            return
        if hang:
            time.sleep(hang)
        if status == 204:
            self.send_response(204)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        self._json(status, {"response": payload})

    def _json(self, status: int, payload: Any) -> None:
        data = json.dumps(payload).encode()
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        except OSError:
            pass  # the client gave up (an injected timeout)

    do_GET = do_POST = do_PATCH = do_DELETE = do_PUT = _serve
