"""The pricing rules (subscriptions/pricing.py), as a table: the plan's price or its rule, each
option's monthly price for the period with the period discount, prices set directly,
combinations not offered, the promo's discount, and rounding in the shop's favour."""

from __future__ import annotations

import pytest

from promos.services import quote_for
from subscriptions.pricing import (
    Configuration,
    ConfigurationInvalid,
    Selection,
    configuration_for,
    configuration_price,
    for_period,
    plan_options,
    plan_price,
    promo_discount,
)
from tests.promos.factories import PromoCodeFactory
from tests.subscriptions.factories import (
    DeviceTierFactory,
    LocationFactory,
    PlanPriceFactory,
    TariffFactory,
    TrafficTierFactory,
)

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("monthly", "days", "discount", "expected"),
    [
        (30, 30, 0, 30),  # one month: the monthly price
        (30, 90, 0, 90),  # three months: three times
        (30, 90, 10, 81),  # minus the period discount: 90 × 0.9
        (25, 90, 15, 64),  # 63.75 rounds up (the shop's favour, by less than one Star)
        (10, 7, 0, 3),  # a week of 10 a month: 2.33 rounds up
        (1, 1, 90, 1),  # a fraction of a Star is still one Star
        (0, 365, 0, 0),  # an included option costs nothing
    ],
)
def test_a_monthly_price_for_a_period(monthly, days, discount, expected):
    assert for_period(monthly=monthly, days=days, discount_percent=discount) == expected


@pytest.mark.parametrize(
    ("price", "percent", "expected"),
    [(100, 10, 10), (99, 10, 9), (101, 33, 33), (5, 99, 4), (1, 50, 0), (100, 100, 100), (100, 0, 0)],
)
def test_a_promo_discount_rounds_down_and_leaves_at_least_one_star(price, percent, expected):
    assert promo_discount(price=price, percent=percent) == expected


def test_a_plan_without_a_rule_costs_its_set_price():
    assert plan_price(TariffFactory(code="3m", days=90, months=3, price_stars=250)) == 250


def test_a_plan_with_a_rule_costs_its_monthly_price_for_the_period_minus_the_discount():
    tariff = TariffFactory(
        code="half-year", days=180, months=6, price_stars=1, monthly_price=99, period_discount_percent=15
    )

    assert plan_price(tariff) == 505  # 99 × 6 × 0.85 = 504.9, rounded up


def test_a_plan_without_options_is_its_fixed_configuration_at_its_price(tariff_1m):
    configuration = configuration_for(tariff=tariff_1m)

    assert configuration.is_fixed and configuration_price(configuration).total == 100
    assert quote_for(tariff=tariff_1m, promo=None).amount == 100


@pytest.fixture
def built_plan():
    """3 months at 250, period discount 10 %: 1 device included, 3 devices +30/month,
    unlimited traffic +20/month, two locations (Germany +10/month)."""
    tariff = TariffFactory(code="built-3m", days=90, months=3, price_stars=250, period_discount_percent=10)
    one, three = DeviceTierFactory(device_limit=1), DeviceTierFactory(device_limit=3, monthly_price=30)
    unlimited = TrafficTierFactory(traffic_limit_bytes=0, monthly_price=20)
    netherlands = LocationFactory(title="Netherlands")
    germany = LocationFactory(title="Germany", title_ru="🇩🇪 Германия", monthly_price=10)
    tariff.device_tiers.set([one, three])
    tariff.traffic_tiers.set([unlimited])
    tariff.locations.set([netherlands, germany])
    return tariff, {"one": one, "three": three, "unlimited": unlimited, "nl": netherlands, "de": germany}


def test_a_computed_price_adds_each_option_for_the_period_with_the_period_discount(built_plan):
    tariff, o = built_plan
    configuration = configuration_for(tariff=tariff, devices=o["three"].pk, location=o["de"].pk)

    price = configuration_price(configuration)

    # devices 30 × 3 × 0.9 = 81, traffic 20 × 3 × 0.9 = 54, location 10 × 3 × 0.9 = 27
    assert (price.plan, price.devices, price.traffic, price.location) == (250, 81, 54, 27)
    assert price.total == 412 and not price.direct


def test_an_option_of_a_kind_with_one_value_needs_no_choice(built_plan):
    tariff, o = built_plan

    configuration = configuration_for(tariff=tariff, devices=o["one"].pk, location=o["nl"].pk)

    assert configuration.traffic_tier == o["unlimited"]


def test_a_kind_with_several_values_must_be_chosen(built_plan):
    tariff, o = built_plan

    with pytest.raises(ConfigurationInvalid) as refused:
        configuration_for(tariff=tariff, location=o["nl"].pk)

    assert refused.value.reason == "choose" and refused.value.details["option"] == "devices"


def test_an_option_of_another_plan_is_refused(built_plan, tariff_1m):
    tariff, o = built_plan
    stranger = DeviceTierFactory(device_limit=9)

    with pytest.raises(ConfigurationInvalid) as refused:
        configuration_for(tariff=tariff, devices=stranger.pk, location=o["nl"].pk)
    with pytest.raises(ConfigurationInvalid):
        configuration_for(tariff=tariff_1m, devices=o["one"].pk)  # the plan offers no device choice

    assert refused.value.reason == "unknown_option"


def test_an_option_switched_off_is_no_longer_offered(built_plan):
    tariff, o = built_plan
    o["de"].is_active = False
    o["de"].save()

    assert plan_options(tariff).locations == [o["nl"]]
    with pytest.raises(ConfigurationInvalid):
        configuration_for(tariff=tariff, devices=o["one"].pk, location=o["de"].pk)


def test_a_price_set_directly_wins_over_the_computed_one(built_plan):
    tariff, o = built_plan
    PlanPriceFactory(
        tariff=tariff, device_tier=o["three"], traffic_tier=o["unlimited"], location=o["de"], price_stars=399
    )

    price = configuration_price(configuration_for(tariff=tariff, devices=o["three"].pk, location=o["de"].pk))

    assert (price.total, price.direct) == (399, True)


def test_a_combination_the_owner_did_not_enable_is_refused(built_plan):
    tariff, o = built_plan
    PlanPriceFactory(
        tariff=tariff, device_tier=o["one"], traffic_tier=o["unlimited"], location=o["de"], is_offered=False
    )

    with pytest.raises(ConfigurationInvalid) as refused:
        configuration_price(configuration_for(tariff=tariff, devices=o["one"].pk, location=o["de"].pk))

    assert refused.value.reason == "not_offered"


def test_a_promo_applies_to_the_configurations_price(built_plan):
    tariff, o = built_plan
    configuration = configuration_for(tariff=tariff, devices=o["three"].pk, location=o["de"].pk)

    quote = quote_for(
        tariff=tariff, promo=PromoCodeFactory(code="TEN", discount_percent=10), configuration=configuration
    )

    assert (quote.base_price, quote.discount, quote.amount) == (412, 41, 371)


def test_a_renewing_plan_cannot_cost_more_than_telegram_allows(renewing_tariff):
    expensive = DeviceTierFactory(device_limit=0, monthly_price=20_000)
    renewing_tariff.device_tiers.set([expensive])

    with pytest.raises(ConfigurationInvalid) as refused:
        configuration_price(configuration_for(tariff=renewing_tariff))

    assert refused.value.reason == "too_expensive_to_renew"


def test_the_snapshot_holds_what_was_bought_and_its_price_parts(built_plan):
    tariff, o = built_plan
    configuration = configuration_for(tariff=tariff, devices=o["three"].pk, location=o["de"].pk)

    snapshot = quote_for(tariff=tariff, promo=None, configuration=configuration).snapshot

    assert snapshot["plan"]["code"] == "built-3m" and snapshot["days"] == 90
    assert (snapshot["device_limit"], snapshot["traffic_limit_bytes"], snapshot["traffic_strategy"]) == (3, 0, "MONTH")
    assert snapshot["squads"] == o["de"].squads and snapshot["location"]["title_ru"] == "🇩🇪 Германия"
    assert snapshot["price"] == {
        "plan": 250,
        "devices": 81,
        "traffic": 54,
        "location": 27,
        "discount_percent": 10,
        "direct": False,
        "total": 412,
    }


def test_a_fixed_configurations_snapshot_leaves_squads_and_strategy_to_the_environment(tariff_1m):
    snapshot = quote_for(tariff=tariff_1m, promo=None, configuration=Configuration(tariff=tariff_1m)).snapshot

    assert (snapshot["squads"], snapshot["traffic_strategy"], snapshot["devices"]) == (None, None, None)


@pytest.mark.parametrize(
    ("text", "expected"),
    [("3.-.7", Selection(3, None, 7)), ("-.-.-", Selection()), ("x", Selection()), ("1.2.3.4", Selection())],
)
def test_a_selection_travels_in_callback_data(text, expected):
    assert Selection.decode(text) == expected
    assert Selection.decode(expected.encode()) == expected
