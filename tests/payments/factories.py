import factory

from payments.models import Payment
from payments.services import new_invoice_payload
from tests.subscriptions.factories import TariffFactory
from tests.users.factories import UserFactory


class PaymentFactory(factory.django.DjangoModelFactory):
    """A pending Stars invoice for the 1-month tariff at its price."""

    class Meta:
        model = Payment

    user = factory.SubFactory(UserFactory)
    tariff = factory.SubFactory(TariffFactory)
    kind = Payment.Kind.SUBSCRIPTION
    method = Payment.Method.STARS
    source = Payment.Source.BOT
    status = Payment.Status.PENDING
    base_price = factory.LazyAttribute(lambda o: o.tariff.price_stars if o.tariff else 100)
    discount = 0
    amount = factory.LazyAttribute(lambda o: o.base_price - o.discount)
    days = factory.LazyAttribute(lambda o: o.tariff.days if o.tariff else 0)
    invoice_payload = factory.LazyFunction(new_invoice_payload)
