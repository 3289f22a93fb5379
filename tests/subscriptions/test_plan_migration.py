"""The existing tariffs become plans with one fixed configuration: the plan-options migration
keeps every tariff as it was (id, code, titles, period, price, limits) and each one is sold
exactly as before (the same price, no choice)."""

from __future__ import annotations

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from promos.services import quote_for
from subscriptions.pricing import configuration_for, plan_options

BEFORE = [("subscriptions", "0018_panel_problems_and_check")]
KEPT = (
    "id",
    "code",
    "title",
    "title_ru",
    "description",
    "description_ru",
    "months",
    "days",
    "price_stars",
    "is_active",
    "sort_order",
    "renews_monthly",
    "traffic_limit_bytes",
    "device_limit",
)


def migrate(targets) -> MigrationExecutor:
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)
    return executor


@pytest.mark.django_db(transaction=True)
def test_existing_tariffs_migrate_unchanged_and_sell_at_the_same_price():
    # given the shop before plan options: its tariffs (the default ones, when a flush left them) and two more
    executor = migrate(BEFORE)
    OldTariff = executor.loader.project_state(BEFORE).apps.get_model("subscriptions", "Tariff")
    OldTariff.objects.create(
        code="family", title="Family", months=1, days=30, price_stars=180, traffic_limit_bytes=10**11, device_limit=0
    )
    OldTariff.objects.create(
        code="auto", title="Monthly", title_ru="Ежемесячно", days=30, price_stars=99, renews_monthly=True
    )
    before = {row["code"]: row for row in OldTariff.objects.values(*KEPT)}

    # when the migrations run
    executor = migrate(MigrationExecutor(connection).loader.graph.leaf_nodes())

    # then every tariff is as it was, and is one fixed configuration at its old price
    from subscriptions.models import Tariff

    after = {row["code"]: row for row in Tariff.objects.values(*KEPT)}
    assert after == before
    for tariff in Tariff.objects.all():
        assert not plan_options(tariff).has_any_choice
        assert configuration_for(tariff=tariff).is_fixed
        assert quote_for(tariff=tariff, promo=None).amount == before[tariff.code]["price_stars"]
        assert (tariff.monthly_price, tariff.period_discount_percent) == (None, 0)
