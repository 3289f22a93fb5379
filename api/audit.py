"""One log line for every API call an API key makes for a Telegram user (logger `api.audit`).

A middleware, so the line carries the final status, also of refused requests.
DRF puts the request's credentials on the Django request too (`request.auth`).
"""

from __future__ import annotations

import logging

from api.authentication import ApiKeyCredentials
from core.clientip import client_address

audit = logging.getLogger("api.audit")


class ApiKeyAuditMiddleware:
    def __init__(self, get_response) -> None:
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        credentials = getattr(request, "auth", None)
        if isinstance(credentials, ApiKeyCredentials):
            key = credentials.api_key
            audit.info(
                "api key #%s %s (%s) for telegram user %s: %s %s -> %s from %s",
                key.pk,
                key.prefix,
                key.name,
                credentials.telegram_id,
                request.method,
                request.path,
                response.status_code,
                client_address(request),
                extra={
                    "api_key_id": key.pk,
                    "telegram_user_id": credentials.telegram_id,
                    "method": request.method,
                    "path": request.path,
                    "status": response.status_code,
                },
            )
        return response
