import factory

from promos.models import PromoCode


class PromoCodeFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = PromoCode
        skip_postgeneration_save = True

    code = factory.Sequence(lambda n: f"PROMO{n}")
    discount_percent = 10
    bonus_days = 0
    max_uses = None
    is_active = True
    once_per_user = True

    @factory.post_generation
    def for_tariffs(self, create, extracted, **kwargs):
        if create and extracted:
            self.tariffs.set(extracted)
