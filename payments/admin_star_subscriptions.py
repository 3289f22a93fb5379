"""Admin for Star subscriptions: what renews, until when, and cancel / resume
(editUserStarSubscription) for admins who may refund."""

from __future__ import annotations

import logging

from django import forms
from django.contrib import admin, messages
from django.db.models import Q
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from core.admin import BoundedCountPaginator, ReadOnlyAdminMixin, action_form_page
from core.errors import ApplicationError
from payments.gateways.stars_subscription import star_subscription_edit
from payments.models import StarSubscription
from users.selectors import user_ids_for_search

logger = logging.getLogger(__name__)

MAX_ROWS_PER_ACTION = 50


class EditConfirmForm(forms.Form):
    """Nothing to fill in: the page lists the subscriptions and asks to confirm."""


@admin.register(StarSubscription)
class StarSubscriptionAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = (
        "id",
        "user",
        "tariff",
        "status",
        "amount",
        "current_period_end",
        "renewals_count",
        "created_at",
        "canceled_at",
        "canceled_by",
    )
    list_filter = ("status", "canceled_by")
    list_select_related = ("user", "tariff")
    search_fields = ("first_charge_id",)
    search_help_text = gettext_lazy("A Telegram id, @username or the first payment's charge id.")
    date_hierarchy = "created_at"
    paginator = BoundedCountPaginator
    show_full_result_count = False
    actions = ("cancel_auto_renewal", "resume_auto_renewal")

    def get_search_results(self, request, queryset, search_term):
        """Exact matches on indexed columns only: the buyer (Telegram id, @username) or the charge id."""
        term = search_term.strip()
        if not term:
            return queryset, False
        return queryset.filter(Q(first_charge_id=term) | Q(user_id__in=user_ids_for_search(term))), False

    def has_refund_permission(self, request):
        return request.user.has_perm("payments.refund_payment")

    @admin.action(permissions=["refund"], description=gettext_lazy("Cancel auto-renewal of selected subscriptions…"))
    def cancel_auto_renewal(self, request, queryset):
        return self._edit(request, queryset, canceled=True)

    @admin.action(permissions=["refund"], description=gettext_lazy("Resume auto-renewal of selected subscriptions…"))
    def resume_auto_renewal(self, request, queryset):
        return self._edit(request, queryset, canceled=False)

    def _edit(self, request, queryset, *, canceled: bool):
        subscriptions = list(queryset.select_related("user", "tariff").order_by("pk")[:MAX_ROWS_PER_ACTION])
        if not request.POST.get("apply"):
            return action_form_page(
                self,
                request,
                form=EditConfirmForm(),
                objects=subscriptions,
                action="cancel_auto_renewal" if canceled else "resume_auto_renewal",
                title=_("Cancel auto-renewal?") if canceled else _("Resume auto-renewal?"),
                submit_label=_("Cancel auto-renewal with Telegram")
                if canceled
                else _("Resume auto-renewal with Telegram"),
                intro=_(
                    "Telegram is asked for each subscription below (editUserStarSubscription). "
                    "Canceled subscriptions stay paid, and the VPN active, until their period ends."
                ),
            )
        # One by one, outside any transaction: each asks Telegram.
        for subscription in subscriptions:
            try:
                star_subscription_edit(
                    subscription=subscription,
                    canceled=canceled,
                    by=StarSubscription.CanceledBy.ADMIN,
                    actor=request.user,
                )
            except ApplicationError as exc:
                self.message_user(request, f"{subscription}: {exc.message}", messages.ERROR)
                continue
            done = _("canceled") if canceled else _("renewing again")
            self.message_user(request, f"{subscription}: {done}.", messages.SUCCESS)
            self.log_change(request, subscription, f"Auto-renewal {'canceled' if canceled else 'resumed'} by an admin")
        return None
