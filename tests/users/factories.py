import factory

from users.models import User


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        django_get_or_create = ("username",)

    telegram_id = factory.Sequence(lambda n: 100_000 + n)
    username = factory.LazyAttribute(lambda o: f"tg_{o.telegram_id}")
    telegram_username = factory.Sequence(lambda n: f"buyer{n}")
    first_name = "Buyer"
    language_code = "en"


class StaffUserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User

    username = factory.Sequence(lambda n: f"staff{n}")
    telegram_id = None
    is_staff = True
    password = factory.django.Password("correct horse battery staple")
