"""Admin for growth campaigns: the start link to give out, and what each campaign brought
(payments.dashboard.campaigns says how each figure is counted), on the list, on the
campaign's page and as CSV."""

from __future__ import annotations

from contextvars import ContextVar

from django.contrib import admin
from django.utils.formats import number_format
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from campaigns.links import start_payload, start_url
from campaigns.models import Campaign
from core.admin import AuditedChangesMixin, CsvExportMixin
from integrations.telegram import bot_username
from payments.dashboard.campaigns import CampaignFigures, campaign_figures

NONE = "—"

# The request being answered: the list's columns and the page's read-only fields get only the
# campaign, and a ModelAdmin is shared by every thread, so the per-request figures live here.
_request: ContextVar = ContextVar("campaign_admin_request")


def decimal(value: float | None, suffix: str = "") -> str:
    return NONE if value is None else number_format(value, 1, force_grouping=True) + suffix


def signed_percent(value: float | None) -> str:
    return NONE if value is None else ("+" if value > 0 else "") + decimal(value, " %")


# (attribute, label, how it is written): the list's columns, the page's table and the CSV's.
FIGURES = (
    ("starts", gettext_lazy("starts"), None),
    ("trials", gettext_lazy("trials"), None),
    ("first_purchases", gettext_lazy("first purchases"), None),
    ("revenue", gettext_lazy("revenue (Stars)"), None),
    ("refunds", gettext_lazy("refunds"), None),
    ("refunded_stars", gettext_lazy("refunded (Stars)"), None),
    ("cost_per_buyer", gettext_lazy("cost per buyer (Stars)"), decimal),
    ("return_percent", gettext_lazy("return on cost"), signed_percent),
)


def _written(figures: CampaignFigures, attribute: str, writer) -> str | int:
    value = getattr(figures, attribute)
    return writer(value) if writer else value


def _column(attribute: str, label, writer):
    def column(self, obj):
        return _written(self.figures_for(obj), attribute, writer)

    column.short_description = label
    column.__name__ = attribute
    return column


@admin.register(Campaign)
class CampaignAdmin(AuditedChangesMixin, CsvExportMixin, admin.ModelAdmin):
    list_display = (
        "name",
        "start_link",
        "cost_stars",
        *(attribute for attribute, _label, _writer in FIGURES),
    )
    search_fields = ("name", "slug")
    fields = ("name", "slug", "cost_stars", "note", "start_link", "figures", "created_at")
    change_list_template = "admin/csv_change_list.html"
    csv_filename = "campaigns.csv"
    audited_fields = ("name", "slug", "cost_stars")
    audit_action = "campaign.edit"

    for _attribute, _label, _writer in FIGURES:
        locals()[_attribute] = _column(_attribute, _label, _writer)
    del _attribute, _label, _writer

    def get_readonly_fields(self, request, obj=None):
        # A slug given out in links stays as it is: changing it would orphan every link printed.
        readonly = ["start_link", "figures", "created_at"]
        return [*readonly, "slug"] if obj is not None else readonly

    def get_fields(self, request, obj=None):
        return self.fields if obj is not None else ("name", "slug", "cost_stars", "note")

    # --- Figures: read once per request -----------------------------------------------------

    def _all_figures(self, request) -> dict[int, CampaignFigures]:
        if not hasattr(request, "_campaign_figures"):
            request._campaign_figures = {f.campaign_id: f for f in campaign_figures()}
        return request._campaign_figures

    def changelist_view(self, request, extra_context=None):
        token = _request.set(request)
        try:
            response = super().changelist_view(request, extra_context)
            return response.render() if hasattr(response, "render") else response
        finally:
            _request.reset(token)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        token = _request.set(request)
        try:
            response = super().change_view(request, object_id, form_url, extra_context)
            return response.render() if hasattr(response, "render") else response
        finally:
            _request.reset(token)

    def figures_for(self, obj: Campaign) -> CampaignFigures:
        figures = self._all_figures(_request.get()).get(obj.pk)
        return figures or CampaignFigures(campaign_id=obj.pk, name=obj.name, slug=obj.slug, cost=obj.cost_stars)

    # --- The start link ---------------------------------------------------------------------

    def _bot_username(self) -> str | None:
        request = _request.get()
        if not hasattr(request, "_bot_username"):
            request._bot_username = bot_username()
        return request._bot_username

    @admin.display(description=gettext_lazy("start link"))
    def start_link(self, obj: Campaign) -> str:
        payload = start_payload(campaign=obj.slug)
        username = self._bot_username()
        if username is None:
            return format_html(
                '<code class="start-link">?start={}</code> <span class="help">{}</span>',
                payload,
                _("(the bot's username is unknown: Telegram is not configured or not answering)"),
            )
        url = start_url(bot_username=username, payload=payload)
        return format_html('<a class="start-link" href="{}">{}</a>', url, url)

    @admin.display(description=gettext_lazy("what it brought"))
    def figures(self, obj: Campaign) -> str:
        figures = self.figures_for(obj)
        rows = format_html_join(
            "",
            '<tr id="figure-{}" data-value="{}"><th>{}</th><td>{}</td></tr>',
            (
                (
                    attribute,
                    "" if getattr(figures, attribute) is None else getattr(figures, attribute),
                    label,
                    _written(figures, attribute, writer),
                )
                for attribute, label, writer in FIGURES
            ),
        )
        note = _(
            "Starts: people whose first campaign link this was. Trials, first purchases, revenue (Stars "
            "paid through Telegram) and refunds: theirs after they came. Cost per buyer and return on "
            "cost weigh the cost against all of that, refunds taken off."
        )
        return format_html('<table id="campaign-figures">{}</table><p class="help">{}</p>', rows, note)

    # --- CSV ----------------------------------------------------------------------------------------

    def csv_header(self, request) -> list[str]:
        return [_("name"), _("slug"), _("cost (Stars)"), *(str(label) for _a, label, _w in FIGURES)]

    def csv_rows(self, request, queryset):
        ids = list(queryset.values_list("pk", flat=True))
        by_id = {f.campaign_id: f for f in campaign_figures(campaign_ids=ids)}
        for campaign_id in ids:
            figures = by_id[campaign_id]
            yield [
                figures.name,
                figures.slug,
                figures.cost,
                *(getattr(figures, attribute) for attribute, _label, _writer in FIGURES),
            ]
