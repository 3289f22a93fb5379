"""The caller's VPN devices: the list the panel registered, and removing one.

Both read the panel while the request waits, bounded (subscriptions.devices): a short
timeout, no retries, a cached fallback. Only the caller's own devices, found from their own
subscription's panel identity; an id not in their list is removed from nothing.
"""

from __future__ import annotations

import re

from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, extend_schema
from rest_framework.response import Response
from rest_framework.views import APIView

from api import serializers as s
from api.models import Scope
from api.schema import errors
from core.errors import ApplicationError
from subscriptions import devices as device_states
from subscriptions.devices import DeviceList, device_remove, devices_for

DEVICE_ID = re.compile(r"[0-9a-f]{16}")

DEVICE_LIST_EXAMPLE = {
    "state": "ok",
    "devices": [
        {
            "id": "9f86d081884c7d65",
            "platform": "iOS",
            "os_version": "18.2",
            "model": "iPhone 15",
            "first_seen": "2025-03-01T10:00:00Z",
            "last_seen": "2025-03-05T18:30:00Z",
        }
    ],
    "used": 1,
    "limit": 3,
    "limit_kind": "limited",
    "fetched_at": "2025-03-05T18:31:00Z",
}


class DevicesUnavailable(ApplicationError):
    code = "devices_unavailable"
    status = 404

    def __init__(self):
        super().__init__(_("This shop does not manage VPN devices: there is no device list."))


class PanelUnavailable(ApplicationError):
    code = "panel_unavailable"
    status = 503

    def __init__(self, message):
        super().__init__(message, details={"retry_after": 60})


def _answer(listing: DeviceList) -> None:
    """Raise for the states that are not a list."""
    if listing.state == device_states.NO_PANEL:
        raise DevicesUnavailable()
    if listing.state == device_states.UNAVAILABLE:
        raise PanelUnavailable(_("The VPN panel is not answering; try again in a minute."))


class DeviceListView(APIView):
    required_scope = Scope.PURCHASES_READ

    @extend_schema(
        operation_id="devices_list",
        summary="Your VPN devices, as the panel registered them, and how many of your limit they use",
        description="Read from the VPN panel now (a few seconds at most). While the panel does not answer: "
        "the last known list with `state: stale`, or 503 panel_unavailable when none is known. "
        "404 devices_unavailable when the shop does not manage devices (no VPN panel).",
        responses={200: s.DeviceListSerializer} | errors(404, 503),
        examples=[OpenApiExample("devices", value=DEVICE_LIST_EXAMPLE, response_only=True)],
    )
    def get(self, request):
        listing = devices_for(user=request.user)
        _answer(listing)
        return Response(s.DeviceListSerializer(listing).data)


class DeviceDetailView(APIView):
    required_scope = Scope.DEVICES_MANAGE

    @extend_schema(
        operation_id="devices_remove",
        summary="Remove one of your VPN devices (it can connect again while you are within the limit)",
        description="Idempotent: a device that is not in your list (removed already) answers 200 with "
        "`removed: false`. 503 panel_unavailable when the panel did not answer: nothing was removed, retry.",
        parameters=[
            OpenApiParameter(
                "device_id", str, OpenApiParameter.PATH, description="A device's `id`.", pattern="^[0-9a-f]{16}$"
            )
        ],
        responses={200: s.DeviceRemovalSerializer} | errors(400, 404, 503),
    )
    def delete(self, request, device_id: str):
        if not DEVICE_ID.fullmatch(device_id):
            raise ApplicationError(
                _("The request is invalid."),
                code="validation_error",
                status=400,
                details={"fields": {"device_id": [str(_("Not a device id (16 hexadecimal characters)."))]}},
            )
        removal = device_remove(user=request.user, device_id=device_id)
        _answer(removal.devices)
        if removal.devices.state == device_states.STALE:
            raise PanelUnavailable(_("The VPN panel is not answering, so the device was not removed; try again."))
        return Response(s.DeviceRemovalSerializer(removal).data)
