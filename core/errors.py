"""One application exception for every door (API, bot, admin).

Services raise these; the DRF exception handler renders them as
{"error": {"code", "message", "details"}}, the bot shows `message` to the user.
"""

from __future__ import annotations

from typing import Any


class ApplicationError(Exception):
    code = "application_error"
    status = 400

    def __init__(
        self, message: Any = "", *, code: str | None = None, status: int | None = None, details: dict | None = None
    ):
        self.message = message
        if code:
            self.code = code
        if status:
            self.status = status
        self.details = details or {}
        super().__init__(str(message))


class NotFound(ApplicationError):
    code = "not_found"
    status = 404


class Conflict(ApplicationError):
    code = "conflict"
    status = 409
