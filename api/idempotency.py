"""Idempotency-Key for POST views.

The key is claimed with an INSERT in its own transaction (the unique
(principal, key) constraint decides who runs), the view runs, and its response
is stored. Same key + same request → the stored response again
(Idempotent-Replayed: true); same key + another request → 422
idempotency_key_reused; while the first still runs → 409
idempotency_key_in_progress. A server error releases the key so a retry can run.

The key is marked done only after the view's own transaction committed, so a
crash (or a server error) in between leaves an effect without a stored
response, and a retry runs the view again. That is safe because the effect
itself is keyed: each claim has a `reference` UUID, kept when a retry of the
same request takes the claim over, which the view uses as the purchase_id or
ledger reference it creates; the second run finds the first one's purchase
instead of paying again. An expired key starts afresh (a new reference).
"""

from __future__ import annotations

import functools
import hashlib
import json
import uuid
from datetime import timedelta

from django.conf import settings
from django.utils import timezone
from rest_framework.response import Response
from rest_framework.utils.encoders import JSONEncoder

from api.authentication import principal_of
from api.errors import api_exception_handler
from api.models import IdempotencyKey
from api.parsers import request_body
from core.db import insert_unless_conflict
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
    """Method, path, acting user and body; JSON bodies are compared by content, not bytes.
    The body is held to the parser's bounds first (400 past them): it is decoded here."""
    body = request_body(request)
    if body is None:  # a form body already consumed by the CSRF check
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


def _claim(*, principal: str, key: str, fingerprint: str) -> tuple[IdempotencyKey, bool]:
    """(the claim, True when this request holds it now). An abandoned claim (its
    request died) or one released by a server error is taken over with its
    reference when the request is the same; an expired one is replaced.

    The claim is one INSERT ... ON CONFLICT DO NOTHING (autocommitted, no
    savepoint): the unique (principal, key) constraint still decides who runs."""
    now = timezone.now()
    for _attempt in range(2):
        claim = IdempotencyKey(
            principal=principal,
            key=key,
            fingerprint=fingerprint,
            expires_at=now + timedelta(hours=settings.IDEMPOTENCY_KEY_TTL_HOURS),
        )
        if insert_unless_conflict(claim):
            return claim, True
        existing = IdempotencyKey.objects.filter(principal=principal, key=key).first()
        if existing is None:
            continue  # deleted in between: claim again
        retryable = existing.status == IdempotencyKey.Status.RETRYABLE or _abandoned(existing, now=now)
        if existing.expires_at <= now or (retryable and existing.fingerprint != fingerprint):
            IdempotencyKey.objects.filter(pk=existing.pk, created_at=existing.created_at).delete()
            continue
        if retryable:
            taken = IdempotencyKey.objects.filter(pk=existing.pk, created_at=existing.created_at).update(
                status=IdempotencyKey.Status.IN_PROGRESS, created_at=now
            )
            if taken:
                return existing, True
            continue
        return existing, False
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
        held, mine = _claim(principal=principal, key=key, fingerprint=fingerprint)
        if not mine:
            return _replay(held, fingerprint=fingerprint)
        request.idempotency_reference = held.reference
        try:
            response = view_method(self, request, *args, **kwargs)
        except Exception as exc:  # noqa: BLE001 - rendered (and stored) like DRF would
            response = api_exception_handler(exc, self.get_exception_handler_context())
        if response.status_code >= 500:
            # A retry may run (its effect may have committed: it keeps the reference).
            IdempotencyKey.objects.filter(pk=held.pk).update(status=IdempotencyKey.Status.RETRYABLE)
            return response
        store_response(claim_id=held.pk, response=response)
        return response

    return wrapper


def store_response(*, claim_id: int, response: Response) -> None:
    """Mark the claim done with its response. By primary key: a claim replaced
    meanwhile (this request outlived the in-progress timeout and another one,
    for a different body, took the key) is left alone."""
    body = json.loads(json.dumps(response.data, cls=JSONEncoder))
    IdempotencyKey.objects.filter(pk=claim_id).update(
        status=IdempotencyKey.Status.DONE, response_status=response.status_code, response_body=body
    )


def reference_of(request) -> uuid.UUID | None:
    """The request's idempotency reference, or None without an Idempotency-Key."""
    return getattr(request, "idempotency_reference", None)


def idempotency_keys_purge() -> int:
    deleted, _ = IdempotencyKey.objects.filter(expires_at__lte=timezone.now()).delete()
    return deleted
