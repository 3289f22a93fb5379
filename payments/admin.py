"""Admin for money: payments (refund, resolve a review, retry provisioning, expire
stale), the ledger, purchase events, free trials, refunds kept for their payment and
reconciliation runs (read-only), CSV exports, and the dashboard.

Actions and buttons call the services; nothing here writes a money row itself. Money
rows are never edited or deleted from the admin, not even by superusers.
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
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.translation import get_language, gettext, ngettext
from django.utils.translation import gettext_lazy as _

from core.admin import (
    TELEGRAM_ID,
    BoundedCountPaginator,
    CsvExportMixin,
    ReadOnlyAdminMixin,
    ReadOnlyInline,
    action_form_page,
    calendar_queryset,
)
from core.errors import ApplicationError
from payments import dashboard
from payments.models import (
    LedgerEntry,
    Payment,
    PendingRefund,
    PurchaseEvent,
    ReconciliationRun,
    SubscriberSnapshot,
    TrialClaim,
)
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

    title = _("promo code")
    parameter_name = "promo"
    recent = 20

    def lookups(self, request, model_admin):
        recent = PromoCode.objects.order_by("-created_at").values_list("pk", "code")[: self.recent]
        return [
            ("any", _("with a promo")),
            ("none", _("without a promo")),
            *[(str(pk), code) for pk, code in recent],
        ]

    def queryset(self, request, queryset):
        value = self.value()
        if value == "any":
            return queryset.filter(promo__isnull=False)
        if value == "none":
            return queryset.filter(promo__isnull=True)
        if value and value.isdigit() and len(value) < 19:
            return queryset.filter(promo_id=int(value))
        return queryset


class TrialListFilter(admin.SimpleListFilter):
    """Free trials (their payments are free purchases of type "trial"); fixed choices, no DISTINCT scan."""

    title = _("free trial")
    parameter_name = "trial"

    def lookups(self, request, model_admin):
        return [("yes", _("free trials")), ("no", _("everything else"))]

    def queryset(self, request, queryset):
        if self.value() == "yes":
            return queryset.filter(purchase_type=Payment.TRIAL)
        if self.value() == "no":
            return queryset.exclude(purchase_type=Payment.TRIAL)
        return queryset


class ReviewListFilter(admin.SimpleListFilter):
    """Flagged payments: the unresolved ones (what reconciliation reports) or the resolved ones."""

    title = _("review")
    parameter_name = "review"

    def lookups(self, request, model_admin):
        return [
            ("open", _("needs review (unresolved)")),
            ("resolved", _("review resolved")),
            ("flagged", _("ever flagged")),
        ]

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
        label=_("Note"),
        max_length=500,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=_("Required: what was checked or done (kept on the payment and in the admin log)."),
    )

    def clean_note(self):
        note = self.cleaned_data["note"].strip()
        if not note:
            raise forms.ValidationError(_("A note is required."))
        return note


class PurchaseEventInline(ReadOnlyInline):
    model = PurchaseEvent
    fk_name = "payment"
    fields = ("created_at", "name", "payload")
    ordering = ("created_at", "id")
    verbose_name_plural = _("event timeline (first 20)")
    show_change_link = False


class LedgerEntryInline(ReadOnlyInline):
    model = LedgerEntry
    fk_name = "payment"
    fields = ("created_at", "kind", "amount", "balance_delta", "gateway_tx_id", "reason", "created_by")
    verbose_name_plural = _("ledger rows")

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("created_by")


def _stamp(moment) -> str:
    """A short, sortable time for narrow list columns (the page shows the full one)."""
    return timezone.localtime(moment).strftime("%Y-%m-%d %H:%M") if moment else "—"


@admin.register(Payment)
class PaymentAdmin(CsvExportMixin, ReadOnlyAdminMixin, admin.ModelAdmin):
    # What fits a 1366 px laptop next to the filters: who paid how much, and its state;
    # everything else is on the payment's page.
    list_display = ("short_id", "amount_xtr", "status", "buyer", "tariff_title", "created", "review")
    list_display_links = ("short_id",)
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
    list_select_related = ("user", "tariff")
    date_hierarchy = "created_at"
    search_fields = ("=telegram_payment_charge_id",)  # shows the box; get_search_results does the work
    search_help_text = _("Exact: Telegram id, @username, purchase id, charge id or invoice payload.")
    show_full_result_count = False
    show_facets = admin.ShowFacets.NEVER
    paginator = BoundedCountPaginator
    list_per_page = 50
    inlines = (PurchaseEventInline, LedgerEntryInline)
    actions = ("refund_selected", "retry_provisioning", "resolve_review")
    csv_filename = "payments.csv"
    REVIEW_FIELDSET = (
        _("Review"),
        {"fields": ("needs_review", "review_reason", "review_resolved_at", "review_resolved_by", "review_note")},
    )
    BASE_FIELDSETS = (
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
                    "is_mock",
                    "status",
                    "tariff",
                    "promo",
                )
            },
        ),
        (_("Money (copied at invoice time)"), {"fields": ("base_price", "discount", "amount", "currency")}),
        (_("Days"), {"fields": ("days", "bonus_days", "days_granted")}),
        (
            _("Telegram"),
            {"fields": ("invoice_payload", "telegram_payment_charge_id", "provider_payment_charge_id")},
        ),
        (_("Dates"), {"fields": ("created_at", "paid_at", "refunded_at")}),
        (_("Problems"), {"fields": ("failure_reason", "refund_shortfall")}),
    )

    def get_fieldsets(self, request, obj=None):
        # A flagged payment opens on its review: the reason, and who resolved it, when and why.
        if obj is not None and obj.needs_review:
            return (self.REVIEW_FIELDSET, *self.BASE_FIELDSETS)
        return (*self.BASE_FIELDSETS, self.REVIEW_FIELDSET)

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

    # --- Columns ---------------------------------------------------------------------

    @admin.display(description=_("purchase"), ordering="purchase_id")
    def short_id(self, payment: Payment) -> str:
        return str(payment.purchase_id)[:8]

    @admin.display(description=_("amount"), ordering="amount")
    def amount_xtr(self, payment: Payment) -> str:
        return f"{payment.amount} XTR"

    @admin.display(description=_("created"), ordering="created_at")
    def created(self, payment: Payment) -> str:
        return _stamp(payment.created_at)

    @admin.display(description=_("buyer"))
    def buyer(self, payment: Payment) -> str:
        user = payment.user
        handle = f"@{user.telegram_username}" if user.telegram_username else (user.first_name or user.username)
        return format_html('<span title="{}">{}</span>', str(user), handle)

    @admin.display(description=_("tariff"), ordering="tariff__sort_order")
    def tariff_title(self, payment: Payment) -> str:
        if payment.tariff is None:
            return _("top-up") if payment.kind == Payment.Kind.TOPUP else "—"
        return payment.tariff.title_for(get_language() or "ru")

    @admin.display(description=_("review"))
    def review(self, payment: Payment) -> str:
        if not payment.needs_review:
            return ""
        return gettext("resolved") if payment.review_resolved_at else gettext("needs review")

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

    @admin.action(permissions=["refund"], description=_("Refund selected payments…"))
    def refund_selected(self, request, queryset):
        payments = list(queryset.select_related("user", "tariff").order_by("pk")[: MAX_ROWS_PER_ACTION + 1])
        if len(payments) > MAX_ROWS_PER_ACTION:
            self.message_user(
                request,
                gettext("Refund at most %(count)s payments at once.") % {"count": MAX_ROWS_PER_ACTION},
                messages.ERROR,
            )
            return None
        if request.POST.get("confirm") != "yes":
            return self._refund_confirmation(request, payments, action="refund_selected")
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
            message = gettext("Not refunded %(payment)s: %(error)s") % {"payment": label, "error": exc.message}
            self.message_user(request, message, messages.ERROR)
            self.log_change(request, payment, f"Refund refused: {exc.message}; reason: {reason}")
            return
        except Exception:  # noqa: BLE001 - report the row and go on with the others
            logger.exception("admin refund of payment %s failed", payment.pk)
            message = gettext("Not refunded %(payment)s: unexpected error (see the logs).") % {"payment": label}
            self.message_user(request, message, messages.ERROR)
            return
        if result.created:
            self.message_user(request, gettext("Refunded %(payment)s.") % {"payment": label}, messages.SUCCESS)
            self.log_change(request, payment, f"Refunded {payment.amount} XTR; reason: {reason}")
        else:
            message = gettext("Already refunded, nothing booked: %(payment)s.") % {"payment": label}
            self.message_user(request, message, messages.WARNING)

    @admin.action(permissions=["retry"], description=_("Retry provisioning for the buyers of selected payments"))
    def retry_provisioning(self, request, queryset):
        payments = list(queryset.select_related("user").order_by("pk")[:MAX_ROWS_PER_ACTION])
        for payment in payments:
            with transaction.atomic():
                task = provisioning_enqueue(
                    user=payment.user, reason=ProvisioningTask.Reason.ADMIN, purchase_id=payment.purchase_id
                )
            self.log_change(request, payment, f"Provisioning queued (task {task.pk})")
        message = ngettext(
            "Provisioning queued for %(count)s payment.", "Provisioning queued for %(count)s payments.", len(payments)
        ) % {"count": len(payments)}
        self.message_user(request, message, messages.SUCCESS)

    @admin.action(permissions=["resolve_review"], description=_("Resolve the review of selected payments…"))
    def resolve_review(self, request, queryset):
        payments = list(
            queryset.filter(REVIEW_OPEN).select_related("user", "tariff").order_by("pk")[:MAX_ROWS_PER_ACTION]
        )
        if not payments:
            self.message_user(request, gettext("None of the selected payments needs review."), messages.WARNING)
            return None
        form = ReviewResolveForm(request.POST if request.POST.get("apply") else None)
        if not form.is_valid():
            return self._review_form(request, form, payments, action="resolve_review")
        self._resolve_all(request, payments, note=form.cleaned_data["note"])
        return None

    def _review_form(self, request, form, payments, *, action: str):
        return action_form_page(
            self,
            request,
            form=form,
            objects=payments,
            action=action,
            title=gettext("Resolve the review of these payments"),
            submit_label=gettext("Resolve"),
            intro=gettext("The flag and its reason stay on each payment; your note, name and the time are added."),
        )

    def _resolve_all(self, request, payments, *, note: str) -> None:
        for payment in payments:
            if review_resolve(payment=payment, actor=request.user, note=note):
                self.log_change(request, payment, f"Review resolved: {note}")
                message = gettext("%(purchase)s: review resolved.") % {"purchase": payment.purchase_id}
                self.message_user(request, message, messages.SUCCESS)
            else:
                message = gettext("%(purchase)s: resolved meanwhile, unchanged.") % {"purchase": payment.purchase_id}
                self.message_user(request, message, messages.WARNING)

    def _refund_confirmation(self, request, payments, *, action: str = "", back_url: str = ""):
        context = {
            **self.admin_site.each_context(request),
            "title": gettext("Refund these payments?"),
            "opts": self.model._meta,
            "payments": payments,
            "total": sum(p.amount for p in payments),
            "action": action,
            "action_checkbox_name": admin.helpers.ACTION_CHECKBOX_NAME,
            "back_url": back_url or reverse("admin:payments_payment_changelist"),
        }
        return TemplateResponse(request, "admin/payments/payment/refund_confirmation.html", context)

    # --- The payment's own page: Refund and Resolve buttons ------------------------------

    def change_view(self, request, object_id, form_url="", extra_context=None):
        payment = self.get_object(request, object_id)
        extra_context = {
            **(extra_context or {}),
            "can_refund": bool(
                payment and payment.status == Payment.Status.SUCCEEDED and self.has_refund_permission(request)
            ),
            "can_resolve_review": bool(payment and payment.review_open and self.has_resolve_review_permission(request)),
        }
        return super().change_view(request, object_id, form_url, extra_context)

    def _payment_for_button(self, request, object_id) -> Payment:
        try:
            pk = int(object_id)
        except ValueError:
            pk = None
        return get_object_or_404(Payment.objects.select_related("user", "tariff"), pk=pk)

    def refund_view(self, request, object_id):
        """The Refund button: the same confirmation page and the same refund as the list's action."""
        if not self.has_refund_permission(request):
            raise PermissionDenied
        payment = self._payment_for_button(request, object_id)
        back = reverse("admin:payments_payment_change", args=[payment.pk])
        if request.method == "POST" and request.POST.get("confirm") == "yes":
            reason = request.POST.get("reason", "").strip()[:200] or "admin refund"
            self._refund_one(request, payment, reason=reason)
            return redirect(back)
        return self._refund_confirmation(request, [payment], back_url=back)

    def resolve_review_view(self, request, object_id):
        """The Resolve button: the note form, then the same service as the list's action."""
        if not self.has_resolve_review_permission(request):
            raise PermissionDenied
        payment = self._payment_for_button(request, object_id)
        back = reverse("admin:payments_payment_change", args=[payment.pk])
        if not payment.review_open:
            self.message_user(request, gettext("This payment has no open review."), messages.WARNING)
            return redirect(back)
        form = ReviewResolveForm(request.POST if request.method == "POST" else None)
        if not form.is_valid():
            return self._review_form(request, form, [payment], action="")
        self._resolve_all(request, [payment], note=form.cleaned_data["note"])
        return redirect(back)

    # --- CSV export of the filtered list ------------------------------------------------------

    CSV_COLUMNS = (
        ("purchase_id", "purchase_id"),
        ("created_at", "created_at"),
        ("paid_at", "paid_at"),
        ("refunded_at", "refunded_at"),
        ("status", "status"),
        ("kind", "kind"),
        ("purchase_type", "purchase_type"),
        ("method", "method"),
        ("source", "source"),
        ("is_mock", "is_mock"),
        ("user__telegram_id", _("Telegram id")),
        ("user__telegram_username", _("Telegram username")),
        ("tariff__code", _("tariff")),
        ("promo__code", _("promo code")),
        ("base_price", "base_price"),
        ("discount", "discount"),
        ("amount", "amount"),
        ("days", "days"),
        ("bonus_days", "bonus_days"),
        ("days_granted", "days_granted"),
        ("telegram_payment_charge_id", "telegram_payment_charge_id"),
        ("needs_review", "needs_review"),
        ("review_resolved_at", "review_resolved_at"),
        ("review_note", "review_note"),
        # What was bought (the payment's configuration snapshot).
        ("configuration__devices__title", "devices"),
        ("configuration__device_limit", "device_limit"),
        ("configuration__traffic__title", "traffic"),
        ("configuration__traffic_limit_bytes", "traffic_limit_bytes"),
        ("configuration__traffic_strategy", "traffic_strategy"),
        ("configuration__location__title", "location"),
        ("configuration__squads", "squads"),
        ("configuration__price__total", "list_price"),
    )

    def csv_header(self, request) -> list[str]:
        fields = {field.name: field for field in Payment._meta.get_fields() if hasattr(field, "verbose_name")}
        return [str(fields[label].verbose_name) if label in fields else str(label) for _col, label in self.CSV_COLUMNS]

    def csv_rows(self, request, queryset):
        columns = [column for column, _label in self.CSV_COLUMNS]
        return queryset.values_list(*columns).iterator(chunk_size=self.csv_chunk_size)

    # --- Extra pages: the dashboard and expiring stale invoices --------------------

    def get_urls(self):
        prefix = f"{self.model._meta.app_label}_{self.model._meta.model_name}"
        extra = [
            path("dashboard/", self.admin_site.admin_view(self.dashboard_view), name=f"{prefix}_dashboard"),
            path("expire-stale/", self.admin_site.admin_view(self.expire_stale_view), name=f"{prefix}_expire_stale"),
            path("<path:object_id>/refund/", self.admin_site.admin_view(self.refund_view), name=f"{prefix}_refund"),
            path(
                "<path:object_id>/resolve-review/",
                self.admin_site.admin_view(self.resolve_review_view),
                name=f"{prefix}_resolve_review",
            ),
        ]
        return extra + super().get_urls()

    def changelist_view(self, request, extra_context=None):
        extra_context = {**(extra_context or {}), "can_expire_stale": self.has_expire_permission(request)}
        return super().changelist_view(request, extra_context)

    def dashboard_view(self, request):
        if not self.has_view_permission(request):
            raise PermissionDenied
        period, notes = dashboard.period_from_query(request.GET)
        data = dashboard.dashboard_build(period=period, notes=notes)
        context = {
            **self.admin_site.each_context(request),
            "title": gettext("Dashboard"),
            "opts": self.model._meta,
            "data": data,
            "presets": dashboard.presets_for_page(),
            "max_days": dashboard.MAX_PERIOD_DAYS,
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
            message = ngettext(
                "Expired %(count)s stale pending payment.", "Expired %(count)s stale pending payments.", expired
            ) % {"count": expired}
            self.message_user(request, message, messages.SUCCESS)
            return redirect(reverse("admin:payments_payment_changelist"))
        cutoff = timezone.now() - pending_ttl()
        stale = Payment.objects.filter(status=Payment.Status.PENDING, created_at__lt=cutoff).order_by()
        context = {
            **self.admin_site.each_context(request),
            "title": gettext("Expire stale pending payments?"),
            "opts": self.model._meta,
            "stale_count": stale[: BoundedCountPaginator.count_cap + 1].count(),
            "cap": BoundedCountPaginator.count_cap,
            "ttl": pending_ttl(),
        }
        return TemplateResponse(request, "admin/payments/payment/expire_stale.html", context)


@admin.register(LedgerEntry)
class LedgerEntryAdmin(CsvExportMixin, ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("created_at", "kind", "user", "amount", "balance_delta", "payment", "gateway_tx_id", "reason")
    list_filter = ("kind",)
    list_select_related = ("user", "payment")
    search_fields = ("=gateway_tx_id",)
    search_help_text = _("Exact: Telegram id, @username or gateway transaction id.")
    show_full_result_count = False
    show_facets = admin.ShowFacets.NEVER
    paginator = BoundedCountPaginator
    list_per_page = 50
    raw_id_fields = ("user", "payment", "created_by")
    date_hierarchy = "created_at"
    change_list_template = "admin/csv_change_list.html"
    csv_filename = "ledger.csv"
    CSV_COLUMNS = (
        ("id", "ID"),
        ("created_at", "created_at"),
        ("kind", "kind"),
        ("user__telegram_id", _("Telegram id")),
        ("user__telegram_username", _("Telegram username")),
        ("amount", "amount"),
        ("balance_delta", "balance_delta"),
        ("payment__purchase_id", _("purchase id")),
        ("gateway_tx_id", "gateway_tx_id"),
        ("reason", "reason"),
        ("created_by__username", "created_by"),
    )

    def get_queryset(self, request):
        return calendar_queryset(super().get_queryset(request))

    def get_search_results(self, request, queryset, search_term):
        term = search_term.strip()
        if not term:
            return queryset, False
        query = Q(gateway_tx_id=term)
        user_ids = user_ids_for_search(term)
        if user_ids:
            query |= Q(user_id__in=user_ids)
        return queryset.filter(query), False

    def csv_header(self, request) -> list[str]:
        fields = {field.name: field for field in LedgerEntry._meta.get_fields() if hasattr(field, "verbose_name")}
        return [str(fields[label].verbose_name) if label in fields else str(label) for _col, label in self.CSV_COLUMNS]

    def csv_rows(self, request, queryset):
        columns = [column for column, _label in self.CSV_COLUMNS]
        return queryset.values_list(*columns).iterator(chunk_size=self.csv_chunk_size)


@admin.register(PurchaseEvent)
class PurchaseEventAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("created_at", "name", "payment", "user")
    list_filter = ("name",)
    list_select_related = ("payment", "user")
    search_fields = ("=payment__purchase_id",)
    search_help_text = _("Exact purchase id.")
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
    search_help_text = _("Exact: Telegram id.")
    show_full_result_count = False
    show_facets = admin.ShowFacets.NEVER
    paginator = BoundedCountPaginator

    def get_search_results(self, request, queryset, search_term):
        term = search_term.strip()
        if not term:
            return queryset, False
        return (queryset.filter(telegram_id=int(term)) if TELEGRAM_ID.match(term) else queryset.none()), False


@admin.register(PendingRefund)
class PendingRefundAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Refunds Telegram reported before the payment they refund was recorded; applied when it is."""

    list_display = ("received_at", "charge_id", "telegram_user_id", "amount", "applied_at", "payment")
    list_filter = (("applied_at", admin.EmptyFieldListFilter),)
    list_select_related = ("payment",)
    search_fields = ("=charge_id", "=telegram_user_id")
    show_full_result_count = False
    paginator = BoundedCountPaginator

    def get_search_results(self, request, queryset, search_term):
        term = search_term.strip()
        if not term:
            return queryset, False
        query = Q(charge_id=term)
        if TELEGRAM_ID.match(term):
            query |= Q(telegram_user_id=int(term))
        return queryset.filter(query), False


@admin.register(ReconciliationRun)
class ReconciliationRunAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Each comparison of Telegram's Star transactions with the payments, and what it found or fixed."""

    list_display = ("started_at", "finished_at", "ok", "transactions_seen", "fixed_count", "mismatch_count")
    list_filter = ("ok",)
    date_hierarchy = "started_at"
    show_full_result_count = False
    show_facets = admin.ShowFacets.NEVER
    paginator = BoundedCountPaginator

    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in self.model._meta.fields]


@admin.register(SubscriberSnapshot)
class SubscriberSnapshotAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """The daily subscriber counts behind the dashboard's history (written by a periodic task)."""

    list_display = ("day", "active", "paid_active", "mrr", "recorded_at")
    date_hierarchy = "day"
    show_full_result_count = False
    paginator = BoundedCountPaginator

    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in self.model._meta.fields]


from payments import admin_campaigns, admin_star_subscriptions  # noqa: E402,F401 - they register their admins
