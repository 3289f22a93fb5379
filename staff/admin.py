"""The staff audit trail ("Staff actions") and the sign-in lockout's pages (superusers unlock)."""

from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.utils.html import format_html_join
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from django_otp.plugins.otp_static.models import StaticDevice
from django_otp.plugins.otp_totp.models import TOTPDevice

from core.admin import BoundedCountPaginator, CsvExportMixin, ReadOnlyAdminMixin
from core.models import StaffAction
from staff.lockouts import is_locked, signin_unlock, with_totals
from staff.models import FailedSignIn, SignInCounter
from users.models import User

# Devices hold the staff's TOTP secrets: nobody browses them; a superuser resets them from the user list.
for _model in (TOTPDevice, StaticDevice):
    if admin.site.is_registered(_model):
        admin.site.unregister(_model)


def before_after(action: StaffAction) -> str:
    """ "field: before → after" per changed value, on one line each."""
    keys = list(dict.fromkeys([*action.before, *action.after]))
    return "\n".join(
        f"{key}: {_shown(action.before.get(key))} → {_shown(action.after.get(key))}"
        if key in action.before
        else f"{key}: {_shown(action.after.get(key))}"
        for key in keys
    )


def _shown(value) -> str:
    return "—" if value is None or value == "" else str(value)


class StaffMemberFilter(admin.SimpleListFilter):
    title = _("who")
    parameter_name = "actor"

    def lookups(self, request, model_admin):
        return [(str(pk), name) for pk, name in User.objects.filter(is_staff=True).values_list("pk", "username")]

    def queryset(self, request, queryset):
        return queryset.filter(actor_id=self.value()) if self.value() else queryset


@admin.register(StaffAction)
class StaffActionAdmin(CsvExportMixin, ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("at", "actor_name", "address", "action", "target", "changes", "note")
    list_filter = ("action", StaffMemberFilter, "at")
    search_fields = ("=actor_name", "=address", "=target_id", "target_repr")
    date_hierarchy = "at"
    paginator = BoundedCountPaginator
    show_full_result_count = False
    change_list_template = "admin/csv_change_list.html"
    csv_filename = "staff-actions.csv"
    fields = (
        "at",
        "actor",
        "actor_name",
        "address",
        "action",
        "target_type",
        "target_id",
        "target_repr",
        "changes",
        "note",
    )

    @admin.display(description=_("object"), ordering="target_repr")
    def target(self, action: StaffAction) -> str:
        return action.target_repr or action.target_type

    @admin.display(description=_("before → after"))
    def changes(self, action: StaffAction):
        lines = before_after(action).splitlines()
        return format_html_join("", "<div>{}</div>", ((line,) for line in lines)) if lines else "—"

    def csv_header(self, request) -> list[str]:
        return [
            gettext("when"),
            gettext("who"),
            gettext("from address"),
            gettext("action"),
            gettext("object type"),
            gettext("object id"),
            gettext("object"),
            gettext("before → after"),
            gettext("note"),
        ]

    def csv_rows(self, request, queryset):
        for action in queryset.iterator(chunk_size=self.csv_chunk_size):
            yield [
                action.at,
                action.actor_name,
                action.address,
                action.get_action_display(),
                action.target_type,
                action.target_id,
                action.target_repr,
                before_after(action),
                action.note,
            ]


class LockedFilter(admin.SimpleListFilter):
    title = _("locked")
    parameter_name = "locked"

    def lookups(self, request, model_admin):
        return [("yes", _("locked now"))]

    def queryset(self, request, queryset):
        if self.value() != "yes":
            return queryset
        return queryset.filter(pk__in=[counter.pk for counter in with_totals(queryset) if is_locked(counter)])


@admin.register(SignInCounter)
class SignInCounterAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Failed sign-ins that still count, the accounts and addresses they lock, and the unlock."""

    list_display = (
        "attempt_time",
        "username",
        "ip_address",
        "failures_since_start",
        "account_failures",
        "address_failures",
        "locked",
        "user_agent",
    )
    list_filter = (LockedFilter,)
    search_fields = ("=username", "=ip_address")
    actions = ("unlock",)
    fields = ("attempt_time", "username", "ip_address", "user_agent", "failures_since_start", "path_info")

    def get_queryset(self, request) -> QuerySet:
        return with_totals(super().get_queryset(request))

    @admin.display(description=_("failures of the account"))
    def account_failures(self, counter) -> int:
        return counter.account_failures

    @admin.display(description=_("failures from the address"))
    def address_failures(self, counter) -> int:
        return counter.address_failures

    @admin.display(description=_("locked now"), boolean=True)
    def locked(self, counter) -> bool:
        return is_locked(counter)

    def has_unlock_permission(self, request) -> bool:
        return request.user.is_superuser

    @admin.action(permissions=["unlock"], description=_("Unlock the accounts and addresses of the selected rows"))
    def unlock(self, request, queryset):
        pairs = set(queryset.values_list("username", "ip_address"))
        cleared = sum(signin_unlock(username=name, ip_address=ip, actor=request.user) for name, ip in pairs)
        self.message_user(
            request,
            gettext("Unlocked: %(who)s (%(count)s counters cleared).")
            % {"who": ", ".join(" / ".join(p for p in pair if p) for pair in sorted(pairs, key=str)), "count": cleared},
            messages.SUCCESS,
        )


@admin.register(FailedSignIn)
class FailedSignInAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("attempt_time", "username", "ip_address", "locked_out", "user_agent", "path_info")
    list_filter = ("locked_out", "attempt_time")
    search_fields = ("=username", "=ip_address")
    date_hierarchy = "attempt_time"
    paginator = BoundedCountPaginator
    show_full_result_count = False
