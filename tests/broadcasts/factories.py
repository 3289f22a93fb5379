import factory

from broadcasts.models import Broadcast


class BroadcastFactory(factory.django.DjangoModelFactory):
    """A draft to everyone who started the bot."""

    class Meta:
        model = Broadcast

    name = factory.Sequence(lambda n: f"Offer {n}")
    text = "<b>Spring sale</b>: 20 % off every tariff"
    segment = Broadcast.Segment.ALL
