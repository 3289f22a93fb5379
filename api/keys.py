"""API keys for trusted backends: made, checked and revoked only here."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import timedelta

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from api.models import DEFAULT_SCOPES, ApiKey, Scope
from core.audit import staff_action_record
from core.db import fetch_first
from core.errors import ApplicationError
from core.models import StaffAction
from users.models import User

# last_used_at is a hint for admins, not an audit log: one write a minute is enough.
LAST_USED_RESOLUTION = timedelta(minutes=1)
KEY_SEPARATOR = "."


def _hash(raw_key: str) -> str:
    return hashlib.sha256(raw_key.encode()).hexdigest()


@dataclass(frozen=True)
class IssuedKey:
    api_key: ApiKey
    raw_key: str  # shown once; never stored


def _valid_scopes(scopes) -> list[str]:
    unknown = sorted(set(scopes) - set(Scope.values))
    if unknown:
        raise ApplicationError(f"Unknown API key scopes: {', '.join(unknown)}.", code="validation_error")
    return [scope for scope in Scope.values if scope in set(scopes)]  # in a stable order


@transaction.atomic
def api_key_create(*, name: str, scopes=None, created_by: User | None = None) -> IssuedKey:
    """A new key; without `scopes`, DEFAULT_SCOPES (no VPN links, no balance spending)."""
    scopes = _valid_scopes(DEFAULT_SCOPES if scopes is None else scopes)
    prefix = secrets.token_hex(6)
    raw_key = f"{prefix}{KEY_SEPARATOR}{secrets.token_urlsafe(32)}"
    api_key = ApiKey.objects.create(
        name=name, prefix=prefix, secret_hash=_hash(raw_key), scopes=scopes, created_by=created_by
    )
    staff_action_record(
        action=StaffAction.Action.API_KEY_CREATE,
        actor=created_by,
        target=api_key,
        after={"name": name, "scopes": scopes},
    )
    return IssuedKey(api_key=api_key, raw_key=raw_key)


@transaction.atomic
def api_key_set_scopes(*, api_key: ApiKey, scopes) -> ApiKey:
    before = ApiKey.objects.select_for_update().values_list("scopes", flat=True).get(pk=api_key.pk)
    api_key.scopes = _valid_scopes(scopes)
    ApiKey.objects.filter(pk=api_key.pk).update(scopes=api_key.scopes)
    if before != api_key.scopes:
        staff_action_record(
            action=StaffAction.Action.API_KEY_SCOPES,
            target=api_key,
            before={"scopes": before},
            after={"scopes": api_key.scopes},
        )
    return api_key


def api_key_check(*, raw_key: str) -> ApiKey | None:
    """The active key matching `raw_key`, or None. Compared in constant time."""
    prefix, separator, _secret = raw_key.partition(KEY_SEPARATOR)
    if not separator or not prefix or len(prefix) > 16:
        return None
    # Every API-key request starts here (the prefix is unique): a prebuilt SELECT, not an ORM query.
    api_key = fetch_first(ApiKey, prefix=prefix, revoked_at=None)
    if api_key is None or not hmac.compare_digest(api_key.secret_hash, _hash(raw_key)):
        return None
    api_key_touch(api_key=api_key)
    return api_key


def api_key_touch(*, api_key: ApiKey) -> None:
    now = timezone.now()
    if api_key.last_used_at and now - api_key.last_used_at < LAST_USED_RESOLUTION:
        return
    stale = Q(last_used_at__isnull=True) | Q(last_used_at__lt=now - LAST_USED_RESOLUTION)
    ApiKey.objects.filter(stale, pk=api_key.pk).update(last_used_at=now)
    api_key.last_used_at = now


@transaction.atomic
def api_key_revoke(*, api_key: ApiKey) -> bool:
    """Returns False when it was already revoked."""
    updated = ApiKey.objects.filter(pk=api_key.pk, revoked_at__isnull=True).update(revoked_at=timezone.now())
    if updated:
        staff_action_record(
            action=StaffAction.Action.API_KEY_REVOKE, target=api_key, before={"revoked": False}, after={"revoked": True}
        )
    api_key.refresh_from_db(fields=["revoked_at"])
    return bool(updated)
