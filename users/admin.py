"""Admin for shop users: Telegram identity, subscription, balance, and the
money around them (read-only); balance and subscription changes go through
the services with a required reason, written to the admin log."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin
from django.db.models import Q, Sum
from django.utils.html import format_html

from core.admin import TELEGRAM_ID, BoundedCountPaginator, ReadOnlyInline, action_form_page
from core.errors import ApplicationError
from payments.ledger import balance_adjust
from payments.models import LedgerEntry, Payment
from referrals.models import Referral
from referrals.selectors import referral_stats
from subscriptions.services import subscription_adjust
from users.models import User

MAX_USERS_PER_ACTION = 100


class BalanceAdjustForm(forms.Form):
    delta = forms.IntegerField(
        label="Change (Stars)",
        min_value=-1_000_000,
        max_value=1_000_000,
        help_text="Positive adds to the balance, negative takes away (never below zero).",
    )
    reason = forms.CharField(max_length=200, help_text="Required; booked on the ledger row and in the admin log.")

    def clean_delta(self):
        delta = self.cleaned_data["delta"]
        if delta == 0:
            raise forms.ValidationError("The change must not be zero.")
        return delta

    def clean_reason(self):
        reason = self.cleaned_data["reason"].strip()
        if not reason:
            raise forms.ValidationError("A reason is required.")
        return reason


class SubscriptionAdjustForm(forms.Form):
    days = forms.IntegerField(
        min_value=-3650, max_value=3650, help_text="Positive extends, negative shortens. Provisioning is queued."
    )
    reason = forms.CharField(max_length=200, help_text="Required; written to the admin log.")

    def clean_days(self):
        days = self.cleaned_data["days"]
        if days == 0:
            raise forms.ValidationError("The number of days must not be zero.")
        return days

    def clean_reason(self):
        reason = self.cleaned_data["reason"].strip()
        if not reason:
            raise forms.ValidationError("A reason is required.")
        return reason


class UserLedgerInline(ReadOnlyInline):
    model = LedgerEntry
    fk_name = "user"
    fields = ("created_at", "kind", "amount", "balance_delta", "payment", "reason", "created_by")
    verbose_name_plural = "ledger rows (newest 20)"

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("payment", "created_by")


class UserPaymentInline(ReadOnlyInline):
    model = Payment
    fk_name = "user"
    fields = ("purchase_id", "created_at", "status", "tariff", "promo", "amount", "method", "paid_at")
    verbose_name_plural = "payments (newest 20)"

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("tariff", "promo")


@admin.register(User)
class ShopUserAdmin(UserAdmin):
    list_display = (
        "username",
        "telegram_id",
        "telegram_username",
        "stars_balance",
        "subscription_expires",
        "is_staff",
        "date_joined",
    )
    list_select_related = ("subscription",)
    list_filter = ("is_staff", "is_superuser", "is_active", "groups")
    search_fields = ("=username",)
    search_help_text = "Exact: Telegram id, @username, login or e-mail."
    show_full_result_count = False
    show_facets = admin.ShowFacets.NEVER
    paginator = BoundedCountPaginator
    readonly_fields = (
        "stars_balance",
        "refund_debt",
        "subscription_summary",
        "panel_link",
        "referral_summary",
        "last_login",
        "date_joined",
    )
    fieldsets = (
        *UserAdmin.fieldsets,
        ("Telegram", {"fields": ("telegram_id", "telegram_username", "language_code", "bot_language")}),
        (
            "Shop",
            {"fields": ("stars_balance", "refund_debt", "subscription_summary", "panel_link", "referral_summary")},
        ),
    )
    actions = ("adjust_balance", "adjust_subscription")

    def get_inlines(self, request, obj):
        return (UserLedgerInline, UserPaymentInline) if obj is not None else ()

    def get_search_results(self, request, queryset, search_term):
        """Exact lookups on unique/indexed columns (a hundred thousand users)."""
        term = search_term.strip()
        if not term:
            return queryset, False
        query = Q(username=term) | Q(telegram_username=term.lstrip("@")) | Q(email=term)
        if TELEGRAM_ID.match(term):
            query |= Q(telegram_id=int(term))
        return queryset.filter(query), False

    @admin.display(description="subscription until", ordering="subscription__expires_at")
    def subscription_expires(self, user):
        subscription = getattr(user, "subscription", None)
        return subscription.expires_at if subscription else None

    @admin.display(description="subscription")
    def subscription_summary(self, user):
        subscription = getattr(user, "subscription", None)
        if subscription is None:
            return "never bought"
        return f"{subscription.get_status_display()}, until {subscription.expires_at or '—'}"

    @admin.display(description="owed from refunds")
    def refund_debt(self, user):
        """Stars Telegram refunded after the buyer had spent them (the balance cannot go below zero)."""
        owed = Payment.objects.filter(user=user, refund_shortfall__gt=0).aggregate(total=Sum("refund_shortfall"))
        return f"{owed['total']} Stars (see the payments flagged for review)" if owed["total"] else "—"

    @admin.display(description="panel link")
    def panel_link(self, user):
        subscription = getattr(user, "subscription", None)
        if subscription is None or not subscription.subscription_url:
            return "—"
        return format_html('<a href="{}" rel="noopener" target="_blank">{}</a>', *[subscription.subscription_url] * 2)

    @admin.display(description="referrals")
    def referral_summary(self, user):
        stats = referral_stats(user=user)
        referral = Referral.objects.filter(invited=user).select_related("referrer").first()
        invited_by = f"; invited by {referral.referrer}" if referral else ""
        return (
            f"invited {stats.invited}, of whom {stats.paid} bought; bonus earned: {stats.bonus_days} days{invited_by}"
        )

    # --- Actions -----------------------------------------------------------------------

    def has_adjust_balance_permission(self, request):
        return request.user.has_perm("users.adjust_balance")

    def has_adjust_subscription_permission(self, request):
        return request.user.has_perm("subscriptions.adjust_subscription")

    @admin.action(permissions=["adjust_balance"], description="Adjust the Stars balance…")
    def adjust_balance(self, request, queryset):
        users = list(queryset.order_by("pk")[:MAX_USERS_PER_ACTION])
        form = BalanceAdjustForm(request.POST if request.POST.get("apply") else None)
        if not form.is_valid():
            return action_form_page(
                self,
                request,
                form=form,
                objects=users,
                action="adjust_balance",
                title="Adjust the Stars balance",
                submit_label="Book the adjustment",
                intro="A ledger row is booked for each user below.",
            )
        delta, reason = form.cleaned_data["delta"], form.cleaned_data["reason"]
        for user in users:
            try:
                balance_adjust(user=user, delta=delta, reason=reason, actor=request.user)
            except ApplicationError as exc:
                self.message_user(request, f"{user}: not adjusted: {exc.message}", messages.ERROR)
                continue
            self.log_change(request, user, f"Balance {delta:+d} Stars; reason: {reason}")
            self.message_user(request, f"{user}: balance {delta:+d} Stars booked.", messages.SUCCESS)
        return None

    @admin.action(permissions=["adjust_subscription"], description="Extend or shorten the subscription…")
    def adjust_subscription(self, request, queryset):
        users = list(queryset.order_by("pk")[:MAX_USERS_PER_ACTION])
        form = SubscriptionAdjustForm(request.POST if request.POST.get("apply") else None)
        if not form.is_valid():
            return action_form_page(
                self,
                request,
                form=form,
                objects=users,
                action="adjust_subscription",
                title="Extend or shorten the subscription",
                submit_label="Change the subscription",
                intro="The expiry moves by the days given; the panel is updated by provisioning.",
            )
        days, reason = form.cleaned_data["days"], form.cleaned_data["reason"]
        for user in users:
            try:
                subscription = subscription_adjust(user=user, days=days)
            except ApplicationError as exc:
                self.message_user(request, f"{user}: not changed: {exc.message}", messages.ERROR)
                continue
            self.log_change(
                request, user, f"Subscription {days:+d} days (until {subscription.expires_at}); reason: {reason}"
            )
            self.message_user(request, f"{user}: subscription {days:+d} days.", messages.SUCCESS)
        return None
