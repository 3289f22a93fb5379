"""OpenAPI helpers: the error responses, the Idempotency-Key header, examples."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiExample, OpenApiParameter, OpenApiResponse

from api.idempotency import MAX_KEY_LENGTH
from api.serializers import ErrorSerializer

ERROR_EXAMPLES = {
    400: ("validation_error", "The request is invalid.", {"fields": {"item_id": ["This field is required."]}}),
    401: ("not_authenticated", "Invalid or expired Telegram init data.", {}),
    403: (
        "scope_missing",
        "This API key may not do this: it needs the balance:pay scope.",
        {"required": "balance:pay"},
    ),
    404: ("not_found", "Purchase not found.", {}),
    405: ("method_not_allowed", 'Method "GET" not allowed.', {}),
    409: ("purchase_conflict", "This purchase belongs to another user.", {}),
    422: ("promo_invalid", "This promo code has expired.", {"reason": "expired", "promo_code": "SPRING"}),
    429: ("throttled", "Request was throttled.", {"retry_after": 12}),
    503: ("payments_unavailable", "Payments are not available on this server.", {}),
}
ERROR_DESCRIPTIONS = {
    400: "validation_error, parse_error",
    401: "not_authenticated",
    403: "permission_denied, scope_missing (API keys: see the scopes), mock_payments_disabled, "
    "account_deactivated (the user was deactivated in the shop's admin)",
    404: "not_found, devices_unavailable",
    405: "method_not_allowed",
    409: "purchase_conflict, idempotency_key_in_progress",
    415: "unsupported_media_type",
    422: "promo_invalid, tariff_unavailable, insufficient_balance, idempotency_key_reused",
    429: "throttled",
    503: "payments_unavailable, telegram_unavailable, panel_unavailable",
}


def error_response(status: int) -> OpenApiResponse:
    code, message, details = ERROR_EXAMPLES.get(status, ("error", "Error.", {}))
    return OpenApiResponse(
        response=ErrorSerializer,
        description=f"Error codes: {ERROR_DESCRIPTIONS.get(status, code)}.",
        examples=[
            OpenApiExample(
                code,
                value={"error": {"code": code, "message": message, "details": details}},
                response_only=True,
                status_codes=[str(status)],
            )
        ],
    )


def errors(*statuses: int) -> dict[int, OpenApiResponse]:
    """Error responses every endpoint has (auth, API key scopes, throttling) plus `statuses`."""
    return {status: error_response(status) for status in sorted({401, 403, 405, 429, *statuses})}


def post_errors(*statuses: int) -> dict[int, OpenApiResponse]:
    """POSTs also parse a JSON body and honour Idempotency-Key."""
    return errors(400, 409, 415, 422, *statuses)


IDEMPOTENCY_KEY = OpenApiParameter(
    name="Idempotency-Key",
    # Printable ASCII (api.idempotency): spaces only inside, as HTTP drops them at the ends.
    type={"type": "string", "minLength": 1, "maxLength": MAX_KEY_LENGTH, "pattern": "^[!-~]([ -~]*[!-~])?$"},
    location=OpenApiParameter.HEADER,
    required=False,
    description=(
        f"1-{MAX_KEY_LENGTH} printable ASCII characters (else 400 validation_error). "
        "Retry-safe POST: the same key with the same body replays the stored response (header "
        "`Idempotent-Replayed: true`); with another body → 422 idempotency_key_reused; while the first "
        "request still runs → 409 idempotency_key_in_progress. Keys expire after IDEMPOTENCY_KEY_TTL_HOURS."
    ),
)
