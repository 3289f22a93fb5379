"""Admin for money: payments (refund, retry provisioning, expire stale), the
ledger and purchase events (read-only), and the revenue dashboard.

Actions call the services; nothing here writes a money row itself. Money rows
are never edited or deleted from the admin, not even by superusers.
"""

from __future__ import annotations

import logging
import uuid

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.models import CHANGE, LogEntry
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import Q
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone

from core.admin import (
    BoundedCountPaginator,
    ReadOnlyAdminMixin,
    ReadOnlyInline,
    action_form_page,
    calendar_queryset,
)
from core.errors import ApplicationError
from payments import dashboard
from payments.models import LedgerEntry, Payment, PendingRefund, PurchaseEvent, TrialClaim
from payments.refunds import refund_payment
from payments.reviews import OPEN as REVIEW_OPEN
from payments.reviews import review_resolve
from payments.services import payments_expire_stale, pending_ttl
from promos.models import PromoCode
from subscriptions.models import ProvisioningTask
from subscriptions.services import provisioning_enqueue
from users.selectors import user_ids_for_search

logger = logging.getLogger(__name__)

MAX_ROWS_PER_ACTION = 100


class PromoListFilter(admin.SimpleListFilter):
    """With / without a promo, or one of the newest codes (a full list of
    thousands of generated codes would not fit the sidebar). Any promo id works in the URL."""

    title = "promo code"
    parameter_name = "promo"
    recent = 20

    def lookups(self, request, model_admin):
        recent = PromoCode.objects.order_by("-created_at").values_list("pk", "code")[: self.recent]
        return [("any", "with a promo"), ("none", "without a promo"), *[(str(pk), code) for pk, code in recent]]

    def queryset(self, request, queryset):
        value = self.value()
        if value == "any":
            return queryset.filter(promo__isnull=False)
        if value == "none":
            return queryset.filter(promo__isnull=True)
        if value and value.isdigit():
            return queryset.filter(promo_id=int(value))
        return queryset


class TrialListFilter(admin.SimpleListFilter):
    """Free trials (their payments are free purchases of type "trial"); fixed choices, no DISTINCT scan."""

    title = "free trial"
    parameter_name = "trial"

    def lookups(self, request, model_admin):
        return [("yes", "free trials"), ("no", "everything else")]

    def queryset(self, request, queryset):
        if self.value() == "yes":
            return queryset.filter(purchase_type=Payment.TRIAL)
        if self.value() == "no":
            return queryset.exclude(purchase_type=Payment.TRIAL)
        return queryset


class ReviewListFilter(admin.SimpleListFilter):
    """Flagged payments: the open ones (what reconciliation reports) or the resolved ones."""

    title = "review"
    parameter_name = "review"

    def lookups(self, request, model_admin):
        return [("open", "needs review"), ("resolved", "review resolved"), ("flagged", "ever flagged")]

    def queryset(self, request, queryset):
        value = self.value()
        if value == "open":
            return queryset.filter(REVIEW_OPEN)
        if value == "resolved":
            return queryset.filter(needs_review=True, review_resolved_at__isnull=False)
        if value == "flagged":
            return queryset.filter(needs_review=True)
        return queryset


class ReviewResolveForm(forms.Form):
    note = forms.CharField(
        max_length=500,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="Required: what was checked or done (kept on the payment and in the admin log).",
    )

    def clean_note(self):
        note = self.cleaned_data["note"].strip()
        if not note:
            raise forms.ValidationError("A note is required.")
        return note


class PurchaseEventInline(ReadOnlyInline):
    model = PurchaseEvent
    fk_name = "payment"
    fields = ("created_at", "name", "payload")
    ordering = ("created_at", "id")
    verbose_name_plural = "event timeline (first 20)"
    show_change_link = False


class LedgerEntryInline(ReadOnlyInline):
    model = LedgerEntry
    fk_name = "payment"
    fields = ("created_at", "kind", "amount", "balance_delta", "gateway_tx_id", "reason", "created_by")
    verbose_name_plural = "ledger rows"

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("created_by")


@admin.register(Payment)
class PaymentAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = (
        "purchase_id",
        "created_at",
        "status",
        "user",
        "tariff",
        "promo",
        "amount",
        "method",
        "source",
        "paid_at",
        "review",
    )
    list_filter = (
        "status",
        "tariff",
        PromoListFilter,
        TrialListFilter,
        "source",
        "method",
        "kind",
        ReviewListFilter,
    )
    list_select_related = ("user", "tariff", "promo")
    date_hierarchy = "created_at"
    search_fields = ("=telegram_payment_charge_id",)  # shows the box; get_search_results does the work
    search_help_text = "Exact: Telegram id, @username, purchase id, charge id or invoice payload."
    show_full_result_count = False
    show_facets = admin.ShowFacets.NEVER
    paginator = BoundedCountPaginator
    list_per_page = 50
    inlines = (PurchaseEventInline, LedgerEntryInline)
    actions = ("refund_selected", "retry_provisioning", "resolve_review")
    fieldsets = (
        (
            None,
            {
                "fields": (
                    "purchase_id",
                    "user",
                    "kind",
                    "purchase_type",
                    "method",
                    "source",
                    "status",
                    "tariff",
                    "promo",
                )
            },
        ),
        ("Money (copied at invoice time)", {"fields": ("base_price", "discount", "amount", "currency")}),
        ("Days", {"fields": ("days", "bonus_days", "days_granted")}),
        (
            "Telegram",
            {"fields": ("invoice_payload", "telegram_payment_charge_id", "provider_payment_charge_id")},
        ),
        ("Dates", {"fields": ("created_at", "paid_at", "refunded_at")}),
        (
            "Problems",
            {
                "fields": (
                    "failure_reason",
                    "needs_review",
                    "review_reason",
                    "refund_shortfall",
                    "review_resolved_at",
                    "review_resolved_by",
                    "review_note",
                )
            },
        ),
    )

    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in self.model._meta.fields]

    def get_queryset(self, request):
        return calendar_queryset(super().get_queryset(request))

    def get_search_results(self, request, queryset, search_term):
        """Exact matches on unique or indexed columns only: no icontains over a
        million rows and their joins."""
        term = search_term.strip()
        if not term:
            return queryset, False
        query = Q(telegram_payment_charge_id=term) | Q(invoice_payload=term)
        try:
            query |= Q(purchase_id=uuid.UUID(term))
        except ValueError:
            pass
        user_ids = user_ids_for_search(term)
        if user_ids:
            query |= Q(user_id__in=user_ids)
        return queryset.filter(query), False

    @admin.display(description="review")
    def review(self, payment: Payment) -> str:
        if not payment.needs_review:
            return ""
        return "resolved" if payment.review_resolved_at else "needs review"

    # --- Permissions of the actions ------------------------------------------------

    def has_refund_permission(self, request):
        return request.user.has_perm("payments.refund_payment")

    def has_retry_permission(self, request):
        return request.user.has_perm("subscriptions.adjust_subscription")

    def has_expire_permission(self, request):
        return request.user.has_perm("payments.expire_stale_payments")

    def has_resolve_review_permission(self, request):
        return request.user.has_perm("payments.resolve_review")

    # --- Actions ---------------------------------------------------------------------

    @admin.action(permissions=["refund"], description="Refund selected payments…")
    def refund_selected(self, request, queryset):
        payments = list(queryset.select_related("user", "tariff").order_by("pk")[: MAX_ROWS_PER_ACTION + 1])
        if len(payments) > MAX_ROWS_PER_ACTION:
            self.message_user(request, f"Refund at most {MAX_ROWS_PER_ACTION} payments at once.", messages.ERROR)
            return None
        if request.POST.get("confirm") != "yes":
            return self._confirmation(
                request,
                payments,
                action="refund_selected",
                title="Refund these payments?",
                template="admin/payments/payment/refund_confirmation.html",
            )
        reason = request.POST.get("reason", "").strip()[:200] or "admin refund"
        # Row by row, outside any transaction: each refund may call Telegram.
        for payment in payments:
            self._refund_one(request, payment, reason=reason)
        return None

    def _refund_one(self, request, payment: Payment, *, reason: str) -> None:
        label = f"{payment.purchase_id} ({payment.amount} XTR, {payment.user})"
        try:
            result = refund_payment(payment=payment, reason=reason, actor=request.user, source="admin")
        except ApplicationError as exc:
            self.message_user(request, f"Not refunded {label}: {exc.message}", messages.ERROR)
            self.log_change(request, payment, f"Refund refused: {exc.message}; reason: {reason}")
            return
        except Exception:  # noqa: BLE001 - report the row and go on with the others
            logger.exception("admin refund of payment %s failed", payment.pk)
            self.message_user(request, f"Not refunded {label}: unexpected error (see the logs).", messages.ERROR)
            return
        if result.created:
            self.message_user(request, f"Refunded {label}.", messages.SUCCESS)
            self.log_change(request, payment, f"Refunded {payment.amount} XTR; reason: {reason}")
        else:
            self.message_user(request, f"Already refunded, nothing booked: {label}.", messages.WARNING)

    @admin.action(permissions=["retry"], description="Retry provisioning for the buyers of selected payments")
    def retry_provisioning(self, request, queryset):
        payments = list(queryset.select_related("user").order_by("pk")[:MAX_ROWS_PER_ACTION])
        for payment in payments:
            with transaction.atomic():
                task = provisioning_enqueue(
                    user=payment.user, reason=ProvisioningTask.Reason.ADMIN, purchase_id=payment.purchase_id
                )
            self.log_change(request, payment, f"Provisioning queued (task {task.pk})")
        self.message_user(request, f"Provisioning queued for {len(payments)} payment(s).", messages.SUCCESS)

    @admin.action(permissions=["resolve_review"], description="Resolve the review of selected payments…")
    def resolve_review(self, request, queryset):
        payments = list(
            queryset.filter(REVIEW_OPEN).select_related("user", "tariff").order_by("pk")[:MAX_ROWS_PER_ACTION]
        )
        if not payments:
            self.message_user(request, "None of the selected payments needs review.", messages.WARNING)
            return None
        form = ReviewResolveForm(request.POST if request.POST.get("apply") else None)
        if not form.is_valid():
            return action_form_page(
                self,
                request,
                form=form,
                objects=payments,
                action="resolve_review",
                title="Resolve the review of these payments",
                submit_label="Resolve",
                intro="The flag and its reason stay on each payment; your note, name and the time are added.",
            )
        note = form.cleaned_data["note"]
        for payment in payments:
            if review_resolve(payment=payment, actor=request.user, note=note):
                self.log_change(request, payment, f"Review resolved: {note}")
                self.message_user(request, f"{payment.purchase_id}: review resolved.", messages.SUCCESS)
            else:
                self.message_user(request, f"{payment.purchase_id}: resolved meanwhile, unchanged.", messages.WARNING)
        return None

    def _confirmation(self, request, payments, *, action: str, title: str, template: str):
        context = {
            **self.admin_site.each_context(request),
            "title": title,
            "opts": self.model._meta,
            "payments": payments,
            "total": sum(p.amount for p in payments),
            "action": action,
            "action_checkbox_name": admin.helpers.ACTION_CHECKBOX_NAME,
        }
        return TemplateResponse(request, template, context)

    # --- Extra pages: the dashboard and expiring stale invoices --------------------

    def get_urls(self):
        prefix = f"{self.model._meta.app_label}_{self.model._meta.model_name}"
        extra = [
            path("dashboard/", self.admin_site.admin_view(self.dashboard_view), name=f"{prefix}_dashboard"),
            path("expire-stale/", self.admin_site.admin_view(self.expire_stale_view), name=f"{prefix}_expire_stale"),
        ]
        return extra + super().get_urls()

    def changelist_view(self, request, extra_context=None):
        extra_context = {**(extra_context or {}), "can_expire_stale": self.has_expire_permission(request)}
        return super().changelist_view(request, extra_context)

    def dashboard_view(self, request):
        if not self.has_view_permission(request):
            raise PermissionDenied
        days = int(request.GET["days"]) if request.GET.get("days", "").isdigit() else 30
        data = dashboard.dashboard_build(days=days)
        context = {
            **self.admin_site.each_context(request),
            "title": "Revenue dashboard",
            "opts": self.model._meta,
            "data": data,
            "chart": dashboard.revenue_chart(points=data.revenue_by_day),
            "windows": dashboard.WINDOWS,
        }
        return TemplateResponse(request, "admin/payments/dashboard.html", context)

    def expire_stale_view(self, request):
        if not self.has_expire_permission(request):
            raise PermissionDenied
        if request.method == "POST":
            expired = payments_expire_stale()
            LogEntry.objects.create(
                user_id=request.user.pk,
                content_type=ContentType.objects.get_for_model(Payment),
                object_repr="stale pending payments",
                action_flag=CHANGE,
                change_message=f"Expired {expired} pending payment(s) older than {pending_ttl()}",
            )
            self.message_user(request, f"Expired {expired} stale pending payment(s).", messages.SUCCESS)
            return redirect(reverse("admin:payments_payment_changelist"))
        cutoff = timezone.now() - pending_ttl()
        stale = Payment.objects.filter(status=Payment.Status.PENDING, created_at__lt=cutoff).order_by()
        context = {
            **self.admin_site.each_context(request),
            "title": "Expire stale pending payments?",
            "opts": self.model._meta,
            "stale_count": stale[: BoundedCountPaginator.count_cap + 1].count(),
            "cap": BoundedCountPaginator.count_cap,
            "ttl": pending_ttl(),
        }
        return TemplateResponse(request, "admin/payments/payment/expire_stale.html", context)


@admin.register(LedgerEntry)
class LedgerEntryAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("created_at", "kind", "user", "amount", "balance_delta", "payment", "gateway_tx_id", "reason")
    list_filter = ("kind",)
    list_select_related = ("user", "payment")
    search_fields = ("=gateway_tx_id",)
    search_help_text = "Exact: Telegram id, @username or gateway transaction id."
    show_full_result_count = False
    show_facets = admin.ShowFacets.NEVER
    paginator = BoundedCountPaginator
    list_per_page = 50
    raw_id_fields = ("user", "payment", "created_by")

    def get_search_results(self, request, queryset, search_term):
        term = search_term.strip()
        if not term:
            return queryset, False
        query = Q(gateway_tx_id=term)
        user_ids = user_ids_for_search(term)
        if user_ids:
            query |= Q(user_id__in=user_ids)
        return queryset.filter(query), False


@admin.register(PurchaseEvent)
class PurchaseEventAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("created_at", "name", "payment", "user")
    list_filter = ("name",)
    list_select_related = ("payment", "user")
    search_fields = ("=payment__purchase_id",)
    search_help_text = "Exact purchase id."
    show_full_result_count = False
    show_facets = admin.ShowFacets.NEVER
    paginator = BoundedCountPaginator
    list_per_page = 50
    raw_id_fields = ("payment", "user")

    def get_search_results(self, request, queryset, search_term):
        try:
            purchase_id = uuid.UUID(search_term.strip())
        except ValueError:
            return (queryset.none(), False) if search_term.strip() else (queryset, False)
        return queryset.filter(payment__purchase_id=purchase_id), False


@admin.register(TrialClaim)
class TrialClaimAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Who took the free trial (once per Telegram account); its payment is in Payments (free trials)."""

    list_display = ("created_at", "telegram_id", "user", "days", "purchase_id")
    list_select_related = ("user",)
    search_fields = ("=telegram_id",)
    search_help_text = "Exact: Telegram id."
    show_full_result_count = False
    show_facets = admin.ShowFacets.NEVER
    paginator = BoundedCountPaginator

    def get_search_results(self, request, queryset, search_term):
        term = search_term.strip()
        if not term:
            return queryset, False
        return (queryset.filter(telegram_id=int(term)) if term.isdigit() else queryset.none()), False


@admin.register(PendingRefund)
class PendingRefundAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Refunds Telegram reported before the payment they refund was recorded; applied when it is."""

    list_display = ("received_at", "charge_id", "telegram_user_id", "amount", "applied_at", "payment")
    list_filter = (("applied_at", admin.EmptyFieldListFilter),)
    list_select_related = ("payment",)
    search_fields = ("=charge_id", "=telegram_user_id")
    show_full_result_count = False
    paginator = BoundedCountPaginator


from payments import admin_star_subscriptions  # noqa: E402,F401 - registers the Star subscriptions admin
