"""Every request gets an id: the proxy's X-Request-ID when it looks like one,
else a new one. Log lines written while the request runs carry it, and the
response (so gunicorn's access line) says it back."""

from __future__ import annotations

import re
import uuid

from core.logs import log_context

REQUEST_ID_HEADER = "HTTP_X_REQUEST_ID"
_SANE_ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")


def request_id_from(meta: dict) -> str:
    given = meta.get(REQUEST_ID_HEADER, "")
    return given if _SANE_ID.match(given) else uuid.uuid4().hex


class RequestIdMiddleware:
    def __init__(self, get_response) -> None:
        self.get_response = get_response

    def __call__(self, request):
        request.request_id = request_id_from(request.META)
        with log_context(request_id=request.request_id):
            response = self.get_response(request)
        response["X-Request-ID"] = request.request_id
        return response
