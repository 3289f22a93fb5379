"""The client's address, trusting X-Forwarded-For only as far as our own proxies.

Each reverse proxy appends the address it received the request from. With
settings.TRUSTED_PROXY_COUNT proxies in front of the web process, the last that
many entries were written by them, and the leftmost of those is the client as
the outermost proxy saw it; anything further left is whatever the client sent.
With no proxies configured the header is ignored: the peer is the client.
"""

from __future__ import annotations

import ipaddress

from django.conf import settings


def client_address(request) -> str:
    """The client's IP address for a Django (or DRF) request."""
    peer = request.META.get("REMOTE_ADDR", "") or ""
    trusted = settings.TRUSTED_PROXY_COUNT
    if trusted <= 0:
        return peer
    hops = [hop.strip() for hop in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if hop.strip()]
    if not hops:
        return peer
    # Fewer entries than proxies: every entry was written by one of ours.
    candidate = hops[-min(trusted, len(hops))]
    try:
        return str(ipaddress.ip_address(candidate))
    except ValueError:
        return peer
