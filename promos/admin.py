"""Admin for promo codes: create/edit with clear validation messages, bulk
generation, usage (used / max, redemptions, revenue), deactivation and CSV export."""

from __future__ import annotations

from urllib.parse import urlencode

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.models import ADDITION, CHANGE, LogEntry
from django.core.exceptions import PermissionDenied
from django.db.models import IntegerField, OuterRef, Subquery, Sum, Value
from django.db.models.functions import Coalesce, Lower
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _

from core.admin import AuditedChangesMixin, BoundedCountPaginator, CsvExportMixin, ReadOnlyInline
from core.errors import ApplicationError
from core.models import StaffAction
from payments.models import Payment
from promos.models import PromoCode, PromoRedemption
from promos.services import PROMO_BULK_MAX, promo_bulk_generate, promo_deactivate
from subscriptions.models import Tariff

PAID_STATUSES = (Payment.Status.SUCCEEDED, Payment.Status.REFUNDED)


def _validate_promo_settings(cleaned: dict, *, used_count: int = 0) -> dict[str, str]:
    """Field errors in words an admin understands (the database checks the same rules)."""
    errors = {}
    percent = cleaned.get("discount_percent")
    if percent is not None and not 0 <= percent <= 100:
        errors["discount_percent"] = gettext("The discount is a percentage from 0 to 100.")
    max_uses = cleaned.get("max_uses")
    if max_uses is not None and max_uses < 1:
        errors["max_uses"] = gettext("Leave empty for unlimited uses, or allow at least one use.")
    elif max_uses is not None and max_uses < used_count:
        errors["max_uses"] = gettext("The code was already used %(count)s times; the limit cannot be lower.") % {
            "count": used_count
        }
    valid_from, expires_at = cleaned.get("valid_from"), cleaned.get("expires_at")
    if valid_from and expires_at and expires_at <= valid_from:
        errors["expires_at"] = gettext("The code must expire after it becomes valid.")
    if not percent and not cleaned.get("bonus_days"):
        errors["discount_percent"] = gettext("Give a discount, bonus days, or both: this code would change nothing.")
    return errors


class PromoCodeForm(forms.ModelForm):
    class Meta:
        model = PromoCode
        fields = (
            "code",
            "description",
            "discount_percent",
            "bonus_days",
            "max_uses",
            "valid_from",
            "expires_at",
            "is_active",
            "once_per_user",
            "tariffs",
        )

    def clean_code(self):
        code = self.cleaned_data["code"].strip()
        if not code or any(ch.isspace() for ch in code):
            raise forms.ValidationError(_("A code is one word without spaces."))
        clash = PromoCode.objects.annotate(code_lower=Lower("code")).filter(code_lower=code.lower())
        if self.instance.pk:
            clash = clash.exclude(pk=self.instance.pk)
        if clash.exists():
            raise forms.ValidationError(_("This code already exists (codes are case-insensitive)."))
        return code

    def clean(self):
        cleaned = super().clean()
        for field, message in _validate_promo_settings(cleaned, used_count=self.instance.used_count or 0).items():
            self.add_error(field, message)
        return cleaned


class PromoBulkForm(forms.Form):
    prefix = forms.RegexField(
        label=_("Prefix"),
        regex=r"^[A-Za-z0-9_-]{0,24}$",
        required=False,
        help_text=_("Letters, digits, _ or -; codes look like PREFIX + random letters."),
        error_messages={"invalid": _("Use letters, digits, _ or - (at most 24).")},
    )
    count = forms.IntegerField(label=_("How many codes"), min_value=1, max_value=PROMO_BULK_MAX, initial=100)
    length = forms.IntegerField(
        label=_("Length"), min_value=4, max_value=32, initial=8, help_text=_("Random characters after the prefix.")
    )
    description = forms.CharField(label=_("Description"), max_length=255, required=False)
    discount_percent = forms.IntegerField(label=_("Discount (%)"), min_value=0, max_value=100, initial=0)
    bonus_days = forms.IntegerField(label=_("Bonus days"), min_value=0, max_value=3650, initial=0)
    max_uses = forms.IntegerField(
        label=_("Max uses"), min_value=1, required=False, initial=1, help_text=_("Per code; empty = unlimited.")
    )
    valid_from = forms.DateTimeField(label=_("Valid from"), required=False)
    expires_at = forms.DateTimeField(label=_("Expires"), required=False)
    once_per_user = forms.BooleanField(label=_("Once per buyer"), required=False, initial=True)
    tariffs = forms.ModelMultipleChoiceField(
        label=_("Tariffs"), queryset=Tariff.objects.all(), required=False, help_text=_("Empty = every tariff.")
    )

    def clean(self):
        cleaned = super().clean()
        for field, message in _validate_promo_settings(cleaned).items():
            self.add_error(field, message)
        return cleaned


class RedemptionInline(ReadOnlyInline):
    model = PromoRedemption
    fields = ("created_at", "user", "purchase", "once_per_user")
    verbose_name_plural = _("redemptions (newest 20)")

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("user")

    @admin.display(description=_("purchase"))
    def purchase(self, redemption: PromoRedemption):
        if redemption.purchase_id is None:
            return "—"
        url = reverse("admin:payments_payment_changelist") + "?" + urlencode({"q": str(redemption.purchase_id)})
        return format_html('<a href="{}">{}</a>', url, str(redemption.purchase_id)[:8])


def _revenue_subquery():
    # Per row of the page only (a correlated subquery), over the promo's payments.
    return Coalesce(
        Subquery(
            Payment.objects.filter(promo=OuterRef("pk"), status__in=PAID_STATUSES)
            .order_by()
            .values("promo")
            .annotate(total=Sum("amount"))
            .values("total")[:1],
            output_field=IntegerField(),
        ),
        Value(0),
    )


@admin.register(PromoCode)
class PromoCodeAdmin(AuditedChangesMixin, CsvExportMixin, admin.ModelAdmin):
    form = PromoCodeForm
    audited_fields = (
        "code",
        "discount_percent",
        "bonus_days",
        "max_uses",
        "is_active",
        "once_per_user",
        "valid_from",
        "expires_at",
    )
    audit_action = StaffAction.Action.PROMO_CHANGE
    list_display = (
        "code",
        "discount_percent",
        "bonus_days",
        "usage",
        "revenue",
        "is_active",
        "valid_from",
        "expires_at",
        "created_at",
    )
    list_filter = ("is_active", "once_per_user")
    search_fields = ("code",)
    filter_horizontal = ("tariffs",)
    readonly_fields = ("used_count", "revenue", "created_at")
    inlines = (RedemptionInline,)
    actions = ("deactivate", "export_csv")
    show_full_result_count = False
    paginator = BoundedCountPaginator
    csv_filename = "promo-codes.csv"
    CSV_COLUMNS = (
        "code",
        "description",
        "discount_percent",
        "bonus_days",
        "used_count",
        "max_uses",
        "revenue_stars",
        "is_active",
        "once_per_user",
        "valid_from",
        "expires_at",
        "created_at",
    )

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(revenue_stars=_revenue_subquery())

    def get_search_results(self, request, queryset, search_term):
        term = search_term.strip()
        if not term:
            return queryset, False
        # Prefix search on the code: bulk codes share a prefix.
        return queryset.annotate(code_lower=Lower("code")).filter(code_lower__startswith=term.lower()), False

    @admin.display(description=_("used / max"))
    def usage(self, promo):
        return f"{promo.used_count} / {promo.max_uses if promo.max_uses is not None else '∞'}"

    @admin.display(description=_("revenue (Stars)"), ordering="revenue_stars")
    def revenue(self, promo):
        return getattr(promo, "revenue_stars", None) or 0

    @admin.action(permissions=["change"], description=_("Deactivate selected promo codes"))
    def deactivate(self, request, queryset):
        promos = list(queryset.filter(is_active=True))
        changed = promo_deactivate(promo_ids=[promo.pk for promo in promos])
        if promos:
            LogEntry.objects.log_actions(
                user_id=request.user.pk, queryset=promos, action_flag=CHANGE, change_message="Deactivated"
            )
        message = ngettext("Deactivated %(count)s promo code.", "Deactivated %(count)s promo codes.", changed) % {
            "count": changed
        }
        self.message_user(request, message, messages.SUCCESS)

    @admin.action(permissions=["view"], description=_("Export selected promo codes as CSV"))
    def export_csv(self, request, queryset):
        return self.csv_response(request, queryset.order_by("-created_at"))

    # --- CSV export (the list's link and the action above) ----------------------------

    def csv_header(self, request) -> list[str]:
        return [
            str(_("revenue (Stars)")) if name == "revenue_stars" else str(PromoCode._meta.get_field(name).verbose_name)
            for name in self.CSV_COLUMNS
        ]

    def csv_rows(self, request, queryset):
        return queryset.values_list(*self.CSV_COLUMNS).iterator(chunk_size=self.csv_chunk_size)

    # --- Bulk generation --------------------------------------------------------------

    def get_urls(self):
        bulk = path(
            "bulk-generate/", self.admin_site.admin_view(self.bulk_generate_view), name="promos_promocode_bulk_generate"
        )
        return [bulk, *super().get_urls()]

    def bulk_generate_view(self, request):
        if not self.has_add_permission(request):
            raise PermissionDenied
        form = PromoBulkForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            fields = dict(form.cleaned_data)
            prefix, count, length, tariffs = (fields.pop(k) for k in ("prefix", "count", "length", "tariffs"))
            try:
                promos = promo_bulk_generate(prefix=prefix, count=count, length=length, tariffs=list(tariffs), **fields)
            except ApplicationError as exc:
                form.add_error(None, str(exc.message))
            else:
                LogEntry.objects.log_actions(
                    user_id=request.user.pk,
                    queryset=promos,
                    action_flag=ADDITION,
                    change_message=f"Bulk-generated with prefix {prefix or '(none)'}",
                )
                self.message_user(
                    request,
                    gettext("Created %(count)s promo codes with prefix %(prefix)s.")
                    % {"count": len(promos), "prefix": repr(prefix)},
                )
                url = reverse("admin:promos_promocode_changelist")
                return redirect(f"{url}?q={prefix}" if prefix else url)
        context = {
            **self.admin_site.each_context(request),
            "title": gettext("Generate promo codes"),
            "opts": self.model._meta,
            "form": form,
        }
        return TemplateResponse(request, "admin/promos/promocode/bulk_generate.html", context)
