"""Building blocks for admin pages over big tables (a million payments).

- BoundedCountPaginator: never COUNT(*) over a whole big table.
- CalendarQuerySet: the date hierarchy from MIN/MAX, not SELECT DISTINCT over every row.
- ReadOnlyAdminMixin / ReadOnlyInline: money rows are never edited or deleted, not even by superusers.
- LimitedInlineFormSet: an inline shows the newest rows only.
- CsvExportMixin: a changelist's every row, as filtered and searched (or the rows an action
  selected), streamed as CSV: the one way the admin writes CSV, cells neutralised by csv_cell.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable, Iterator
from datetime import datetime, timedelta

from django.contrib import admin, messages
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.admin.options import IncorrectLookupParameters
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db import connections
from django.db.models import Max, Min, QuerySet
from django.forms.models import BaseInlineFormSet
from django.http import StreamingHttpResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.functional import cached_property
from django.utils.translation import gettext
from django.utils.translation import gettext as _

from core.audit import staff_action_record

COUNT_CAP = 10_000
# What a Telegram id typed into a search box looks like (at most 52 bits: 16 digits; a longer
# number would overflow the database column and is no Telegram id).
TELEGRAM_ID = re.compile(r"^\d{1,16}$")


def estimated_row_count(model) -> int | None:
    """PostgreSQL's planner estimate of a table's rows (pg_class.reltuples), or None."""
    connection = connections[model.objects.db]
    if connection.vendor != "postgresql":
        return None
    with connection.cursor() as cursor:
        cursor.execute("SELECT reltuples::bigint FROM pg_class WHERE oid = %s::regclass", [model._meta.db_table])
        row = cursor.fetchone()
    return int(row[0]) if row and row[0] and row[0] > 0 else None


class BoundedCountPaginator(Paginator):
    """Counts at most COUNT_CAP + 1 rows of a filtered list; the unfiltered list
    of a big table uses PostgreSQL's estimate. Deep pages are for filters and search."""

    count_cap = COUNT_CAP

    @cached_property
    def count(self) -> int:
        queryset = self.object_list
        if not isinstance(queryset, QuerySet):
            return len(queryset)
        if not queryset.query.has_filters():
            estimate = estimated_row_count(queryset.model)
            if estimate is not None and estimate > self.count_cap:
                return estimate
        return queryset.order_by()[: self.count_cap + 1].count()


class CalendarQuerySet(QuerySet):
    """`datetimes()` built from the MIN and MAX of the field (two index lookups)
    instead of SELECT DISTINCT date_trunc(...) over every row. Periods without
    rows may show up in the date hierarchy; that is the price of not scanning."""

    def datetimes(self, field_name, kind, order="ASC", tzinfo=None):
        bounds = self.aggregate(first=Min(field_name), last=Max(field_name))
        if not bounds["first"] or not bounds["last"]:
            return []
        first, last = (timezone.localtime(bounds["first"]), timezone.localtime(bounds["last"]))
        tz = timezone.get_current_timezone()
        points: list[datetime] = []
        if kind == "year":
            points = [datetime(year, 1, 1, tzinfo=tz) for year in range(first.year, last.year + 1)]
        elif kind == "month":
            year, month = first.year, first.month
            while (year, month) <= (last.year, last.month):
                points.append(datetime(year, month, 1, tzinfo=tz))
                year, month = (year + 1, 1) if month == 12 else (year, month + 1)
        elif kind == "day":
            day = first.replace(hour=0, minute=0, second=0, microsecond=0)
            while day <= last:
                points.append(day)
                day = timezone.localtime(day + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
        else:
            return super().datetimes(field_name, kind, order=order, tzinfo=tzinfo)
        return points if order == "ASC" else list(reversed(points))


def calendar_queryset(queryset: QuerySet) -> CalendarQuerySet:
    return CalendarQuerySet(model=queryset.model, query=queryset.query.chain(), using=queryset._db)


class ReadOnlyAdminMixin:
    """Append-only rows: viewable by whoever may view them, changed and deleted by nobody."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def get_actions(self, request):
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)
        return actions


class LimitedInlineFormSet(BaseInlineFormSet):
    """Only the newest `limit` rows of a related list (a user may have thousands)."""

    limit = 20

    def get_queryset(self):
        if not hasattr(self, "_limited_queryset"):
            self._limited_queryset = super().get_queryset()[: self.limit]
        return self._limited_queryset


class ReadOnlyInline(admin.TabularInline):
    formset = LimitedInlineFormSet
    extra = 0
    max_num = 0
    can_delete = False
    show_change_link = True

    def get_readonly_fields(self, request, obj=None):
        return [*self.fields] if self.fields else super().get_readonly_fields(request, obj)

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


def action_form_page(
    modeladmin, request, *, form, objects, action: str, title: str, submit_label: str, intro: str = ""
):
    """The intermediate page of an admin action that needs input (an amount, a reason)."""
    context = {
        **modeladmin.admin_site.each_context(request),
        "title": title,
        "opts": modeladmin.model._meta,
        "form": form,
        "objects": objects,
        "action": action,
        "submit_label": submit_label,
        "intro": intro,
        "action_checkbox_name": ACTION_CHECKBOX_NAME,
    }
    return TemplateResponse(request, "admin/action_form.html", context)


# --- Streamed CSV exports -----------------------------------------------------------------------

# A cell a spreadsheet would run as a formula (=, +, -, @, or a leading tab / return) gets a quote first.
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value) -> str | int:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int | float):  # a number is never a formula, negative or not
        return value
    if isinstance(value, datetime):
        return timezone.localtime(value).isoformat(timespec="seconds")
    text = str(value)
    return "'" + text if text.startswith(FORMULA_PREFIXES) else text


class _Echo:
    """A file whose write() hands the line back, for csv.writer in a generator."""

    def write(self, value: str) -> str:
        return value


def csv_stream(*, filename: str, header: list[str], rows: Iterable[Iterable]) -> StreamingHttpResponse:
    """A CSV download written row by row as the client reads it: memory stays flat
    whatever the number of rows. A byte-order mark first, so spreadsheets read UTF-8."""
    writer = csv.writer(_Echo())

    def lines() -> Iterator[str]:
        yield "\ufeff" + writer.writerow(header)
        for row in rows:
            yield writer.writerow([csv_cell(value) for value in row])

    response = StreamingHttpResponse(lines(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    response["Cache-Control"] = "no-store"
    return response


class CsvExportMixin:
    """An "Export CSV" link on the changelist: every row of the list as it is filtered,
    searched and ordered now (all pages), streamed. Subclasses give the header and turn
    the changelist's queryset into rows (`csv_rows`), reading it in chunks."""

    csv_filename = "export.csv"
    csv_chunk_size = 2000

    def csv_header(self, request) -> list[str]:
        raise NotImplementedError

    def csv_rows(self, request, queryset) -> Iterable[Iterable]:
        raise NotImplementedError

    def get_urls(self):
        name = f"{self.model._meta.app_label}_{self.model._meta.model_name}_export"
        export = path("export.csv", self.admin_site.admin_view(self.csv_export_view), name=name)
        return [export, *super().get_urls()]

    def changelist_view(self, request, extra_context=None):
        opts = self.model._meta
        url = reverse(f"admin:{opts.app_label}_{opts.model_name}_export", current_app=self.admin_site.name)
        query = request.GET.copy()
        query.pop("p", None)  # every page, not the one on screen
        extra_context = {**(extra_context or {}), "csv_export_url": f"{url}?{query.urlencode()}" if query else url}
        return super().changelist_view(request, extra_context)

    def csv_export_view(self, request):
        if not self.has_view_permission(request):
            raise PermissionDenied
        try:
            changelist = self.get_changelist_instance(request)
        except IncorrectLookupParameters:
            opts = self.model._meta
            self.message_user(request, _("The list's filters are not valid; nothing was exported."), messages.ERROR)
            return redirect(reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist"))
        return self.csv_response(request, changelist.queryset)

    def csv_response(self, request, queryset) -> StreamingHttpResponse:
        """The rows of `queryset` as the CSV download (the export link, and actions on selected rows)."""
        return csv_stream(
            filename=self.csv_filename, header=self.csv_header(request), rows=self.csv_rows(request, queryset)
        )


# --- The staff audit trail for plain admin edits ------------------------------------------------


class AuditedChangesMixin:
    """An admin add or change of `audited_fields` (prices, limits, on/off) is recorded in the staff
    audit trail with the values before and after, in the admin's own transaction."""

    audited_fields: tuple[str, ...] = ()
    audit_action = ""

    def save_model(self, request, obj, form, change):
        model = type(obj)
        before = model._default_manager.filter(pk=obj.pk).values(*self.audited_fields).first() if change else None
        super().save_model(request, obj, form, change)
        after = {field: getattr(obj, field) for field in self.audited_fields}
        changed = [field for field in self.audited_fields if before is None or before[field] != after[field]]
        if changed:
            staff_action_record(
                action=self.audit_action,
                actor=request.user,
                target=obj,
                before={field: before[field] for field in changed} if before is not None else {},
                after={field: after[field] for field in changed},
                note="" if change else gettext("created"),
            )
