"""Building blocks for admin pages over big tables (a million payments).

- BoundedCountPaginator: never COUNT(*) over a whole big table.
- CalendarQuerySet: the date hierarchy from MIN/MAX, not SELECT DISTINCT over every row.
- ReadOnlyAdminMixin / ReadOnlyInline: money rows are never edited or deleted, not even by superusers.
- LimitedInlineFormSet: an inline shows the newest rows only.
- changelist_csv: a CSV of exactly the columns the changelist shows.
"""

from __future__ import annotations

import csv
import re
from datetime import datetime, timedelta

from django.contrib import admin
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.admin.utils import label_for_field, lookup_field
from django.core.paginator import Paginator
from django.db import connections
from django.db.models import Max, Min, QuerySet
from django.forms.models import BaseInlineFormSet
from django.http import HttpResponse
from django.template.response import TemplateResponse
from django.utils import timezone
from django.utils.functional import cached_property
from django.utils.html import strip_tags

COUNT_CAP = 10_000
TELEGRAM_ID = re.compile(r"^\d{1,19}$")  # what a Telegram id typed into a search box looks like


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


def changelist_csv(modeladmin, request, queryset, *, filename: str) -> HttpResponse:
    """The selected rows with the changelist's own columns, labels and values."""
    names = [name for name in modeladmin.get_list_display(request) if name != "action_checkbox"]
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    writer = csv.writer(response)
    writer.writerow([strip_tags(str(label_for_field(name, modeladmin.model, modeladmin))) for name in names])
    for obj in queryset:
        row = []
        for name in names:
            _field, _attr, value = lookup_field(name, obj, modeladmin)
            row.append("" if value is None else strip_tags(str(value)))
        writer.writerow(row)
    return response


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
