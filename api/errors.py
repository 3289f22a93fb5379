"""One error body for the whole API: {"error": {"code", "message", "details"}}.

`api_exception_handler` is DRF's EXCEPTION_HANDLER; `json_not_found` answers
unknown URLs under /api/; `handler404`/`handler500` can be wired in the root
URLconf so Django's own 404/500 under /api/ speak the same shape.
"""

from __future__ import annotations

import logging
from typing import Any

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import SuspiciousOperation
from django.http import Http404, JsonResponse
from django.views import defaults
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import set_rollback

from api.authentication import AccountDeactivated
from core.errors import ApplicationError

logger = logging.getLogger(__name__)

DRF_CODES: list[tuple[type[exceptions.APIException], str]] = [
    (AccountDeactivated, "account_deactivated"),
    (exceptions.ValidationError, "validation_error"),
    (exceptions.ParseError, "parse_error"),
    (exceptions.NotAuthenticated, "not_authenticated"),
    (exceptions.AuthenticationFailed, "not_authenticated"),
    (exceptions.PermissionDenied, "permission_denied"),
    (exceptions.NotFound, "not_found"),
    (exceptions.MethodNotAllowed, "method_not_allowed"),
    (exceptions.NotAcceptable, "not_acceptable"),
    (exceptions.UnsupportedMediaType, "unsupported_media_type"),
    (exceptions.Throttled, "throttled"),
]


def error_body(*, code: str, message: Any, details: Any = None) -> dict:
    return {"error": {"code": code, "message": str(message), "details": details or {}}}


def _drf_details(exc: exceptions.APIException) -> dict:
    if isinstance(exc, exceptions.ValidationError):
        detail = exc.get_full_details()
        fields = detail if isinstance(detail, dict) else {"non_field_errors": detail}
        return {
            "fields": {
                name: [e["message"] for e in errors] if isinstance(errors, list) else errors
                for name, errors in fields.items()
            }
        }
    if isinstance(exc, exceptions.Throttled) and exc.wait is not None:
        return {"retry_after": int(exc.wait)}
    return {}


def _drf_message(exc: exceptions.APIException) -> str:
    if isinstance(exc, exceptions.ValidationError):
        return "The request is invalid."
    return str(exc.detail)


def api_exception_handler(exc: Exception, context: dict) -> Response:
    """Every exception a view raises, rendered in the one error shape (never a traceback)."""
    headers: dict[str, str] = {}
    if isinstance(exc, ApplicationError):
        code, status_code, message, details = exc.code, exc.status, exc.message, exc.details
    elif isinstance(exc, exceptions.APIException):
        code = next((name for cls, name in DRF_CODES if isinstance(exc, cls)), exc.default_code or "error")
        status_code, message, details = exc.status_code, _drf_message(exc), _drf_details(exc)
        if getattr(exc, "auth_header", None):
            headers["WWW-Authenticate"] = exc.auth_header
        if getattr(exc, "wait", None) is not None:
            headers["Retry-After"] = str(int(exc.wait))
    elif isinstance(exc, Http404):
        code, status_code, message, details = "not_found", 404, "Not found.", {}
    elif isinstance(exc, DjangoPermissionDenied):
        code, status_code, message, details = "permission_denied", 403, "Permission denied.", {}
    elif isinstance(exc, SuspiciousOperation):
        code, status_code, message, details = "bad_request", 400, "The request could not be processed.", {}
    else:
        logger.exception("unhandled API error", exc_info=exc)
        code, status_code, message, details = "server_error", 500, "Internal server error.", {}
    set_rollback()
    return Response(error_body(code=code, message=message, details=details), status=status_code, headers=headers)


def json_not_found(request, *args, **kwargs) -> JsonResponse:
    return JsonResponse(error_body(code="not_found", message="Not found."), status=status.HTTP_404_NOT_FOUND)


def _is_api(request) -> bool:
    return request.path.startswith("/api/")


def handler404(request, exception=None):
    if _is_api(request):
        return json_not_found(request)
    return defaults.page_not_found(request, exception)


def handler500(request):
    if _is_api(request):
        return JsonResponse(error_body(code="server_error", message="Internal server error."), status=500)
    return defaults.server_error(request)
