import factory

from subscriptions.models import DeviceTier, Location, PlanPrice, Subscription, Tariff, TrafficStrategy, TrafficTier


class TariffFactory(factory.django.DjangoModelFactory):
    """The default tariffs (1m/3m/6m/12m) come from the migration; factories
    reuse them by code, so tests read like the shop."""

    class Meta:
        model = Tariff
        django_get_or_create = ("code",)

    code = "1m"
    title = "1 month"
    title_ru = "1 месяц"
    months = 1
    days = 30
    price_stars = 100
    sort_order = 0
    is_active = True


class SubscriptionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Subscription

    user = factory.SubFactory("tests.users.factories.UserFactory")


class DeviceTierFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = DeviceTier

    device_limit = 1
    monthly_price = 0


class TrafficTierFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = TrafficTier

    traffic_limit_bytes = 100 * 1024**3
    traffic_strategy = TrafficStrategy.MONTH
    monthly_price = 0


class LocationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Location

    title = "Netherlands"
    title_ru = "🇳🇱 Нидерланды"
    squads = factory.LazyFunction(lambda: ["9a3f6a58-0c43-4a83-9a3b-1f6d3c1f0001"])
    monthly_price = 0


class PlanPriceFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = PlanPrice

    tariff = factory.SubFactory(TariffFactory)
