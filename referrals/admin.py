"""Admin for referrals (read-only: they are written by the bot and the payment
services); the bonus length is in Shop settings."""

from __future__ import annotations

from django.contrib import admin
from django.db.models import Q
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from core.admin import TELEGRAM_ID, BoundedCountPaginator, ReadOnlyAdminMixin
from referrals.models import Referral, ReferralBonus


def user_is(field: str, term: str) -> Q:
    """An exact match on a user column (Telegram id or @username): indexed, for big tables."""
    if TELEGRAM_ID.match(term):
        return Q(**{f"{field}__telegram_id": int(term)})
    return Q(**{f"{field}__telegram_username": term.lstrip("@")})


@admin.register(Referral)
class ReferralAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("created_at", "referrer", "invited", "bonus_state")
    list_select_related = ("referrer", "invited", "bonus")
    search_fields = ("=referrer__username",)
    search_help_text = _("Exact: the referrer's or the invited user's Telegram id or @username.")
    show_full_result_count = False
    show_facets = admin.ShowFacets.NEVER
    paginator = BoundedCountPaginator

    def get_search_results(self, request, queryset, search_term):
        term = search_term.strip()
        if not term:
            return queryset, False
        return queryset.filter(user_is("referrer", term) | user_is("invited", term)), False

    @admin.display(description=_("bonus"))
    def bonus_state(self, referral: Referral):
        bonus = getattr(referral, "bonus", None)
        if bonus is None:
            return gettext("no purchase yet")
        state = gettext("taken back (refund)") if bonus.revoked_at else gettext("granted")
        return gettext("%(days)s days, %(state)s") % {"days": bonus.days, "state": state}


@admin.register(ReferralBonus)
class ReferralBonusAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("granted_at", "referrer", "invited", "days", "purchase_id", "revoked_at")
    list_select_related = ("referrer", "referral__invited")
    list_filter = (("revoked_at", admin.EmptyFieldListFilter),)
    search_fields = ("=referrer__username",)
    search_help_text = _("Exact: the referrer's Telegram id or @username.")
    show_full_result_count = False
    show_facets = admin.ShowFacets.NEVER
    paginator = BoundedCountPaginator

    def get_search_results(self, request, queryset, search_term):
        term = search_term.strip()
        return (queryset.filter(user_is("referrer", term)) if term else queryset), False

    @admin.display(description=_("invited"))
    def invited(self, bonus: ReferralBonus):
        return bonus.referral.invited
