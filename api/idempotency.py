"""Idempotency-Key for POST views.

The key is claimed with an INSERT in its own transaction (the unique
(principal, key) constraint decides who runs), the view runs, and its response
is stored. Same key + same request → the stored response again
(Idempotent-Replayed: true); same key + another request → 422
idempotency_key_reused; while the first still runs → 409
idempotency_key_in_progress. Server errors release the key so a retry can run.
"""

from __future__ import annotations

import functools
import hashlib
import json
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.http.request import RawPostDataException
from django.utils import timezone
from rest_framework.response import Response
from rest_framework.utils.encoders import JSONEncoder

from api.authentication import principal_of
from api.errors import api_exception_handler
from api.models import IdempotencyKey
from core.errors import ApplicationError

HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
MAX_KEY_LENGTH = 255


class IdempotencyKeyReused(ApplicationError):
    code = "idempotency_key_reused"
    status = 422

    def __init__(self):
        super().__init__("This Idempotency-Key was already used for a different request.")


class IdempotencyKeyInProgress(ApplicationError):
    code = "idempotency_key_in_progress"
    status = 409

    def __init__(self):
        super().__init__("A request with this Idempotency-Key is still being processed; retry later.")


def _valid_key(key: str) -> bool:
    return 0 < len(key) <= MAX_KEY_LENGTH and key.isascii() and key.isprintable()


def request_fingerprint(request) -> str:
    """Method, path, acting user and body; JSON bodies are compared by content, not bytes."""
    try:
        body = request.body
    except RawPostDataException:  # a form body already consumed by the CSRF check
        body = json.dumps(request.data, sort_keys=True, cls=JSONEncoder).encode()
    try:
        body = json.dumps(json.loads(body), sort_keys=True, separators=(",", ":")).encode()
    except ValueError:
        pass
    digest = hashlib.sha256()
    for part in (request.method.encode(), request.path.encode(), str(request.user.pk).encode(), body):
        digest.update(part)
        digest.update(b"\0")
    return digest.hexdigest()


def _claim(*, principal: str, key: str, fingerprint: str) -> IdempotencyKey | None:
    """None when this request claimed the key; else the existing claim."""
    now = timezone.now()
    for _attempt in range(2):
        try:
            with transaction.atomic():
                IdempotencyKey.objects.create(
                    principal=principal,
                    key=key,
                    fingerprint=fingerprint,
                    expires_at=now + timedelta(hours=settings.IDEMPOTENCY_KEY_TTL_HOURS),
                )
            return None
        except IntegrityError:
            existing = IdempotencyKey.objects.filter(principal=principal, key=key).first()
            if existing is None:
                continue  # released in between: claim again
            if existing.expires_at <= now or _abandoned(existing, now=now):
                IdempotencyKey.objects.filter(pk=existing.pk, created_at=existing.created_at).delete()
                continue
            return existing
    raise IdempotencyKeyInProgress()


def _abandoned(claim: IdempotencyKey, *, now) -> bool:
    """An in-progress claim older than any request can run (its worker died)."""
    timeout = timedelta(seconds=settings.IDEMPOTENCY_IN_PROGRESS_TIMEOUT_SECONDS)
    return claim.status == IdempotencyKey.Status.IN_PROGRESS and claim.created_at < now - timeout


def _replay(claim: IdempotencyKey, *, fingerprint: str) -> Response:
    if claim.fingerprint != fingerprint:
        raise IdempotencyKeyReused()
    if claim.status != IdempotencyKey.Status.DONE:
        raise IdempotencyKeyInProgress()
    return Response(claim.response_body, status=claim.response_status, headers={REPLAYED_HEADER: "true"})


def idempotent(view_method):
    """Decorate an APIView's `post`: honours the Idempotency-Key header when sent."""

    @functools.wraps(view_method)
    def wrapper(self, request, *args, **kwargs):
        key = request.headers.get(HEADER)
        if key is None:
            return view_method(self, request, *args, **kwargs)
        if not _valid_key(key):
            raise ApplicationError(
                f"{HEADER} must be 1-{MAX_KEY_LENGTH} printable ASCII characters.", code="validation_error"
            )
        principal = principal_of(request)
        fingerprint = request_fingerprint(request)
        existing = _claim(principal=principal, key=key, fingerprint=fingerprint)
        if existing is not None:
            return _replay(existing, fingerprint=fingerprint)
        claim = {"principal": principal, "key": key}
        try:
            response = view_method(self, request, *args, **kwargs)
        except Exception as exc:  # noqa: BLE001 - rendered (and stored) like DRF would
            response = api_exception_handler(exc, self.get_exception_handler_context())
        if response.status_code >= 500:
            IdempotencyKey.objects.filter(**claim).delete()
            return response
        body = json.loads(json.dumps(response.data, cls=JSONEncoder))
        IdempotencyKey.objects.filter(**claim).update(
            status=IdempotencyKey.Status.DONE, response_status=response.status_code, response_body=body
        )
        return response

    return wrapper


def idempotency_keys_purge() -> int:
    deleted, _ = IdempotencyKey.objects.filter(expires_at__lte=timezone.now()).delete()
    return deleted
