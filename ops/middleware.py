"""Probes and metrics, answered before anything else in the stack.

An orchestrator calls them over plain HTTP by the container's address, so
they must not depend on DJANGO_ALLOWED_HOSTS or the HTTPS redirect; nothing
here reads the Host header or a session. /metrics wants the bearer token.
"""

from __future__ import annotations

import hmac

from django.conf import settings
from django.http import HttpResponse, JsonResponse

from ops.health import run_checks
from ops.metrics import exposition

LIVE_PATH = "/health/live"
READY_PATH = "/health/ready"
METRICS_PATH = "/metrics"
PROMETHEUS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def _error(status: int, code: str, message: str, **headers: str) -> JsonResponse:
    response = JsonResponse({"error": {"code": code, "message": message, "details": {}}}, status=status)
    for name, value in headers.items():
        response[name] = value
    return response


def live(_request) -> JsonResponse:
    """The process answers (no dependency is checked: restarting it would not fix one)."""
    return JsonResponse({"status": "ok"})


def ready(_request) -> JsonResponse:
    is_ready, body = run_checks()
    return JsonResponse(body, status=200 if is_ready else 503)


def metrics(request) -> HttpResponse:
    token = settings.METRICS_TOKEN
    if not token:
        return _error(403, "metrics_disabled", "Metrics are off: set METRICS_TOKEN to turn them on.")
    given = request.META.get("HTTP_AUTHORIZATION", "")
    scheme, _, credentials = given.partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(credentials.strip().encode(), token.encode()):
        return _error(
            401,
            "not_authenticated",
            "Send Authorization: Bearer <METRICS_TOKEN>.",
            **{"WWW-Authenticate": 'Bearer realm="metrics"'},
        )
    return HttpResponse(exposition(), content_type=PROMETHEUS_CONTENT_TYPE)


ROUTES = {LIVE_PATH: live, READY_PATH: ready, METRICS_PATH: metrics}


class OperationsMiddleware:
    def __init__(self, get_response) -> None:
        self.get_response = get_response

    def __call__(self, request):
        view = ROUTES.get(request.path_info.rstrip("/") or "/")
        if view is None:
            return self.get_response(request)
        if request.method not in ("GET", "HEAD"):
            return _error(405, "method_not_allowed", "Use GET.", Allow="GET, HEAD")
        return view(request)
