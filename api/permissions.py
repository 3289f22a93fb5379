"""What an API key may do: each view names the scope it needs (`required_scope`).

Mini App users and staff act for themselves and are not scoped; an API key acts
for whichever user its caller names, so it gets only what it was granted.
"""

from __future__ import annotations

from rest_framework.permissions import BasePermission

from api.authentication import ApiKeyCredentials
from core.errors import ApplicationError


class ScopeMissing(ApplicationError):
    code = "scope_missing"
    status = 403

    def __init__(self, scope: str):
        super().__init__(f"This API key may not do this: it needs the {scope} scope.", details={"required": scope})


def api_key_allows(request, scope: str) -> bool:
    """True unless the request comes with an API key that lacks `scope`."""
    credentials = request.auth
    return not isinstance(credentials, ApiKeyCredentials) or credentials.api_key.allows(scope)


class ApiKeyScopes(BasePermission):
    def has_permission(self, request, view) -> bool:
        scope = getattr(view, "required_scope", None)
        if scope is not None and not api_key_allows(request, scope):
            raise ScopeMissing(scope)
        return True
