"""Growth links: an ad campaign with its own start link, and the campaign each buyer came with.

A buyer keeps their first campaign for good: `CampaignAttribution.user` is unique, so a later
link (or two /start updates at once) can never replace it. What the campaign earned is read from
the buyer's trials and payments after that moment (payments.dashboard.campaigns).
"""

from django.conf import settings
from django.core.validators import RegexValidator
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

# Lowercase letters, digits and hyphens: no underscore, so that "__" can join the parts of a
# combined start link (campaigns.links) and a slug can never be mistaken for one of them.
SLUG_PATTERN = r"^[a-z0-9][a-z0-9-]{0,31}$"
SLUG_MAX_LENGTH = 32


class Campaign(models.Model):
    name = models.CharField(max_length=128, verbose_name=_("name"))
    slug = models.CharField(
        max_length=SLUG_MAX_LENGTH,
        unique=True,
        validators=[
            RegexValidator(
                SLUG_PATTERN, _("Lowercase Latin letters, digits and hyphens, starting with a letter or digit.")
            )
        ],
        help_text=_("In the start link t.me/<bot>?start=c_<slug>; at most 32 characters: a-z, 0-9 and hyphens."),
        verbose_name=_("slug"),
    )
    cost_stars = models.PositiveIntegerField(
        default=0,
        help_text=_(
            "What the campaign cost, in Stars (convert money at your own rate); 0 = unknown or free: "
            "no cost per buyer or return is shown."
        ),
        verbose_name=_("cost (Stars)"),
    )
    note = models.CharField(max_length=255, blank=True, verbose_name=_("note"))
    created_at = models.DateTimeField(auto_now_add=True, verbose_name=_("created"))

    class Meta:
        verbose_name = _("campaign")
        verbose_name_plural = _("campaigns")
        ordering = ["-created_at"]
        constraints = [models.CheckConstraint(condition=Q(slug__regex=SLUG_PATTERN), name="campaign_slug_format")]

    def __str__(self) -> str:
        return f"{self.name} (c_{self.slug})"


class CampaignAttribution(models.Model):
    """The first campaign a user opened the bot with. One row per user, never changed."""

    # Unique: the first campaign is kept, whatever comes later or at the same time.
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="campaign_attribution",
        verbose_name=_("user"),
    )
    campaign = models.ForeignKey(
        Campaign, on_delete=models.PROTECT, related_name="attributions", verbose_name=_("campaign")
    )
    attributed_at = models.DateTimeField(auto_now_add=True, verbose_name=_("came at"))

    class Meta:
        verbose_name = _("campaign attribution")
        verbose_name_plural = _("campaign attributions")
        indexes = [models.Index(fields=["campaign", "attributed_at"], name="campaign_attr_campaign_at")]

    def __str__(self) -> str:
        return f"{self.user_id} via {self.campaign_id}"
