"""Campaign writes: remembering the first campaign a user came with."""

from __future__ import annotations

import logging

from django.db import IntegrityError, transaction

from campaigns.models import Campaign, CampaignAttribution
from users.models import User

logger = logging.getLogger(__name__)


class Attributed:
    ATTRIBUTED = "attributed"
    KEPT = "kept"  # the user came with a campaign before: that one stays
    UNKNOWN = "unknown"  # no campaign has this slug


def campaign_attribute(*, user: User, slug: str) -> str:
    """Record that `user` came with the campaign `slug`, unless they came with one before
    (the unique user row keeps the first, also against a concurrent /start). An Attributed outcome."""
    campaign = Campaign.objects.filter(slug=(slug or "").strip().lower()).only("pk").first() if slug else None
    if campaign is None:
        return Attributed.UNKNOWN
    if CampaignAttribution.objects.filter(user=user).exists():
        return Attributed.KEPT
    try:
        with transaction.atomic():
            CampaignAttribution.objects.create(user=user, campaign=campaign)
    except IntegrityError:
        return Attributed.KEPT  # a concurrent /start recorded the first campaign
    logger.info("user %s came with campaign %s", user.pk, campaign.slug)
    return Attributed.ATTRIBUTED
