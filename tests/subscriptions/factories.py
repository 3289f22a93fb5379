import factory

from subscriptions.models import Subscription, Tariff


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
