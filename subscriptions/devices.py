"""The buyer's own view of their panel user: the devices the panel registered (with removal)
and the traffic used. Read from the panel on request, never on a payment path.

These calls happen while the buyer waits (a bot screen, an API request), so each is
bounded: the buyer client has a short timeout (REMNAWAVE_READ_TIMEOUT) and no retries,
at most PANEL_LIVE_CALLS run at once per process (the rest answer from the cache at
once), and a failure answers from the last good reading or says the panel is not
answering. The buyer's panel user comes only from their own subscription's stored
identity, and a device is removed only if it is in their own list.

Removing a device runs in the request, not through the outbox: the buyer removes one to
connect another now, and the panel's delete is idempotent here (a device already gone is
success), so a timeout is answered "try again" and a second press is harmless.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from calendar import monthrange
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.utils import timezone

from integrations.remnawave import (
    API_V2,
    PanelDevice,
    PanelError,
    PanelNotFound,
    PanelUser,
    RemnawaveClient,
    parse_panel_datetime,
)
from subscriptions.backends import buyer_client, provisioning_enabled
from subscriptions.models import Subscription
from users.models import User

logger = logging.getLogger(__name__)

# Live panel calls a process makes for buyers at once: the bot's database threads and the
# web server's threads are shared with payments, so a slow panel may hold only this many.
PANEL_LIVE_CALLS = 2
_live_calls = threading.BoundedSemaphore(PANEL_LIVE_CALLS)

# The last good device list stays this long as the fallback while the panel does not answer.
DEVICES_FALLBACK_SECONDS = 24 * 3600
# A traffic reading the panel did not give is not asked again for this long.
TRAFFIC_FAILURE_CACHE_SECONDS = 15

# Device list states.
OK = "ok"  # read from the panel just now
STALE = "stale"  # the panel did not answer: the last good list (`fetched_at`)
UNAVAILABLE = "unavailable"  # the panel did not answer and nothing is known
NOT_PROVISIONED = "not_provisioned"  # no panel user yet (nothing bought, or being set up)
NO_PANEL = "no_panel"  # PROVISIONING_BACKEND=none: the shop has no devices to show

# Device limit kinds (from the tariff: None, 0 or N).
LIMIT_PANEL_DEFAULT = "panel_default"
LIMIT_UNLIMITED = "unlimited"
LIMIT_LIMITED = "limited"


class PanelBusy(Exception):
    """Every live slot is taken: answer from the cache instead of waiting."""


@dataclass(frozen=True)
class Device:
    """A device as the buyer sees it. `id` is opaque and stable (from the hwid), short
    enough for a button's callback data; the hwid itself is never shown."""

    id: str
    hwid: str
    platform: str
    os_version: str
    model: str
    first_seen: datetime | None
    last_seen: datetime | None

    @classmethod
    def of(cls, device: PanelDevice) -> Device:
        return cls(
            id=device_id_of(device.hwid),
            hwid=device.hwid,
            platform=device.platform,
            os_version=device.os_version,
            model=device.device_model,
            first_seen=device.created_at,
            last_seen=device.updated_at,
        )


@dataclass(frozen=True)
class DeviceLimit:
    kind: str  # panel_default / unlimited / limited
    count: int | None = None  # for `limited`


@dataclass(frozen=True)
class DeviceList:
    state: str
    limit: DeviceLimit
    devices: list[Device] = field(default_factory=list)
    fetched_at: datetime | None = None

    @property
    def used(self) -> int:
        return len(self.devices)

    @property
    def known(self) -> bool:
        return self.state in (OK, STALE)


@dataclass(frozen=True)
class DeviceRemoval:
    removed: bool  # False: it was not in the buyer's list (already gone, or never theirs)
    devices: DeviceList


@dataclass(frozen=True)
class Traffic:
    used_bytes: int
    limit_bytes: int  # 0 = unlimited
    strategy: str  # NO_RESET / DAY / WEEK / MONTH / MONTH_ROLLING
    last_reset_at: datetime | None
    next_reset_at: datetime | None


def device_id_of(hwid: str) -> str:
    return hashlib.sha256(hwid.encode()).hexdigest()[:16]


def device_limit_of(subscription: Subscription | None) -> DeviceLimit:
    """The tariff's device limit, as provisioning sends it: None = the panel's default
    (a number the shop does not know), 0 = unlimited, N = N devices."""
    tariff = subscription.tariff if subscription is not None and subscription.tariff_id else None
    limit = tariff.device_limit if tariff is not None else None
    if limit is None:
        return DeviceLimit(LIMIT_PANEL_DEFAULT)
    if limit == 0:
        return DeviceLimit(LIMIT_UNLIMITED)
    return DeviceLimit(LIMIT_LIMITED, limit)


def _subscription_of(user: User) -> Subscription | None:
    return Subscription.objects.select_related("tariff").filter(user=user).first()


def _devices_key(subscription: Subscription) -> str:
    return f"panel:devices:{subscription.pk}:{subscription.panel_username}"


def _traffic_key(subscription: Subscription) -> str:
    return f"panel:traffic:{subscription.pk}:{subscription.panel_username}"


def _live(fn, *args, **kwargs):
    """One bounded live call: refused at once (PanelBusy) when every slot is taken."""
    if not _live_calls.acquire(blocking=False):
        raise PanelBusy
    try:
        return fn(*args, **kwargs)
    finally:
        _live_calls.release()


def _panel_user(client: RemnawaveClient, subscription: Subscription) -> PanelUser | None:
    """The buyer's panel user from their subscription's stored identity: uuid on 2.x, id on
    3.x; by the stored username when the identity lacks the one this release wants (a
    panel upgraded since). None when the panel has no such user."""
    stored = PanelUser(
        username=subscription.panel_username,
        status="",
        expire_at=None,
        api_version=client.api_version,
        uuid=subscription.panel_user_uuid,
        id=subscription.panel_user_id,
    )
    if (client.generation == API_V2 and stored.uuid) or (client.generation != API_V2 and stored.id is not None):
        return stored
    return client.find_by_username(subscription.panel_username)


def _store(subscription: Subscription, devices: list[Device], now: datetime) -> None:
    rows = [
        {
            "hwid": d.hwid,
            "platform": d.platform,
            "os_version": d.os_version,
            "model": d.model,
            "first_seen": d.first_seen.isoformat() if d.first_seen else None,
            "last_seen": d.last_seen.isoformat() if d.last_seen else None,
        }
        for d in devices
    ]
    cache.set(_devices_key(subscription), {"devices": rows, "fetched_at": now.isoformat()}, DEVICES_FALLBACK_SECONDS)


def _cached(subscription: Subscription) -> tuple[list[Device], datetime] | None:
    data = cache.get(_devices_key(subscription))
    if not isinstance(data, dict):
        return None
    devices = [
        Device(
            id=device_id_of(row["hwid"]),
            hwid=row["hwid"],
            platform=row["platform"],
            os_version=row["os_version"],
            model=row["model"],
            first_seen=parse_panel_datetime(row["first_seen"]),
            last_seen=parse_panel_datetime(row["last_seen"]),
        )
        for row in data["devices"]
    ]
    return devices, parse_panel_datetime(data["fetched_at"])


def _fallback(subscription: Subscription, limit: DeviceLimit) -> DeviceList:
    cached = _cached(subscription)
    if cached is None:
        return DeviceList(state=UNAVAILABLE, limit=limit)
    devices, fetched_at = cached
    return DeviceList(state=STALE, limit=limit, devices=devices, fetched_at=fetched_at)


def _read_devices(subscription: Subscription) -> list[Device] | None:
    """The buyer's devices from the panel now; None when the panel has no such user."""
    client = buyer_client()
    user = _panel_user(client, subscription)
    if user is None:
        return None
    try:
        return [Device.of(device) for device in client.user_devices(user)]
    except PanelNotFound:
        return None


def devices_for(*, user: User) -> DeviceList:
    """The devices the panel registered for this buyer, with their device limit."""
    subscription = _subscription_of(user)
    limit = device_limit_of(subscription)
    if not provisioning_enabled():
        return DeviceList(state=NO_PANEL, limit=limit)
    if subscription is None or not subscription.panel_username:
        return DeviceList(state=NOT_PROVISIONED, limit=limit)
    try:
        devices = _live(_read_devices, subscription)
    except (PanelError, PanelBusy) as exc:
        logger.warning("devices of %s: the panel did not answer (%s)", subscription.panel_username, str(exc) or "busy")
        return _fallback(subscription, limit)
    if devices is None:
        return DeviceList(state=NOT_PROVISIONED, limit=limit)
    now = timezone.now()
    _store(subscription, devices, now)
    return DeviceList(state=OK, limit=limit, devices=devices, fetched_at=now)


def _delete_device(subscription: Subscription, device_id: str) -> tuple[bool, list[Device] | None]:
    client = buyer_client()
    user = _panel_user(client, subscription)
    if user is None:
        return False, None
    try:
        own = [Device.of(device) for device in client.user_devices(user)]
        # Only a device in the buyer's own list: an id from the client is never sent on as is.
        target = next((device for device in own if device.id == device_id), None)
        if target is None:
            return False, own
        left = [Device.of(device) for device in client.delete_device(user, hwid=target.hwid)]
    except PanelNotFound:
        return False, None
    return True, left


def device_remove(*, user: User, device_id: str) -> DeviceRemoval:
    """Remove one of the buyer's devices on the panel. A device not in their list (gone
    already, or someone else's) is success without a call to delete it. Raises nothing
    for the panel: when it did not answer, nothing was removed and `devices` is the last
    known list (`stale`) or `unavailable`."""
    subscription = _subscription_of(user)
    limit = device_limit_of(subscription)
    if not provisioning_enabled():
        return DeviceRemoval(removed=False, devices=DeviceList(state=NO_PANEL, limit=limit))
    if subscription is None or not subscription.panel_username:
        return DeviceRemoval(removed=False, devices=DeviceList(state=NOT_PROVISIONED, limit=limit))
    try:
        removed, left = _live(_delete_device, subscription, device_id)
    except (PanelError, PanelBusy) as exc:
        logger.warning(
            "device removal for %s: the panel did not answer (%s)", subscription.panel_username, str(exc) or "busy"
        )
        return DeviceRemoval(removed=False, devices=_fallback(subscription, limit))
    if left is None:
        return DeviceRemoval(removed=False, devices=DeviceList(state=NOT_PROVISIONED, limit=limit))
    now = timezone.now()
    _store(subscription, left, now)
    if removed:
        logger.info("device %s of %s removed on the panel", device_id, subscription.panel_username)
    return DeviceRemoval(removed=removed, devices=DeviceList(state=OK, limit=limit, devices=left, fetched_at=now))


# --- Traffic ---------------------------------------------------------------------------


def next_traffic_reset(strategy: str, *, now: datetime, created_at: datetime | None = None) -> datetime | None:
    """When the panel next sets the used traffic to zero (its cron jobs, UTC: scheduler/
    intervals.ts RESET_USER_TRAFFIC): DAY at midnight, WEEK on Monday, MONTH on the 1st,
    MONTH_ROLLING on the day of the month the user was created (the last day in a shorter
    month; users.repository.ts resetUserTraffic). NO_RESET: never."""
    today = now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    if strategy == "DAY":
        return today + timedelta(days=1)
    if strategy == "WEEK":
        return today + timedelta(days=7 - today.weekday())
    if strategy == "MONTH":
        return (today.replace(day=1) + timedelta(days=32)).replace(day=1)
    if strategy == "MONTH_ROLLING" and created_at is not None:
        anchor = created_at.astimezone(UTC).day
        year, month = today.year, today.month
        for _ in range(2):
            day = min(anchor, monthrange(year, month)[1])
            candidate = today.replace(year=year, month=month, day=day)
            if candidate > today:
                return candidate
            year, month = (year + 1, 1) if month == 12 else (year, month + 1)
        return None
    return None


def _traffic_of(panel_user: PanelUser) -> Traffic | None:
    if panel_user.used_traffic_bytes is None:
        return None
    return Traffic(
        used_bytes=panel_user.used_traffic_bytes,
        limit_bytes=panel_user.traffic_limit_bytes or 0,
        strategy=panel_user.traffic_limit_strategy,
        last_reset_at=panel_user.last_traffic_reset_at,
        next_reset_at=next_traffic_reset(
            panel_user.traffic_limit_strategy, now=timezone.now(), created_at=panel_user.created_at
        ),
    )


def _traffic_as_cached(traffic: Traffic | None) -> dict[str, Any]:
    if traffic is None:
        return {"traffic": None}
    return {
        "traffic": {
            "used_bytes": traffic.used_bytes,
            "limit_bytes": traffic.limit_bytes,
            "strategy": traffic.strategy,
            "last_reset_at": traffic.last_reset_at.isoformat() if traffic.last_reset_at else None,
            "next_reset_at": traffic.next_reset_at.isoformat() if traffic.next_reset_at else None,
        }
    }


def _traffic_from_cache(data: dict[str, Any]) -> Traffic | None:
    row = data.get("traffic")
    if not isinstance(row, dict):
        return None
    return Traffic(
        used_bytes=row["used_bytes"],
        limit_bytes=row["limit_bytes"],
        strategy=row["strategy"],
        last_reset_at=parse_panel_datetime(row["last_reset_at"]),
        next_reset_at=parse_panel_datetime(row["next_reset_at"]),
    )


def traffic_for(*, user: User) -> Traffic | None:
    """Traffic used and the limit, read from the panel at most once a minute per buyer
    (PANEL_READ_CACHE_SECONDS); None when there is no panel user or the panel did not
    answer. For "My subscription" and /me only: never call it on a payment path."""
    if not provisioning_enabled():
        return None
    subscription = _subscription_of(user)
    if subscription is None or not subscription.panel_username or not subscription.is_active:
        return None
    key = _traffic_key(subscription)
    cached = cache.get(key)
    if isinstance(cached, dict):
        return _traffic_from_cache(cached)
    try:
        panel_user = _live(buyer_client().find_by_username, subscription.panel_username)
    except (PanelError, PanelBusy) as exc:
        logger.info("traffic of %s: the panel did not answer (%s)", subscription.panel_username, str(exc) or "busy")
        cache.set(key, {"traffic": None}, TRAFFIC_FAILURE_CACHE_SECONDS)
        return None
    traffic = _traffic_of(panel_user) if panel_user is not None else None
    cache.set(key, _traffic_as_cached(traffic), settings.PANEL_READ_CACHE_SECONDS)
    return traffic
