"""Broadcasts in the admin: write a draft (message, button, picture, recipients), see how many
it reaches, send a test to yourself, send it after a confirmation, watch its progress and
cancel it. The deliveries are read-only. Every write goes through broadcasts/services.py;
nothing here talks to Telegram (the worker does).
"""

from __future__ import annotations

import re

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.core.validators import URLValidator
from django.db import models
from django.http import Http404, HttpResponse, HttpResponseNotAllowed, JsonResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import escape, format_html
from django.utils.text import capfirst
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from broadcasts.images import MAX_BYTES, ImageRefused, inspect_image
from broadcasts.models import MAX_EXPIRING_DAYS, Broadcast, BroadcastImage, Delivery
from broadcasts.selectors import broadcast_progress, recipient_count, segment_recipients
from broadcasts.sending import GAVE_UP, INTERRUPTED, NOT_CONFIGURED, REFUSED, SKIPPED_BLOCKED, UNCERTAIN
from broadcasts.services import (
    BroadcastError,
    ImageUpload,
    broadcast_cancel,
    broadcast_copy,
    broadcast_problem,
    broadcast_request_test,
    broadcast_save_draft,
    broadcast_start,
)
from broadcasts.telegram_html import CAPTION_MAX, MESSAGE_MAX, TelegramHtmlError, check_telegram_html, preview_html
from core.admin import BoundedCountPaginator, ReadOnlyAdminMixin
from users.selectors import user_ids_for_search

CONTENT_FIELDS = ("name", "text", "button", "button_text", "button_url", "segment", "expiring_days", "language")


def _https_by_default(db_field, **kwargs):
    # The admin builds this form again for read-only pages without its own callback; links are https.
    if isinstance(db_field, models.URLField):
        kwargs.setdefault("assume_scheme", "https")
    return db_field.formfield(**kwargs)


class BroadcastForm(forms.ModelForm):
    picture = forms.FileField(
        label=capfirst(gettext_lazy("picture")),
        required=False,
        help_text=gettext_lazy(
            "Optional: JPEG, PNG or WebP, at most 10 MB. With a picture the text is its caption "
            "(at most 1024 characters)."
        ),
    )
    remove_picture = forms.BooleanField(label=capfirst(gettext_lazy("remove the picture")), required=False)
    button_url = forms.URLField(
        label=capfirst(gettext_lazy("button link")),
        max_length=500,
        required=False,
        assume_scheme="https",
        validators=[URLValidator(schemes=["https"])],
        help_text=gettext_lazy("https:// only."),
    )

    class Meta:
        model = Broadcast
        fields = CONTENT_FIELDS
        widgets = {"text": forms.Textarea(attrs={"rows": 12, "cols": 90})}
        formfield_callback = _https_by_default

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if "text" not in self.fields:  # the read-only page of a started broadcast
            return
        # The admin shows help texts as HTML: the tags must show as text.
        self.fields["text"].help_text = escape(
            _(
                "Sent exactly as written, in Telegram's HTML: <b>bold</b>, <i>italic</i>, <u>underline</u>, "
                '<s>strikethrough</s>, <tg-spoiler>spoiler</tg-spoiler>, <a href="https://…">link</a>, '
                "<code>code</code>, <pre>block</pre>, <blockquote>quote</blockquote>. Line breaks are kept; "
                "write &lt; &gt; &amp; to show < > &."
            )
        )

    def clean_picture(self):
        upload = self.cleaned_data.get("picture")
        if not upload:
            return None
        if upload.size > MAX_BYTES:
            raise forms.ValidationError(_("The picture is larger than 10 MB, which Telegram does not take."))
        data = upload.read()
        try:
            inspect_image(data)
        except ImageRefused as exc:
            raise forms.ValidationError(exc.message) from exc
        return ImageUpload(data=data, name=upload.name or "picture")

    def clean(self):
        data = super().clean()
        has_picture = bool(data.get("picture")) or (bool(self.instance.image_name) and not data.get("remove_picture"))
        text = data.get("text") or ""
        try:
            visible = check_telegram_html(text, limit=CAPTION_MAX if has_picture else MESSAGE_MAX)
        except TelegramHtmlError as exc:
            self.add_error("text", exc.message)
        else:
            if not visible and not has_picture:
                self.add_error("text", _("Write the message (or add a picture)."))
        if data.get("button") == Broadcast.ButtonKind.URL:
            if not (data.get("button_text") or "").strip():
                self.add_error("button_text", _("A link button needs a label."))
            if not data.get("button_url"):
                self.add_error("button_url", _("A link button needs an https:// link."))
        else:
            data["button_text"], data["button_url"] = "", ""
        if data.get("segment") == Broadcast.Segment.EXPIRING:
            if not data.get("expiring_days"):
                self.add_error(
                    "expiring_days", _("Say within how many days (1 to %(max)s).") % {"max": MAX_EXPIRING_DAYS}
                )
        else:
            data["expiring_days"] = None
        return data


class RecipientsQuery(forms.Form):
    """The live count on the form: which segment the admin is choosing."""

    segment = forms.ChoiceField(choices=Broadcast.Segment.choices)
    expiring_days = forms.IntegerField(required=False, min_value=1, max_value=MAX_EXPIRING_DAYS)
    language = forms.ChoiceField(choices=Broadcast.Language.choices, required=False)


@admin.register(Broadcast)
class BroadcastAdmin(admin.ModelAdmin):
    form = BroadcastForm
    list_display = ("name", "status", "segment_label", "progress_column", "created_at", "started_at", "finished_at")
    list_filter = ("status",)
    search_fields = ("name",)
    actions = ["copy_as_draft"]
    change_form_template = "admin/broadcasts/broadcast/change_form.html"
    fieldsets = (
        (None, {"fields": ("name",)}),
        (
            gettext_lazy("Message"),
            {"fields": ("text", "picture", "remove_picture", "button", "button_text", "button_url")},
        ),
        (gettext_lazy("Recipients"), {"fields": ("segment", "expiring_days", "language")}),
    )
    readonly_fieldsets = (
        (None, {"fields": ("name", "status")}),
        (gettext_lazy("Message"), {"fields": ("text", "picture_column", "button", "button_text", "button_url")}),
        (gettext_lazy("Recipients"), {"fields": ("segment", "expiring_days", "language")}),
        (
            gettext_lazy("History"),
            {
                "fields": (
                    "created_by",
                    "created_at",
                    "started_by",
                    "started_at",
                    "finished_at",
                    "cancelled_by",
                    "cancelled_at",
                )
            },
        ),
    )

    # --- Who may do what -------------------------------------------------------------

    def has_change_permission(self, request, obj=None):
        # A started broadcast is history: it is viewed, not edited.
        return super().has_change_permission(request, obj) and (obj is None or obj.is_draft)

    def has_delete_permission(self, request, obj=None):
        return super().has_delete_permission(request, obj) and (obj is None or obj.is_draft)

    def has_send_permission(self, request) -> bool:
        return request.user.has_perm("broadcasts.send_broadcast")

    def get_fieldsets(self, request, obj=None):
        if obj is not None and not obj.is_draft:
            return self.readonly_fieldsets
        if obj is None or not obj.image_name:  # nothing to remove
            (name, message, recipients) = self.fieldsets
            fields = tuple(f for f in message[1]["fields"] if f != "remove_picture")
            return (name, (message[0], {"fields": fields}), recipients)
        return self.fieldsets

    def get_readonly_fields(self, request, obj=None):
        if obj is not None and not obj.is_draft:
            return [field for _title, options in self.readonly_fieldsets for field in options["fields"]]
        return ()

    # --- Columns ---------------------------------------------------------------------

    @admin.display(description=gettext_lazy("recipients"))
    def segment_label(self, broadcast: Broadcast) -> str:
        return segment_summary(broadcast)

    @admin.display(description=gettext_lazy("progress"))
    def progress_column(self, broadcast: Broadcast) -> str:
        # Counted live only while sending (one or two at a time); afterwards the number of recipients.
        if broadcast.status == Broadcast.Status.SENDING:
            return broadcast_progress(broadcast).label
        if broadcast.is_draft:
            return "—"
        return str(broadcast.total)

    @admin.display(description=gettext_lazy("picture"))
    def picture_column(self, broadcast: Broadcast) -> str:
        if not broadcast.image_name:
            return "—"
        url = reverse("admin:broadcasts_broadcast_picture", args=[broadcast.pk])
        return format_html(
            '<a href="{}" target="_blank">{}</a> ({} KB)',
            url,
            broadcast.image_name,
            max(broadcast.image_size // 1024, 1),
        )

    # --- Saving a draft ----------------------------------------------------------------

    def save_model(self, request, obj, form, change):
        broadcast_save_draft(
            broadcast=obj,
            by=request.user,
            image=form.cleaned_data.get("picture"),
            remove_image=bool(form.cleaned_data.get("remove_picture")),
        )

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        if request.method == "POST" and object_id is not None and str(object_id).isdigit():
            current = Broadcast.objects.filter(pk=int(object_id)).values_list("status", flat=True).first()
            if current is not None and current != Broadcast.Status.DRAFT:
                self.message_user(
                    request, _("This broadcast has been started: it can no longer be changed."), messages.ERROR
                )
                return redirect(reverse("admin:broadcasts_broadcast_change", args=[object_id]))
        try:
            return super().changeform_view(request, object_id, form_url, extra_context)
        except BroadcastError as exc:  # started between the check above and the save
            self.message_user(request, exc.message, messages.ERROR)
            return redirect(reverse("admin:broadcasts_broadcast_change", args=[object_id]))

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        context.update(self._panel_context(request, obj))
        return super().render_change_form(request, context, add=add, change=change, form_url=form_url, obj=obj)

    def _panel_context(self, request, obj: Broadcast | None) -> dict:
        context = {
            "recipients_url": reverse("admin:broadcasts_broadcast_recipients"),
            "can_send": self.has_send_permission(request),
            "max_expiring_days": MAX_EXPIRING_DAYS,
        }
        if obj is None:
            return context
        context["broadcast"] = obj
        context["stop_reason"] = readable(obj.stop_reason)
        context["message_preview"] = message_preview(obj)
        context["segment_summary"] = segment_summary(obj)
        if obj.is_draft:
            context["recipient_count"] = recipient_count(obj)
            context["problem"] = broadcast_problem(obj)
        else:
            context["progress"] = broadcast_progress(obj)
            context["progress_url"] = reverse("admin:broadcasts_broadcast_progress", args=[obj.pk])
            context["deliveries_url"] = (
                reverse("admin:broadcasts_delivery_changelist") + f"?broadcast__id__exact={obj.pk}"
            )
        return context

    # --- Actions -----------------------------------------------------------------------

    @admin.action(permissions=["add"], description=gettext_lazy("Copy into a new draft"))
    def copy_as_draft(self, request, queryset):
        for broadcast in queryset.order_by("pk")[:20]:
            copy = broadcast_copy(broadcast=broadcast, by=request.user)
            self.log_addition(request, copy, f"copied from broadcast {broadcast.pk}")
            self.message_user(request, _("Draft “%(name)s” created.") % {"name": copy.name}, messages.SUCCESS)

    # --- Extra pages -------------------------------------------------------------------

    def get_urls(self):
        def view(fn):
            return self.admin_site.admin_view(fn)

        return [
            path("recipients/", view(self.recipients_view), name="broadcasts_broadcast_recipients"),
            path("<int:broadcast_id>/send/", view(self.send_view), name="broadcasts_broadcast_send"),
            path("<int:broadcast_id>/test/", view(self.test_view), name="broadcasts_broadcast_test"),
            path("<int:broadcast_id>/cancel/", view(self.cancel_view), name="broadcasts_broadcast_cancel"),
            path("<int:broadcast_id>/progress/", view(self.progress_view), name="broadcasts_broadcast_progress"),
            path("<int:broadcast_id>/picture/", view(self.picture_view), name="broadcasts_broadcast_picture"),
            *super().get_urls(),
        ]

    def _broadcast(self, request, broadcast_id: int) -> Broadcast:
        broadcast = Broadcast.objects.filter(pk=broadcast_id).first()
        if broadcast is None:
            raise Http404(_("No such broadcast."))
        if not self.has_view_permission(request, broadcast):
            raise PermissionDenied
        return broadcast

    def _back(self, broadcast_id: int):
        return redirect(reverse("admin:broadcasts_broadcast_change", args=[broadcast_id]))

    def recipients_view(self, request):
        """How many users a segment reaches now (the form's live count)."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        query = RecipientsQuery(request.GET)
        if not query.is_valid():
            return JsonResponse({"error": query.errors.get_json_data()}, status=400)
        segment = query.cleaned_data["segment"]
        days = query.cleaned_data.get("expiring_days")
        if segment == Broadcast.Segment.EXPIRING and not days:
            return JsonResponse({"count": None})
        users = segment_recipients(
            segment=segment, expiring_days=days, language=query.cleaned_data.get("language") or ""
        )
        return JsonResponse({"count": users.count()})

    def send_view(self, request, broadcast_id: int):
        broadcast = self._broadcast(request, broadcast_id)
        if not self.has_send_permission(request):
            raise PermissionDenied
        if not broadcast.is_draft:
            self.message_user(request, _("This broadcast has already been started."), messages.WARNING)
            return self._back(broadcast_id)
        if request.method == "POST":
            try:
                broadcast = broadcast_start(broadcast_id=broadcast_id, by=request.user)
            except BroadcastError as exc:
                self.message_user(request, exc.message, messages.ERROR)
                return self._back(broadcast_id)
            self.log_change(request, broadcast, "started sending")
            self.message_user(request, _("Sending has started: the worker sends it now."), messages.SUCCESS)
            return self._back(broadcast_id)
        context = {
            **self.admin_site.each_context(request),
            "title": _("Send this broadcast?"),
            "opts": self.model._meta,
            "broadcast": broadcast,
            "original": broadcast,
            "recipient_count": recipient_count(broadcast),
            "problem": broadcast_problem(broadcast),
            "segment_summary": segment_summary(broadcast),
            "message_preview": message_preview(broadcast),
        }
        return TemplateResponse(request, "admin/broadcasts/broadcast/send_confirmation.html", context)

    def test_view(self, request, broadcast_id: int):
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        self._broadcast(request, broadcast_id)
        if not request.user.has_perm("broadcasts.change_broadcast"):
            raise PermissionDenied
        try:
            broadcast_request_test(broadcast_id=broadcast_id, user=request.user)
        except BroadcastError as exc:
            self.message_user(request, exc.message, messages.ERROR)
        else:
            self.message_user(
                request,
                _("A test is on its way to your Telegram (%(id)s); its result shows below.")
                % {"id": request.user.telegram_id},
                messages.SUCCESS,
            )
        return self._back(broadcast_id)

    def cancel_view(self, request, broadcast_id: int):
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        broadcast = self._broadcast(request, broadcast_id)
        if not self.has_send_permission(request):
            raise PermissionDenied
        try:
            skipped = broadcast_cancel(broadcast_id=broadcast_id, by=request.user)
        except BroadcastError as exc:
            self.message_user(request, exc.message, messages.WARNING)
        else:
            self.log_change(request, broadcast, f"cancelled; {skipped} recipient(s) not sent")
            self.message_user(
                request, _("Cancelled: %(count)s recipient(s) will not get it.") % {"count": skipped}, messages.SUCCESS
            )
        return self._back(broadcast_id)

    def progress_view(self, request, broadcast_id: int):
        broadcast = self._broadcast(request, broadcast_id)
        data = broadcast_progress(broadcast).as_json()
        data["status_label"] = str(broadcast.get_status_display())
        data["test"] = {
            "sent_at": broadcast.test_sent_at.isoformat() if broadcast.test_sent_at else None,
            "error": broadcast.test_error,
            "requested_at": broadcast.test_requested_at.isoformat() if broadcast.test_requested_at else None,
        }
        return JsonResponse(data)

    def picture_view(self, request, broadcast_id: int):
        broadcast = self._broadcast(request, broadcast_id)
        data = BroadcastImage.objects.filter(broadcast=broadcast).values_list("data", flat=True).first()
        if data is None:
            raise Http404(_("This broadcast has no picture."))
        return HttpResponse(bytes(data), content_type=broadcast.image_type or "application/octet-stream")


_GAVE_UP = re.compile("^" + re.escape(GAVE_UP).replace(re.escape("{attempts}"), r"(\d+)") + "(.*)$", re.S)


def readable(recorded: str) -> str:
    """What the worker recorded (English, like its logs) in the admin's language; Telegram's own
    descriptions are shown as Telegram wrote them."""
    fixed = {
        INTERRUPTED: _(
            "Interrupted: the worker stopped while Telegram was being asked. Not sent again, so nobody gets it twice."
        ),
        SKIPPED_BLOCKED: _("Skipped: the user blocked the bot after the sending started."),
        NOT_CONFIGURED: _("Telegram is not configured in the worker (TELEGRAM_BOT_TOKEN)."),
    }
    if recorded in fixed:
        return fixed[recorded]
    if recorded.startswith(UNCERTAIN):
        return _(
            "No answer in time (Telegram may have delivered it). Not sent again, so nobody gets it twice: %(detail)s"
        ) % {"detail": recorded[len(UNCERTAIN) :]}
    if recorded.startswith(REFUSED):
        return _("Telegram refused the message: %(detail)s") % {"detail": recorded[len(REFUSED) :]}
    gave_up = _GAVE_UP.match(recorded)
    if gave_up:
        return _("Gave up after %(attempts)s attempts: %(detail)s") % {
            "attempts": gave_up.group(1),
            "detail": gave_up.group(2),
        }
    return recorded


def segment_summary(broadcast: Broadcast) -> str:
    """e.g. "subscription ends within 7 days · English"."""
    if broadcast.segment == Broadcast.Segment.EXPIRING:
        label = _("subscription ends within %(days)s days") % {"days": broadcast.expiring_days}
    else:
        label = str(broadcast.get_segment_display())
    if broadcast.language:
        label += f" · {broadcast.get_language_display()}"
    return label


def message_preview(broadcast: Broadcast) -> str:
    """The message as HTML for the admin page, rebuilt from its checked markup (never the text as written)."""
    return preview_html(broadcast.text)


class BroadcastIdFilter(admin.SimpleListFilter):
    """The deliveries of one broadcast (the newest broadcasts listed; any id works in the URL)."""

    title = gettext_lazy("broadcast")
    parameter_name = "broadcast__id__exact"

    def lookups(self, request, model_admin):
        return [
            (str(pk), name)
            for pk, name in Broadcast.objects.exclude(status=Broadcast.Status.DRAFT)
            .order_by("-started_at")
            .values_list("pk", "name")[:20]
        ]

    def queryset(self, request, queryset):
        value = self.value()
        if value and value.isdigit():
            return queryset.filter(broadcast_id=int(value))
        return queryset


@admin.register(Delivery)
class DeliveryAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("broadcast", "user", "status", "attempts", "done_at", "error_text")
    list_filter = (BroadcastIdFilter, "status")
    list_select_related = ("broadcast", "user")
    ordering = ("-pk",)
    search_fields = ("=user__telegram_id",)
    paginator = BoundedCountPaginator
    show_full_result_count = False
    fields = ("broadcast", "user", "status", "attempts", "claimed_at", "message_id", "done_at", "error_text")
    readonly_fields = fields

    @admin.display(description=gettext_lazy("error"))
    def error_text(self, delivery: Delivery) -> str:
        return readable(delivery.error)

    def get_search_results(self, request, queryset, search_term):
        if not search_term.strip():
            return queryset, False
        return queryset.filter(user_id__in=user_ids_for_search(search_term)), False
