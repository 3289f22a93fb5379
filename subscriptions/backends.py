"""Provisioning backends: where a subscription lives besides the database.

`none`: only in the database (the demo). `remnawave`: a panel user per
Telegram user. Chosen once from PROVISIONING_BACKEND and cached.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from django.conf import settings
from django.utils import timezone

from integrations.remnawave import (
    STATUS_ACTIVE,
    STATUS_DISABLED,
    USERNAME_MIN_LENGTH,
    PanelConfigError,
    PanelError,
    PanelRejected,
    PanelSquadsMissing,
    PanelUnavailable,
    PanelUser,
    RemnawaveClient,
)
from subscriptions.models import Location, Subscription, Tariff

logger = logging.getLogger(__name__)

# An expiry closer than this is treated as over: by the time the panel reads it
# it would be in the past, and the panel rejects a past expireAt.
ACTIVE_MARGIN = timedelta(minutes=1)


@dataclass(frozen=True)
class SyncResult:
    """What the panel holds after a sync; None fields mean "unchanged"."""

    panel_username: str = ""
    panel_user_uuid: str = ""
    panel_user_id: int | None = None
    panel_short_uuid: str = ""
    panel_api_version: str = ""
    subscription_url: str = ""
    action: str = "none"  # created / updated / disabled / none


@dataclass(frozen=True)
class SubscriptionState:
    """The database's view, read after the task was claimed (never a delta)."""

    telegram_id: int | None
    user_pk: int
    expires_at: datetime | None
    active: bool
    tariff: Tariff | None
    # The name the panel user was created with, once known: kept even if the prefix setting changes.
    panel_username: str = ""
    # What the panel user gets, from the configuration bought (else the tariff's limits).
    # device_limit: None = the panel's default, 0 = unlimited, N. traffic_strategy None = the
    # backend's (REMNAWAVE_TRAFFIC_STRATEGY). squads None = the backend's (REMNAWAVE_SQUADS).
    device_limit: int | None = None
    traffic_limit_bytes: int = 0
    traffic_strategy: str | None = None
    squads: list[str] | None = None
    # The shop sells locations: squads are the shop's to set on every update, also to
    # REMNAWAVE_SQUADS for a plan without locations (a simple shop leaves them as created).
    squads_on_update: bool = False


class ProvisioningBackend(Protocol):
    name: str

    def sync(self, state: SubscriptionState) -> SyncResult: ...


class NoneBackend:
    """The subscription lives only in the database: nothing to do."""

    name = "none"

    def sync(self, state: SubscriptionState) -> SyncResult:
        return SyncResult()


def panel_username_for(*, telegram_id: int | None, user_pk: int) -> str:
    """Deterministic (`tg_<telegram id>`), so a retry after a timeout finds the user it created.
    Zero-padded to 6 characters, the minimum of 2.0.x panels (`tg_u5` -> `tg_u05`): every
    release takes the same name, so a panel upgrade never makes a second user."""
    prefix = settings.REMNAWAVE_USERNAME_PREFIX
    if telegram_id:
        return f"{prefix}{int(telegram_id):0{max(USERNAME_MIN_LENGTH - len(prefix), 1)}d}"
    prefix = f"{prefix}u"
    return f"{prefix}{int(user_pk):0{max(USERNAME_MIN_LENGTH - len(prefix), 1)}d}"


class RemnawaveBackend:
    name = "remnawave"

    def __init__(self, client: RemnawaveClient, *, squads: list[str], traffic_strategy: str) -> None:
        self.client = client
        self.squads = squads
        self.traffic_strategy = traffic_strategy

    def sync(self, state: SubscriptionState) -> SyncResult:
        """Make the panel user match `state`: create, update the absolute expiry, or disable."""
        self.client.version  # noqa: B018 - the release decides every call below; unreadable = a clear error first
        username = state.panel_username or panel_username_for(telegram_id=state.telegram_id, user_pk=state.user_pk)
        existing = self.client.find_by_username(username)
        if not state.active:
            # Nothing (left) to use: disable; never send a past expireAt (the panel rejects it).
            if existing is None:
                return SyncResult(panel_username=username, panel_api_version=self.client.api_version)
            if existing.status != STATUS_DISABLED:
                existing = self.client.disable_user(existing)
            return self._result(existing, action="disabled")
        traffic = state.traffic_limit_bytes
        strategy = state.traffic_strategy or self.traffic_strategy
        # None = the panel's default limit, 0 = unlimited, N = N devices: the same on create and update.
        devices = state.device_limit
        squads = state.squads if state.squads is not None else self.squads
        if existing is None:
            try:
                created = self.client.create_user(
                    username=username,
                    expire_at=state.expires_at,
                    telegram_id=state.telegram_id,
                    squads=squads,
                    traffic_limit_bytes=traffic,
                    traffic_limit_strategy=strategy,
                    device_limit=devices,
                    description=f"shop user {state.user_pk}",
                )
                return self._result(created, action="created")
            except PanelConfigError:
                raise
            except PanelRejected as exc:
                # "Username taken": an earlier create went through but its answer was lost.
                existing = self.client.find_by_username(username)
                if existing is None:
                    raise
                logger.info("panel user %s already existed (%s); updating it", username, exc)
            except PanelUnavailable:
                # An unknown squad makes the panel fail the create with a 500 (A018): that is
                # the shop's configuration, not an outage, and retrying will not fix it.
                self._raise_if_squads_missing()
                raise
        updated = self.client.update_user(
            existing,
            expire_at=state.expires_at,
            status=STATUS_ACTIVE,
            traffic_limit_bytes=traffic,
            traffic_limit_strategy=strategy,
            device_limit=devices,
            squads=squads if state.squads is not None or state.squads_on_update else None,
        )
        return self._result(updated, action="updated")

    def check_squads(self) -> None:
        """Raise PanelSquadsMissing when REMNAWAVE_SQUADS names squads the panel does not have."""
        known = {squad.uuid for squad in self.client.internal_squads()}
        missing = [squad for squad in self.squads if squad not in known]
        if missing:
            raise PanelSquadsMissing(
                f"REMNAWAVE_SQUADS names internal squads the panel does not have: {', '.join(missing)}"
            )

    def _raise_if_squads_missing(self) -> None:
        try:
            self.check_squads()
        except PanelSquadsMissing:
            raise
        except PanelError as exc:
            logger.info("could not list the panel's squads after a failed create: %s", exc)

    def _result(self, user: PanelUser, *, action: str) -> SyncResult:
        return SyncResult(
            panel_username=user.username,
            panel_user_uuid=user.uuid,
            panel_user_id=user.id,
            panel_short_uuid=user.short_uuid,
            panel_api_version=user.api_version,
            subscription_url=user.subscription_url,
            action=action,
        )


_backend: ProvisioningBackend | None = None
_buyer_client: RemnawaveClient | None = None
_backend_lock = threading.Lock()


def get_backend() -> ProvisioningBackend:
    """The backend named by PROVISIONING_BACKEND, built once per process."""
    global _backend
    with _backend_lock:
        if _backend is None:
            _backend = build_backend()
        return _backend


def provisioning_enabled() -> bool:
    """False with PROVISIONING_BACKEND=none: no panel, so no subscription link to hand out."""
    return settings.PROVISIONING_BACKEND != "none"


def reset_backend() -> None:
    """Forget the cached backend and buyer client (tests that change settings)."""
    global _backend, _buyer_client
    with _backend_lock:
        if isinstance(_backend, RemnawaveBackend):
            _backend.client.close()
        if _buyer_client is not None:
            _buyer_client.close()
        _backend = _buyer_client = None


def buyer_client() -> RemnawaveClient:
    """The panel client for calls a buyer waits on (their devices, their traffic): the same
    panel and token as provisioning, but a short timeout (REMNAWAVE_READ_TIMEOUT) and no
    retries, so a slow panel costs a serving thread seconds, never minutes."""
    global _buyer_client
    with _backend_lock:
        if _buyer_client is None:
            _buyer_client = _client(timeout=settings.REMNAWAVE_READ_TIMEOUT, max_retries=0)
        return _buyer_client


def build_backend() -> ProvisioningBackend:
    if settings.PROVISIONING_BACKEND != "remnawave":
        return NoneBackend()
    client = _client(timeout=settings.REMNAWAVE_TIMEOUT, max_retries=settings.REMNAWAVE_MAX_RETRIES)
    return RemnawaveBackend(
        client, squads=list(settings.REMNAWAVE_SQUADS), traffic_strategy=settings.REMNAWAVE_TRAFFIC_STRATEGY
    )


def _client(*, timeout: float, max_retries: int) -> RemnawaveClient:
    return RemnawaveClient(
        base_url=settings.REMNAWAVE_URL,
        token=settings.REMNAWAVE_TOKEN,
        api_version=str(settings.REMNAWAVE_API_VERSION),
        extra_headers=settings.REMNAWAVE_EXTRA_HEADERS,
        forwarded=settings.REMNAWAVE_FORWARDED,
        timeout=timeout,
        max_retries=max_retries,
        retry_backoff=settings.REMNAWAVE_RETRY_BACKOFF,
    )


def subscription_state(*, subscription: Subscription) -> SubscriptionState:
    """Read what the panel should hold for this subscription: the configuration of its latest
    purchase (location changed since), else the limits of that purchase's tariff."""
    tariff = Tariff.objects.filter(pk=subscription.tariff_id).first() if subscription.tariff_id else None
    configuration = subscription.configuration or {}
    if configuration:
        limits = {
            "device_limit": configuration.get("device_limit"),
            "traffic_limit_bytes": int(configuration.get("traffic_limit_bytes") or 0),
            "traffic_strategy": configuration.get("traffic_strategy") or None,
            "squads": configuration.get("squads"),
        }
    else:
        limits = {
            "device_limit": tariff.device_limit if tariff else None,
            "traffic_limit_bytes": tariff.traffic_limit_bytes if tariff else 0,
        }
    return SubscriptionState(
        **limits,
        squads_on_update=Location.objects.exists(),
        telegram_id=subscription.user.telegram_id,
        user_pk=subscription.user_id,
        expires_at=subscription.expires_at,
        active=bool(subscription.expires_at and subscription.expires_at > timezone.now() + ACTIVE_MARGIN)
        and subscription.status != Subscription.Status.DISABLED,
        tariff=tariff,
        panel_username=subscription.panel_username,
    )
