"""Stored Telegram updates: read-only, with a re-run action for failed ones."""

from __future__ import annotations

from django.contrib import admin, messages
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from integrations.telegram import telegram_configured
from telegram_bot.models import BotSession, TelegramUpdate
from telegram_bot.services import update_reprocess
from telegram_bot.webhook import background_bot


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


@admin.register(TelegramUpdate)
class TelegramUpdateAdmin(ReadOnlyAdmin):
    list_display = (
        "update_id",
        "kind",
        "telegram_user_id",
        "status",
        "attempts",
        "altered",
        "received_at",
        "processed_at",
    )
    list_filter = ("status", "kind", "altered", "received_at")
    search_fields = ("=update_id", "=telegram_user_id", "error")
    readonly_fields = [field.name for field in TelegramUpdate._meta.fields]
    show_full_result_count = False
    actions = ["rerun"]

    def has_rerun_permission(self, request) -> bool:
        # Re-running needs a permission of its own; the changelist stays read-only.
        return request.user.has_perm("telegram_bot.change_telegramupdate")

    @admin.action(permissions=["rerun"], description=_("Re-run the selected updates through the bot's handlers"))
    def rerun(self, request, queryset) -> None:
        for row in queryset.order_by("update_id"):
            update_reprocess(update_id=row.update_id)
            if not telegram_configured():
                self.message_user(
                    request,
                    gettext("update %(id)s: queued (no bot token here)") % {"id": row.update_id},
                    messages.WARNING,
                )
                continue
            try:
                outcome = background_bot.process_stored(row.raw)
            except Exception as exc:  # noqa: BLE001 - reported to the admin; the update stays due
                self.message_user(
                    request,
                    gettext("update %(id)s: queued for the bot loop (%(error)s)") % {"id": row.update_id, "error": exc},
                    messages.WARNING,
                )
                continue
            level = messages.SUCCESS if outcome == "done" else messages.WARNING
            message = gettext("update %(id)s: %(outcome)s") % {"id": row.update_id, "outcome": outcome}
            self.message_user(request, message, level)


@admin.register(BotSession)
class BotSessionAdmin(ReadOnlyAdmin):
    list_display = ("user", "promo_code", "awaiting", "tariff_code", "updated_at")
    list_select_related = ("user",)
    search_fields = ("user__telegram_id", "user__telegram_username", "promo_code")
