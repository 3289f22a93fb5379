"""Admin for shop users: the buyers list (customers, apart from staff), and every
account (staff and buyers). A buyer's page opens on the shop's data (subscription,
money, referrals, payments and ledger); sign-in and permission fields come last and
only for superusers. Balance and subscription changes go through the services with a
required reason, written to the admin log."""

from __future__ import annotations

from datetime import timedelta

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.views.main import ChangeList
from django.contrib.auth.admin import UserAdmin
from django.db.models import Exists, OuterRef, Q, Sum
from django.utils import timezone
from django.utils.html import format_html
from django.utils.translation import gettext, pgettext, pgettext_lazy
from django.utils.translation import gettext_lazy as _

from core.admin import TELEGRAM_ID, BoundedCountPaginator, CsvExportMixin, ReadOnlyInline, action_form_page
from core.errors import ApplicationError
from payments.ledger import balance_adjust
from payments.models import LedgerEntry, Payment, TrialClaim
from payments.selectors import NO_PURCHASES, buyer_totals, has_paid
from referrals.models import Referral
from referrals.selectors import referral_stats
from subscriptions.models import Subscription
from subscriptions.services import subscription_adjust
from users.models import Buyer, User
from users.two_factor import two_factor_reset

MAX_USERS_PER_ACTION = 100
DEACTIVATION_HELP = _(
    "Untick to deactivate the account instead of deleting it: the bot, the API and the Mini App refuse the buyer "
    "(no purchases, no spending of the balance); their payments, ledger, balance and subscription are kept. "
    "Payments Telegram makes anyway (the renewal of a Star subscription) are still recorded: cancel the "
    "auto-renewal under Star subscriptions."
)
EXPIRING_SOON_DAYS = 7
AUTH_FIELDSET_CLASS = "shop-auth"  # the buyer page's template shows these after the payments and ledger


class BalanceAdjustForm(forms.Form):
    delta = forms.IntegerField(
        label=_("Change (Stars)"),
        min_value=-1_000_000,
        max_value=1_000_000,
        help_text=_("Positive adds to the balance, negative takes away (never below zero)."),
    )
    reason = forms.CharField(
        label=_("Reason"), max_length=200, help_text=_("Required; booked on the ledger row and in the admin log.")
    )

    def clean_delta(self):
        delta = self.cleaned_data["delta"]
        if delta == 0:
            raise forms.ValidationError(_("The change must not be zero."))
        return delta

    def clean_reason(self):
        reason = self.cleaned_data["reason"].strip()
        if not reason:
            raise forms.ValidationError(_("A reason is required."))
        return reason


class SubscriptionAdjustForm(forms.Form):
    days = forms.IntegerField(
        label=_("Days"),
        min_value=-3650,
        max_value=3650,
        help_text=_("Positive extends, negative shortens. Provisioning is queued."),
    )
    reason = forms.CharField(label=_("Reason"), max_length=200, help_text=_("Required; written to the admin log."))

    def clean_days(self):
        days = self.cleaned_data["days"]
        if days == 0:
            raise forms.ValidationError(_("The number of days must not be zero."))
        return days

    def clean_reason(self):
        reason = self.cleaned_data["reason"].strip()
        if not reason:
            raise forms.ValidationError(_("A reason is required."))
        return reason


class UserLedgerInline(ReadOnlyInline):
    model = LedgerEntry
    fk_name = "user"
    fields = ("created_at", "kind", "amount", "balance_delta", "payment", "reason", "created_by")
    verbose_name_plural = _("ledger rows (newest 20)")

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("payment", "created_by")


class UserPaymentInline(ReadOnlyInline):
    model = Payment
    fk_name = "user"
    fields = ("purchase_id", "created_at", "status", "tariff", "promo", "amount", "method", "paid_at")
    verbose_name_plural = _("payments (newest 20)")

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("tariff", "promo")


def _is_buyer(user: User | None) -> bool:
    return user is not None and not user.is_staff and not user.is_superuser


@admin.register(User)
class ShopUserAdmin(CsvExportMixin, UserAdmin):
    """Every account, staff and buyers alike (the Buyers list shows only customers)."""

    change_form_template = "admin/users/shop_user_change_form.html"
    change_list_template = "admin/csv_change_list.html"
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
    search_help_text = _("Exact: Telegram id, @username, login or e-mail.")
    show_full_result_count = False
    show_facets = admin.ShowFacets.NEVER
    paginator = BoundedCountPaginator
    readonly_fields = (
        "stars_balance",
        "refund_debt",
        "subscription_summary",
        "panel_link",
        "purchases_summary",
        "referral_summary",
        "last_login",
        "date_joined",
    )
    SHOP_FIELDSET = (
        _("Shop"),
        {
            "fields": (
                "subscription_summary",
                "panel_link",
                "stars_balance",
                "refund_debt",
                "purchases_summary",
                "referral_summary",
            )
        },
    )
    TELEGRAM_FIELDSET = (
        _("Telegram"),
        {"fields": ("telegram_id", "telegram_username", "first_name", "last_name", "language_code", "bot_language")},
    )
    STAFF_TELEGRAM_FIELDSET = (
        _("Telegram"),
        {"fields": ("telegram_id", "telegram_username", "language_code", "bot_language")},
    )
    BUYER_AUTH_FIELDSETS = (
        (_("Sign-in"), {"classes": (AUTH_FIELDSET_CLASS,), "fields": ("username", "password", "email")}),
        (
            _("Permissions"),
            {
                "classes": (AUTH_FIELDSET_CLASS,),
                "fields": ("is_active", "is_staff", "is_superuser", "groups", "user_permissions"),
            },
        ),
        (_("Important dates"), {"classes": (AUTH_FIELDSET_CLASS,), "fields": ("last_login", "date_joined")}),
    )
    actions = ("adjust_balance", "adjust_subscription", "reset_two_factor")
    csv_filename = "users.csv"

    def get_fieldsets(self, request, obj=None):
        if obj is None:
            return super().get_fieldsets(request, obj)  # the add form (staff accounts)
        if _is_buyer(obj):
            # A customer: the shop's data first; how they sign in (rarely: buyers use Telegram) last.
            auth = self.BUYER_AUTH_FIELDSETS if request.user.is_superuser else ()
            return (self.SHOP_FIELDSET, self.TELEGRAM_FIELDSET, *auth)
        if not request.user.is_superuser:
            personal = ((_("Personal info"), {"fields": ("username", "first_name", "last_name", "email")}),)
            return (*personal, self.STAFF_TELEGRAM_FIELDSET, self.SHOP_FIELDSET)
        return (*UserAdmin.fieldsets, self.STAFF_TELEGRAM_FIELDSET, self.SHOP_FIELDSET)

    def get_inlines(self, request, obj):
        return (UserPaymentInline, UserLedgerInline) if obj is not None else ()

    def formfield_for_dbfield(self, db_field, request, **kwargs):
        field = super().formfield_for_dbfield(db_field, request, **kwargs)
        if db_field.name == "is_active" and field is not None:
            field.help_text = DEACTIVATION_HELP
        return field

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        if obj is not None and not obj.is_active and request.method == "GET":
            self.message_user(
                request,
                gettext(
                    "This account is deactivated: the bot, the API and the Mini App refuse it (no purchases, no "
                    "spending of the balance). Its records are kept; tick Active to let it in again."
                ),
                messages.WARNING,
            )
        return super().render_change_form(request, context, add=add, change=change, form_url=form_url, obj=obj)

    def get_search_results(self, request, queryset, search_term):
        """Exact lookups on unique/indexed columns (a hundred thousand users)."""
        term = search_term.strip()
        if not term:
            return queryset, False
        query = Q(username=term) | Q(telegram_username=term.lstrip("@")) | Q(email=term)
        if TELEGRAM_ID.match(term):
            query |= Q(telegram_id=int(term))
        return queryset.filter(query), False

    @admin.display(description=_("subscription until"), ordering="subscription__expires_at")
    def subscription_expires(self, user):
        subscription = getattr(user, "subscription", None)
        return subscription.expires_at if subscription else None

    @admin.display(description=_("subscription"))
    def subscription_summary(self, user):
        subscription = getattr(user, "subscription", None)
        if subscription is None or subscription.expires_at is None:
            return pgettext("subscription", "never bought")
        until = timezone.localtime(subscription.expires_at).strftime("%Y-%m-%d %H:%M")
        return gettext("%(state)s, until %(until)s UTC") % {"state": subscription_state(subscription), "until": until}

    @admin.display(description=_("owed from refunds"))
    def refund_debt(self, user):
        """Stars Telegram refunded after the buyer had spent them (the balance cannot go below zero)."""
        owed = Payment.objects.filter(user=user, refund_shortfall__gt=0).aggregate(total=Sum("refund_shortfall"))
        if not owed["total"]:
            return "—"
        return gettext("%(stars)s Stars (see the payments flagged for review)") % {"stars": owed["total"]}

    @admin.display(description=_("purchases"))
    def purchases_summary(self, user):
        totals = buyer_totals(user_ids=[user.pk]).get(user.pk, NO_PURCHASES)
        if totals.first_purchase_at is None:
            return gettext("never paid")
        return gettext("%(stars)s Stars paid through Telegram; first purchase %(first)s, last %(last)s") % {
            "stars": totals.stars_paid,
            "first": timezone.localtime(totals.first_purchase_at).strftime("%Y-%m-%d"),
            "last": timezone.localtime(totals.last_purchase_at).strftime("%Y-%m-%d"),
        }

    @admin.display(description=_("panel link"))
    def panel_link(self, user):
        subscription = getattr(user, "subscription", None)
        if subscription is None or not subscription.subscription_url:
            return "—"
        url = subscription.subscription_url
        # The panel's answer, stored as given: a link only to a web address, anything else as text.
        if not url.lower().startswith(("https://", "http://")):
            return url
        return format_html('<a href="{}" rel="noopener noreferrer" target="_blank">{}</a>', url, url)

    @admin.display(description=_("referrals"))
    def referral_summary(self, user):
        stats = referral_stats(user=user)
        referral = Referral.objects.filter(invited=user).select_related("referrer").first()
        summary = gettext("invited %(invited)s, of whom %(paid)s bought; bonus earned: %(days)s days") % {
            "invited": stats.invited,
            "paid": stats.paid,
            "days": stats.bonus_days,
        }
        if referral:
            summary += "; " + gettext("invited by %(referrer)s") % {"referrer": referral.referrer}
        return summary

    # --- Actions -----------------------------------------------------------------------

    def has_adjust_balance_permission(self, request):
        return request.user.has_perm("users.adjust_balance")

    def has_adjust_subscription_permission(self, request):
        return request.user.has_perm("subscriptions.adjust_subscription")

    @admin.action(permissions=["adjust_balance"], description=_("Adjust the Stars balance…"))
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
                title=gettext("Adjust the Stars balance"),
                submit_label=gettext("Book the adjustment"),
                intro=gettext("A ledger row is booked for each user below."),
            )
        delta, reason = form.cleaned_data["delta"], form.cleaned_data["reason"]
        for user in users:
            try:
                balance_adjust(user=user, delta=delta, reason=reason, actor=request.user)
            except ApplicationError as exc:
                message = gettext("%(user)s: not adjusted: %(error)s") % {"user": user, "error": exc.message}
                self.message_user(request, message, messages.ERROR)
                continue
            self.log_change(request, user, f"Balance {delta:+d} Stars; reason: {reason}")
            message = gettext("%(user)s: balance %(delta)s Stars booked.") % {"user": user, "delta": f"{delta:+d}"}
            self.message_user(request, message, messages.SUCCESS)
        return None

    def has_reset_two_factor_permission(self, request):
        return request.user.is_superuser

    @admin.action(permissions=["reset_two_factor"], description=_("Reset two-factor sign-in (a lost phone)"))
    def reset_two_factor(self, request, queryset):
        """The staff member sets up a new authenticator before they can use the admin again."""
        names = [
            user.username for user in queryset.filter(is_staff=True) if two_factor_reset(user=user, actor=request.user)
        ]
        self.message_user(
            request,
            gettext("Two-factor sign-in reset for: %(names)s.") % {"names": ", ".join(names)}
            if names
            else gettext("None of the selected staff had two-factor sign-in set up."),
            messages.SUCCESS if names else messages.WARNING,
        )

    @admin.action(permissions=["adjust_subscription"], description=_("Extend or shorten the subscription…"))
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
                title=gettext("Extend or shorten the subscription"),
                submit_label=gettext("Change the subscription"),
                intro=gettext("The expiry moves by the days given; the panel is updated by provisioning."),
            )
        days, reason = form.cleaned_data["days"], form.cleaned_data["reason"]
        for user in users:
            try:
                subscription = subscription_adjust(user=user, days=days)
            except ApplicationError as exc:
                message = gettext("%(user)s: not changed: %(error)s") % {"user": user, "error": exc.message}
                self.message_user(request, message, messages.ERROR)
                continue
            self.log_change(
                request, user, f"Subscription {days:+d} days (until {subscription.expires_at}); reason: {reason}"
            )
            message = gettext("%(user)s: subscription %(days)s days.") % {"user": user, "days": f"{days:+d}"}
            self.message_user(request, message, messages.SUCCESS)
        return None

    # --- CSV export --------------------------------------------------------------------

    def csv_header(self, request) -> list[str]:
        return [
            gettext("Telegram id"),
            gettext("Telegram username"),
            gettext("first name"),
            gettext("last name"),
            gettext("language"),
            gettext("registered"),
            gettext("staff"),
            gettext("subscription"),
            gettext("subscription until"),
            gettext("balance (Stars)"),
            gettext("paid through Telegram (Stars)"),
            gettext("first purchase"),
            gettext("last purchase"),
        ]

    def csv_rows(self, request, queryset):
        """Chunks of users, each with one grouped query for what they paid."""
        users = queryset.select_related("subscription").iterator(chunk_size=self.csv_chunk_size)
        chunk: list[User] = []
        for user in users:
            chunk.append(user)
            if len(chunk) == self.csv_chunk_size:
                yield from self._csv_chunk(chunk)
                chunk = []
        yield from self._csv_chunk(chunk)

    def _csv_chunk(self, users: list[User]):
        totals = buyer_totals(user_ids=[user.pk for user in users]) if users else {}
        for user in users:
            subscription = getattr(user, "subscription", None)
            paid = totals.get(user.pk, NO_PURCHASES)
            yield [
                user.telegram_id,
                user.telegram_username,
                user.first_name,
                user.last_name,
                user.language,
                user.date_joined,
                user.is_staff,
                subscription_state_code(subscription),
                subscription.expires_at if subscription else None,
                user.stars_balance,
                paid.stars_paid,
                paid.first_purchase_at,
                paid.last_purchase_at,
            ]


# --- Buyers -------------------------------------------------------------------------------------


def subscription_state_code(subscription: Subscription | None, *, now=None) -> str:
    """never / active / expiring (within 7 days) / expired / disabled."""
    if subscription is None or subscription.expires_at is None:
        return "never"
    if subscription.status == Subscription.Status.DISABLED:
        return "disabled"
    now = now or timezone.now()
    if subscription.expires_at <= now:
        return "expired"
    return "expiring" if subscription.expires_at <= now + timedelta(days=EXPIRING_SOON_DAYS) else "active"


def subscription_state(subscription: Subscription | None) -> str:
    labels = {
        "never": pgettext("subscription", "never bought"),
        "disabled": pgettext("subscription", "disabled"),
        "expired": pgettext("subscription", "expired"),
        "expiring": pgettext("subscription", "expiring within 7 days"),
        "active": pgettext("subscription", "active"),
    }
    return labels[subscription_state_code(subscription)]


class SubscriptionStateFilter(admin.SimpleListFilter):
    title = _("subscription")
    parameter_name = "subscription"

    def lookups(self, request, model_admin):
        return [
            ("active", pgettext_lazy("subscription", "active")),
            ("expiring", pgettext_lazy("subscription", "expiring within 7 days")),
            ("expired", pgettext_lazy("subscription", "expired")),
            ("never_paid", _("never paid")),
            ("trial", _("took the free trial, never paid")),
        ]

    def queryset(self, request, queryset):
        now = timezone.now()
        running = Q(subscription__expires_at__gt=now) & ~Q(subscription__status=Subscription.Status.DISABLED)
        paid = has_paid()
        value = self.value()
        if value == "active":
            return queryset.filter(running)
        if value == "expiring":
            return queryset.filter(running, subscription__expires_at__lte=now + timedelta(days=EXPIRING_SOON_DAYS))
        if value == "expired":
            return queryset.filter(subscription__expires_at__lte=now)
        if value == "never_paid":
            return queryset.filter(~paid)
        if value == "trial":
            return queryset.filter(Exists(TrialClaim.objects.filter(user_id=OuterRef("pk")))).filter(~paid)
        return queryset


class BuyerChangeList(ChangeList):
    def get_results(self, request):
        """What the buyers of this page paid: one grouped query for the page, not one per row."""
        super().get_results(request)
        totals = buyer_totals(user_ids=[buyer.pk for buyer in self.result_list])
        for buyer in self.result_list:
            buyer.purchase_totals = totals.get(buyer.pk, NO_PURCHASES)


@admin.register(Buyer)
class BuyerAdmin(ShopUserAdmin):
    """The shop's customers (staff accounts are in Users): subscription, balance and money at a glance."""

    change_list_template = "admin/csv_change_list.html"
    list_display = (
        "name",
        "telegram_username",
        "telegram_id",
        "subscription_state_display",
        "subscription_expires",
        "stars_balance",
        "total_paid",
        "first_purchase",
        "last_purchase",
    )
    list_display_links = ("name",)
    list_select_related = ("subscription",)
    list_filter = (SubscriptionStateFilter,)
    search_fields = ("=telegram_username",)
    search_help_text = _("Exact: Telegram id or @username.")
    ordering = ("-id",)
    csv_filename = "buyers.csv"

    def get_queryset(self, request):
        return super().get_queryset(request).filter(is_staff=False, is_superuser=False)

    def get_changelist(self, request, **kwargs):
        return BuyerChangeList

    def has_add_permission(self, request):
        return False  # buyers come from Telegram

    def get_search_results(self, request, queryset, search_term):
        term = search_term.strip()
        if not term:
            return queryset, False
        query = Q(telegram_username=term.lstrip("@"))
        if TELEGRAM_ID.match(term):
            query |= Q(telegram_id=int(term))
        return queryset.filter(query), False

    @admin.display(description=_("name"), ordering="first_name")
    def name(self, buyer: User) -> str:
        return " ".join(part for part in (buyer.first_name, buyer.last_name) if part) or buyer.username

    @admin.display(description=_("subscription"))
    def subscription_state_display(self, buyer: User) -> str:
        return subscription_state(getattr(buyer, "subscription", None))

    @admin.display(description=_("paid (Stars)"))
    def total_paid(self, buyer: User) -> int:
        return getattr(buyer, "purchase_totals", NO_PURCHASES).stars_paid

    @admin.display(description=_("first purchase"))
    def first_purchase(self, buyer: User) -> str:
        moment = getattr(buyer, "purchase_totals", NO_PURCHASES).first_purchase_at
        return timezone.localtime(moment).strftime("%Y-%m-%d") if moment else "—"

    @admin.display(description=_("last purchase"))
    def last_purchase(self, buyer: User) -> str:
        moment = getattr(buyer, "purchase_totals", NO_PURCHASES).last_purchase_at
        return timezone.localtime(moment).strftime("%Y-%m-%d") if moment else "—"
