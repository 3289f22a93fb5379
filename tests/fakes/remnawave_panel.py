"""A fake Remnawave panel: real HTTP on 127.0.0.1, the contract of
shared/docs/remnawave.md for API generations 2.x and 3.x, with failure injection.

Covered: bearer auth; wrapped {"response": ...} bodies; error bodies
{"message", "errorCode", "statusCode"}; users create / get by username / get by
Telegram id (2.x by-telegram-id, 3.x stream?telegramId=) / get by uuid or id /
PATCH (2.x by uuid, 3.x by id or username) / enable / disable / delete (3.x:
204 without body); username rules (3-36 chars of [A-Za-z0-9_-], unique);
future-only expireAt; 3.x numeric ids (400 for non-numeric ones); every call
recorded. Failure injection: fail_next (5xx N times), delay_next (slow or timed
out answers), set_latency (every matching call is slow until set back to 0),
create_then_hang (the panel stores the user, then answers too late), down (503
for everything until set back to False) and drop (connection closed without answer).
"""

from __future__ import annotations

import json
import re
import threading
import time
import uuid as uuidlib
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

USERNAME_RE = re.compile(r"^[A-Za-z0-9_-]{3,36}$")
UUID_RE = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
STATUSES = {"ACTIVE", "DISABLED", "LIMITED", "EXPIRED"}
STRATEGIES = {"NO_RESET", "DAY", "WEEK", "MONTH"}


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
    def __init__(self, status: int, message: str, code: str) -> None:
        super().__init__(message)
        self.status, self.message, self.code = status, message, code


def _now() -> datetime:
    return datetime.now(UTC)


def _iso(value: datetime | None) -> str | None:
    return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z") if value else None


def _parse_expire(value: Any) -> datetime:
    if not isinstance(value, str):
        raise PanelHttpError(400, "expireAt: Invalid datetime", "A001")
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise PanelHttpError(400, "expireAt: Invalid datetime", "A001")
    if parsed.tzinfo is None:
        raise PanelHttpError(400, "expireAt: Invalid datetime (no offset)", "A001")
    if parsed <= _now():
        raise PanelHttpError(400, "expireAt: Expiration date cannot be in the past", "A001")
    return parsed


@dataclass
class FakeRemnawavePanel:
    version: str = "2"
    token: str = "test-panel-token"
    public_url: str = "https://sub.example.test"
    users: dict[str, dict[str, Any]] = field(default_factory=dict)
    calls: list[Call] = field(default_factory=list)
    down: bool = False
    drop: bool = False

    def __post_init__(self) -> None:
        self._lock = threading.RLock()
        self._injections: list[_Injection] = []
        self._hang_after_create: float = 0.0
        self._latency = _Injection(count=0, path_contains="", method="", status=0, delay=0.0)
        self._next_id = 1
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

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

    def add_user(self, username: str, *, expire_at: datetime, telegram_id: int | None = None, status: str = "ACTIVE"):
        """Seed a panel user directly (e.g. one made by an earlier lost answer)."""
        with self._lock:
            return self._store_user(
                {"username": username, "expireAt": _iso(expire_at), "telegramId": telegram_id, "status": status},
                validate_expiry=False,
            )

    # --- the API --------------------------------------------------------------------
    def handle(self, method: str, path: str, query: dict[str, list[str]], body: Any) -> tuple[int, Any]:
        parts = [p for p in path.split("/") if p]
        if parts[:2] != ["api", "users"]:
            raise PanelHttpError(404, f"Cannot {method} {path}", "")
        rest = parts[2:]
        with self._lock:
            if method == "POST" and not rest:
                return 201, self._create(body)
            if method == "PATCH" and not rest:
                return 200, self._patch(body)
            if method == "GET" and rest[:1] == ["by-username"] and len(rest) == 2:
                return 200, self._public(self._get_by_username(rest[1]))
            if method == "GET" and rest[:1] == ["by-telegram-id"] and len(rest) == 2 and self.version == "2":
                return 200, self._by_telegram_id(rest[1])
            if method == "GET" and rest == ["stream"] and self.version == "3":
                return 200, self._stream(query)
            if method == "GET" and len(rest) == 1:
                return 200, self._public(self._get_by_ref(rest[0]))
            if method == "POST" and len(rest) == 3 and rest[1] == "actions" and rest[2] in ("enable", "disable"):
                user = self._get_by_ref(rest[0])
                user["status"] = "ACTIVE" if rest[2] == "enable" else "DISABLED"
                user["updatedAt"] = _now()
                return 200, self._public(user)
            if method == "DELETE" and len(rest) == 1:
                user = self._get_by_ref(rest[0])
                del self.users[user["username"]]
                return (204, None) if self.version == "3" else (200, {"isDeleted": True})
        raise PanelHttpError(404, f"Cannot {method} {path}", "")

    def _create(self, body: Any) -> dict[str, Any]:
        if not isinstance(body, dict):
            raise PanelHttpError(400, "Validation failed: body must be an object", "A001")
        username = body.get("username")
        if not isinstance(username, str) or not USERNAME_RE.match(username):
            raise PanelHttpError(400, "username: 3-36 characters of A-Z a-z 0-9 _ -", "A001")
        if "expireAt" not in body:
            raise PanelHttpError(400, "expireAt: Required", "A001")
        if username in self.users:
            raise PanelHttpError(400, "User username already exists", "A019")
        user = self._store_user(body, validate_expiry=True)
        return self._public(user)

    def _store_user(self, body: dict[str, Any], *, validate_expiry: bool) -> dict[str, Any]:
        expire = _parse_expire(body["expireAt"]) if validate_expiry else _parse_any(body["expireAt"])
        strategy = body.get("trafficLimitStrategy", "NO_RESET")
        if strategy not in STRATEGIES:
            raise PanelHttpError(400, "trafficLimitStrategy: Invalid enum value", "A001")
        status = body.get("status", "ACTIVE")
        if status not in STATUSES:
            raise PanelHttpError(400, "status: Invalid enum value", "A001")
        now = _now()
        user = {
            "id": self._next_id,
            "uuid": str(uuidlib.uuid4()),
            "vlessUuid": str(uuidlib.uuid4()),
            "shortUuid": uuidlib.uuid4().hex[:16],
            "username": body["username"],
            "status": status,
            "expireAt": expire,
            "trafficLimitBytes": int(body.get("trafficLimitBytes") or 0),
            "trafficLimitStrategy": strategy,
            "telegramId": body.get("telegramId"),
            "description": body.get("description"),
            "tag": body.get("tag"),
            "hwidDeviceLimit": body.get("hwidDeviceLimit"),
            "activeInternalSquads": list(body.get("activeInternalSquads") or []),
            "createdAt": now,
            "updatedAt": now,
        }
        self._next_id += 1
        self.users[user["username"]] = user
        return user

    def _patch(self, body: Any) -> dict[str, Any]:
        if not isinstance(body, dict):
            raise PanelHttpError(400, "Validation failed: body must be an object", "A001")
        if self.version == "2":
            if not isinstance(body.get("uuid"), str) or not UUID_RE.match(body["uuid"]):
                raise PanelHttpError(400, "uuid: Invalid uuid", "A001")
            user = self._find(lambda u: u["uuid"] == body["uuid"])
        else:
            # 3.x: `uuid` is not a key any more; it is dropped and validation fails.
            if "id" in body:
                if not isinstance(body["id"], int):
                    raise PanelHttpError(400, "id: Expected number", "A001")
                user = self._find(lambda u: u["id"] == body["id"])
            elif "username" in body:
                user = self._find(lambda u: u["username"] == body["username"])
            else:
                raise PanelHttpError(400, "Validation failed: id or username is required", "A001")
        if "expireAt" in body:
            user["expireAt"] = _parse_expire(body["expireAt"])
        if "status" in body:
            if body["status"] not in ("ACTIVE", "DISABLED"):
                raise PanelHttpError(400, "status: Invalid enum value", "A001")
            user["status"] = body["status"]
        if "trafficLimitStrategy" in body:
            if body["trafficLimitStrategy"] not in STRATEGIES:
                raise PanelHttpError(400, "trafficLimitStrategy: Invalid enum value", "A001")
            user["trafficLimitStrategy"] = body["trafficLimitStrategy"]
        for key in ("trafficLimitBytes", "hwidDeviceLimit", "activeInternalSquads", "telegramId", "description", "tag"):
            if key in body:
                user[key] = body[key]
        user["updatedAt"] = _now()
        return self._public(user)

    def _find(self, predicate) -> dict[str, Any]:
        for user in self.users.values():
            if predicate(user):
                return user
        raise PanelHttpError(404, "User not found", "A063")

    def _get_by_username(self, username: str) -> dict[str, Any]:
        return self._find(lambda u: u["username"] == username)

    def _get_by_ref(self, ref: str) -> dict[str, Any]:
        if self.version == "2":
            if not UUID_RE.match(ref):
                raise PanelHttpError(400, "uuid: Invalid uuid", "A001")
            return self._find(lambda u: u["uuid"] == ref)
        if not ref.isdigit():
            raise PanelHttpError(400, "id: Expected number, received string", "A001")
        return self._find(lambda u: u["id"] == int(ref))

    def _by_telegram_id(self, raw: str) -> list[dict[str, Any]]:
        if not raw.isdigit():
            raise PanelHttpError(400, "telegramId: Expected number", "A001")
        found = [self._public(u) for u in self.users.values() if str(u.get("telegramId")) == raw]
        if not found:
            raise PanelHttpError(404, "Users not found", "A063")
        return found

    def _stream(self, query: dict[str, list[str]]) -> dict[str, Any]:
        users = list(self.users.values())
        if "telegramId" in query:
            raw = query["telegramId"][0]
            if not raw.isdigit():
                raise PanelHttpError(400, "telegramId: Expected number", "A001")
            users = [u for u in users if str(u.get("telegramId")) == raw]
        size = int(query.get("size", ["25"])[0])
        return {"users": [self._public(u) for u in users[:size]], "total": len(users)}

    def _public(self, user: dict[str, Any]) -> dict[str, Any]:
        data = dict(user)
        data["expireAt"] = _iso(user["expireAt"])
        data["createdAt"] = _iso(user["createdAt"])
        data["updatedAt"] = _iso(user["updatedAt"])
        data["subscriptionUrl"] = f"{self.public_url}/{user['shortUuid']}"
        if self.version == "2":
            data.pop("id")
            data.pop("vlessUuid")
        else:
            data.pop("uuid")
        return data


def _parse_any(value: Any) -> datetime:
    return datetime.fromisoformat(str(value).replace("Z", "+00:00"))


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
            self._error(503, "Service Unavailable", "")
            return
        if self.headers.get("Authorization") != f"Bearer {fake.token}":
            self._error(401, "Unauthorized", "")
            return
        latency = fake._latency_for(self.command, split.path)
        if latency:
            time.sleep(latency)
        injection = fake._take_injection(self.command, split.path)
        if injection is not None and injection.delay:
            time.sleep(injection.delay)
        elif injection is not None:
            self._error(injection.status, "Injected failure", "E500")
            return
        hang = 0.0
        try:
            with fake._lock:
                is_create = self.command == "POST" and split.path.rstrip("/") == "/api/users"
                status, payload = fake.handle(self.command, split.path, query, body)
                if is_create and fake._hang_after_create:
                    hang, fake._hang_after_create = fake._hang_after_create, 0.0
        except PanelHttpError as exc:
            self._error(exc.status, exc.message, exc.code)
            return
        if hang:
            time.sleep(hang)
        if status == 204:
            self.send_response(204)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        self._json(status, {"response": payload})

    def _error(self, status: int, message: str, code: str) -> None:
        body: dict[str, Any] = {"message": message, "statusCode": status}
        if code:
            body["errorCode"] = code
        self._json(status, body)

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
