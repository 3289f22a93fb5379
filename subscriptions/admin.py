"""Admin for tariffs, client apps and the shop settings (editable), subscriptions, the
provisioning outbox and the expiry reminders sent (read-only)."""

from __future__ import annotations

import uuid
from urllib.parse import urlencode

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.html import format_html
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _

from core.admin import TELEGRAM_ID, AuditedChangesMixin, BoundedCountPaginator, ReadOnlyAdminMixin
from core.models import StaffAction
from subscriptions import provisioning
from subscriptions.models import (
    ClientApp,
    DeviceTier,
    ExpiryReminder,
    Location,
    PanelCheck,
    PanelProblem,
    PlanPrice,
    ProvisioningTask,
    ShopSettings,
    Subscription,
    Tariff,
    TrafficTier,
)
from subscriptions.pricing import plan_price
from subscriptions.selectors import referral_bonus_days, trial_days

MAX_TASKS_PER_ACTION = 100


class PlanPriceInline(admin.TabularInline):
    model = PlanPrice
    extra = 0
    fields = ("device_tier", "traffic_tier", "location", "price_stars", "is_offered")
    verbose_name_plural = _("Combinations priced directly or not offered (others: the computed price)")


@admin.register(Tariff)
class TariffAdmin(AuditedChangesMixin, admin.ModelAdmin):
    """Payments copy price and days at invoice time, so editing a tariff never changes a past payment."""

    audited_fields = ("price_stars", "days", "months", "is_active", "renews_monthly")
    audit_action = StaffAction.Action.TARIFF_CHANGE

    list_display = (
        "code",
        "title",
        "title_ru",
        "months",
        "days",
        "price_stars",
        "price_per_month",
        "devices",
        "renews_monthly",
        "is_active",
        "sort_order",
    )
    list_editable = ("is_active", "sort_order")
    list_filter = ("is_active", "renews_monthly")
    ordering = ("sort_order", "days")
    readonly_fields = ("created_at", "updated_at")
    fieldsets = (
        (None, {"fields": ("code", "months", "days", "price_stars", "renews_monthly", "is_active", "sort_order")}),
        (
            _("What buyers read (bot, invoice, API) in their language"),
            {
                "fields": (("title", "title_ru"), ("description", "description_ru")),
                "description": _("An empty Russian text shows the English one."),
            },
        ),
        (_("Panel limits"), {"fields": ("traffic_limit_bytes", "device_limit")}),
        (
            _("Price rule"),
            {
                "fields": ("monthly_price", "period_discount_percent"),
                "description": _(
                    "With a monthly price the plan's price is computed (and shown above after saving). The period "
                    "discount also applies to the options' monthly prices."
                ),
            },
        ),
        (
            _("What the buyer chooses"),
            {
                "fields": ("device_tiers", "traffic_tiers", "locations"),
                "description": _(
                    "Each option kind with two or more values is a step in the bot's plan builder; one value is "
                    "used without asking; none keeps the panel limits above (and REMNAWAVE_SQUADS)."
                ),
            },
        ),
        (_("History"), {"fields": ("created_at", "updated_at")}),
    )
    filter_horizontal = ("device_tiers", "traffic_tiers", "locations")
    inlines = [PlanPriceInline]

    def save_model(self, request, obj, form, change):
        if obj.monthly_price is not None:
            obj.price_stars = plan_price(obj)  # the list price everyone shows follows the rule
        super().save_model(request, obj, form, change)

    def has_delete_permission(self, request, obj=None):
        return False  # past payments point at their tariff; switch it off instead

    @admin.display(description=_("devices"), ordering="device_limit")
    def devices(self, tariff: Tariff) -> str:
        if tariff.device_limit is None:
            return gettext("panel default")
        if tariff.device_limit == 0:
            return gettext("unlimited")
        return str(tariff.device_limit)


class OptionAdmin(admin.ModelAdmin):
    list_editable = ("monthly_price", "is_active", "sort_order")
    list_filter = ("is_active",)

    def has_delete_permission(self, request, obj=None):
        return False  # payments keep a snapshot, plans and prices point at options: switch them off instead

    @admin.display(description=_("title"))
    def shown_title(self, option) -> str:
        return str(option)


@admin.register(DeviceTier)
class DeviceTierAdmin(OptionAdmin):
    list_display = ("shown_title", "device_limit", "monthly_price", "is_active", "sort_order")
    fields = ("title", "title_ru", "device_limit", "monthly_price", "is_active", "sort_order")


@admin.register(TrafficTier)
class TrafficTierAdmin(OptionAdmin):
    list_display = (
        "shown_title",
        "traffic_limit_bytes",
        "traffic_strategy",
        "monthly_price",
        "is_active",
        "sort_order",
    )
    fields = (
        "title",
        "title_ru",
        "traffic_limit_bytes",
        "traffic_strategy",
        "monthly_price",
        "is_active",
        "sort_order",
    )


class LocationForm(forms.ModelForm):
    """Squads are UUIDs the panel has: checked against the latest panel check (`manage.py
    panel_check`, also run periodically), never by a call to the panel from the admin."""

    class Meta:
        model = Location
        fields = ("title", "title_ru", "squads", "monthly_price", "is_active", "sort_order")

    def clean_squads(self):
        squads = self.cleaned_data.get("squads")
        if not isinstance(squads, list) or not squads or not all(isinstance(item, str) for item in squads):
            raise forms.ValidationError(_('A list of squad UUIDs, e.g. ["6f1e8a2c-…"].'))
        for squad in squads:
            try:
                uuid.UUID(squad)
            except ValueError:
                raise forms.ValidationError(_("%(squad)s is not a UUID.") % {"squad": squad}) from None
        known = known_panel_squads()
        unknown = [squad for squad in squads if known and squad not in known]
        if unknown:
            raise forms.ValidationError(
                _("The panel has no such internal squad: %(squads)s. It has: %(known)s.")
                % {"squads": ", ".join(unknown), "known": ", ".join(f"{name} ({key})" for key, name in known.items())}
            )
        return squads


def known_panel_squads() -> dict[str, str]:
    """uuid -> name of the squads the latest panel check saw (empty when no check saw any)."""
    check = PanelCheck.objects.filter(pk=1).first()
    rows = check.squads if check is not None and isinstance(check.squads, list) else []
    return {row["uuid"]: row.get("name", "") for row in rows if isinstance(row, dict) and row.get("uuid")}


@admin.register(Location)
class LocationAdmin(OptionAdmin):
    form = LocationForm
    list_display = ("shown_title", "squad_list", "monthly_price", "is_active", "sort_order")

    @admin.display(description=_("internal squads"))
    def squad_list(self, location: Location) -> str:
        known = known_panel_squads()
        return ", ".join(known.get(squad) or squad for squad in location.squads or [])


@admin.register(Subscription)
class SubscriptionAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Read-only: changes go through the users' "extend or shorten" action."""

    list_display = ("user", "status", "expires_at", "panel_username", "provisioned_at")
    list_filter = ("status",)
    list_select_related = ("user",)
    search_fields = ("=user__username",)
    search_help_text = _("Exact: Telegram id or @username.")
    show_full_result_count = False
    show_facets = admin.ShowFacets.NEVER
    paginator = BoundedCountPaginator

    def get_search_results(self, request, queryset, search_term):
        term = search_term.strip()
        if not term:
            return queryset, False
        if TELEGRAM_ID.match(term):
            return queryset.filter(user__telegram_id=int(term)), False
        return queryset.filter(user__telegram_username=term.lstrip("@")), False


@admin.register(PanelProblem)
class PanelProblemAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Why the panel refuses the shop, once per cause; closed by the next panel check that
    no longer finds it (`manage.py panel_check` runs one now)."""

    list_display = ("cause", "message", "first_seen_at", "last_seen_at", "occurrences", "resolved_at")
    list_filter = (("resolved_at", admin.EmptyFieldListFilter),)
    ordering = ("-last_seen_at",)


@admin.register(ProvisioningTask)
class ProvisioningTaskAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("pk", "created_at", "user", "purchase", "kind", "reason", "status", "attempts", "next_attempt_at")
    list_filter = ("status", "reason", "kind")
    list_select_related = ("user",)
    show_full_result_count = False
    show_facets = admin.ShowFacets.NEVER
    paginator = BoundedCountPaginator
    actions = ("retry_now",)

    @admin.display(description=_("purchase"), ordering="purchase_id")
    def purchase(self, task: ProvisioningTask):
        if task.purchase_id is None:
            return "—"
        url = reverse("admin:payments_payment_changelist") + "?" + urlencode({"q": str(task.purchase_id)})
        return format_html('<a href="{}">{}</a>', url, str(task.purchase_id)[:8])

    def has_retry_permission(self, request):
        return request.user.has_perm("subscriptions.adjust_subscription")

    @admin.action(permissions=["retry"], description=_("Re-run selected failed or retrying tasks now"))
    def retry_now(self, request, queryset):
        tasks = list(queryset.order_by("pk")[:MAX_TASKS_PER_ACTION])
        retried = 0
        for task in tasks:
            if provisioning.task_retry_now(task_id=task.pk):
                retried += 1
                self.log_change(request, task, "Re-run requested by an admin")
        skipped = len(tasks) - retried
        message = ngettext(
            "%(retried)s task queued to run now; %(skipped)s skipped (only failed or retrying tasks are re-run).",
            "%(retried)s tasks queued to run now; %(skipped)s skipped (only failed or retrying tasks are re-run).",
            retried,
        ) % {"retried": retried, "skipped": skipped}
        self.message_user(request, message, messages.SUCCESS if retried else messages.WARNING)


@admin.register(ClientApp)
class ClientAppAdmin(admin.ModelAdmin):
    """The apps on the connect screen, per platform (buttons open the https page)."""

    list_display = ("name", "platform", "url", "sort_order", "is_active")
    list_editable = ("sort_order", "is_active")
    list_filter = ("platform", "is_active")
    ordering = ("platform", "sort_order", "pk")

    def formfield_for_dbfield(self, db_field, request, **kwargs):
        if db_field.name == "url":
            kwargs["assume_scheme"] = "https"  # a bare host is an https page
        return super().formfield_for_dbfield(db_field, request, **kwargs)


@admin.register(ShopSettings)
class ShopSettingsAdmin(AuditedChangesMixin, admin.ModelAdmin):
    """One row: the list leads straight to it, and it is never deleted."""

    audited_fields = ("trial_days", "referral_bonus_days")
    audit_action = StaffAction.Action.SHOP_SETTINGS_CHANGE

    fields = ("trial_days", "referral_bonus_days", "effective", "updated_at")
    readonly_fields = ("effective", "updated_at")

    def changelist_view(self, request, extra_context=None):
        ShopSettings.objects.get_or_create(pk=ShopSettings.SINGLETON_PK)
        return redirect(reverse("admin:subscriptions_shopsettings_change", args=[ShopSettings.SINGLETON_PK]))

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.display(description=_("in force now"))
    def effective(self, obj: ShopSettings):
        trial = trial_days()
        bonus = referral_bonus_days()
        off = gettext("off")
        days = gettext("%(days)s days")
        return gettext(
            "free trial: %(trial)s (environment: TRIAL_DAYS=%(trial_env)s); "
            "referral bonus: %(bonus)s (environment: REFERRAL_BONUS_DAYS=%(bonus_env)s)"
        ) % {
            "trial": days % {"days": trial} if trial else off,
            "trial_env": settings.TRIAL_DAYS,
            "bonus": days % {"days": bonus} if bonus else off,
            "bonus_env": settings.REFERRAL_BONUS_DAYS,
        }


@admin.register(ExpiryReminder)
class ExpiryReminderAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """The reminders sent before and at expiry (one per buyer, kind and subscription period)."""

    list_display = ("created_at", "user", "kind", "period_expires_at", "status", "attempts", "sent_at")
    list_filter = ("kind", "status")
    list_select_related = ("user",)
    search_fields = ("=user__username",)
    search_help_text = _("Exact: Telegram id or @username.")
    date_hierarchy = "created_at"
    show_full_result_count = False
    show_facets = admin.ShowFacets.NEVER
    paginator = BoundedCountPaginator
    raw_id_fields = ("user", "subscription")

    def get_search_results(self, request, queryset, search_term):
        term = search_term.strip()
        if not term:
            return queryset, False
        if TELEGRAM_ID.match(term):
            return queryset.filter(user__telegram_id=int(term)), False
        return queryset.filter(user__telegram_username=term.lstrip("@")), False
