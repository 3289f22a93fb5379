"""Admin for tariffs (editable), subscriptions and the provisioning outbox (read-only)."""

from __future__ import annotations

from urllib.parse import urlencode

from django.contrib import admin, messages
from django.urls import reverse
from django.utils.html import format_html

from core.admin import TELEGRAM_ID, BoundedCountPaginator, ReadOnlyAdminMixin
from subscriptions import provisioning
from subscriptions.models import ProvisioningTask, Subscription, Tariff

MAX_TASKS_PER_ACTION = 100


@admin.register(Tariff)
class TariffAdmin(admin.ModelAdmin):
    """Payments copy price and days at invoice time, so editing a tariff never changes a past payment."""

    list_display = ("code", "title", "months", "days", "price_stars", "price_per_month", "is_active", "sort_order")
    list_editable = ("is_active", "sort_order")
    list_filter = ("is_active",)
    ordering = ("sort_order", "days")
    readonly_fields = ("created_at", "updated_at")

    def has_delete_permission(self, request, obj=None):
        return False  # past payments point at their tariff; switch it off instead


@admin.register(Subscription)
class SubscriptionAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Read-only: changes go through the users' "extend or shorten" action."""

    list_display = ("user", "status", "expires_at", "panel_username", "provisioned_at")
    list_filter = ("status",)
    list_select_related = ("user",)
    search_fields = ("=user__username",)
    search_help_text = "Exact: Telegram id or @username."
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


@admin.register(ProvisioningTask)
class ProvisioningTaskAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("pk", "created_at", "user", "purchase", "kind", "reason", "status", "attempts", "next_attempt_at")
    list_filter = ("status", "reason", "kind")
    list_select_related = ("user",)
    show_full_result_count = False
    show_facets = admin.ShowFacets.NEVER
    paginator = BoundedCountPaginator
    actions = ("retry_now",)

    @admin.display(description="purchase", ordering="purchase_id")
    def purchase(self, task: ProvisioningTask):
        if task.purchase_id is None:
            return "—"
        url = reverse("admin:payments_payment_changelist") + "?" + urlencode({"q": str(task.purchase_id)})
        return format_html('<a href="{}">{}</a>', url, str(task.purchase_id)[:8])

    def has_retry_permission(self, request):
        return request.user.has_perm("subscriptions.adjust_subscription")

    @admin.action(permissions=["retry"], description="Re-run selected failed or retrying tasks now")
    def retry_now(self, request, queryset):
        tasks = list(queryset.order_by("pk")[:MAX_TASKS_PER_ACTION])
        retried = 0
        for task in tasks:
            if provisioning.task_retry_now(task_id=task.pk):
                retried += 1
                self.log_change(request, task, "Re-run requested by an admin")
        skipped = len(tasks) - retried
        self.message_user(
            request,
            f"{retried} task(s) queued to run now; {skipped} skipped (only failed or retrying tasks are re-run).",
            messages.SUCCESS if retried else messages.WARNING,
        )
