import json
import logging

from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from subscriptions.panel_webhooks import MalformedWebhook, panel_webhook_apply, webhook_signature_valid

logger = logging.getLogger(__name__)


@csrf_exempt
@require_POST
def panel_webhook(request: HttpRequest) -> JsonResponse:
    """Remnawave webhook: signature first (403, nothing changed), then the event."""
    if not webhook_signature_valid(body=request.body, signature=request.headers.get("X-Remnawave-Signature", "")):
        return JsonResponse({"ok": False, "error": "bad signature"}, status=403)
    try:
        payload = json.loads(request.body)
        outcome = panel_webhook_apply(payload=payload)
    except (ValueError, MalformedWebhook) as exc:
        logger.warning("malformed panel webhook: %s", exc)
        return JsonResponse({"ok": False, "error": "malformed event"}, status=400)
    return JsonResponse({"ok": True, "applied": outcome.applied, "detail": outcome.detail})
