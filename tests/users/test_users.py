import pytest

from users.models import User
from users.services import user_get_or_create_from_telegram

pytestmark = pytest.mark.django_db


def test_first_contact_creates_a_buyer_without_password():
    user = user_get_or_create_from_telegram(telegram_id=42, username="neo", first_name="Thomas", language_code="en")
    assert (user.username, user.telegram_username, user.language) == ("tg_42", "neo", "en")
    assert not user.has_usable_password() and not user.is_staff


def test_later_contact_refreshes_profile_fields():
    user_get_or_create_from_telegram(telegram_id=42, username="neo", language_code="en")
    user = user_get_or_create_from_telegram(telegram_id=42, username="the_one", language_code="ru")
    assert User.objects.count() == 1
    user.refresh_from_db()
    assert (user.telegram_username, user.language) == ("the_one", "ru")


def test_russian_is_the_default_language():
    assert user_get_or_create_from_telegram(telegram_id=7).language == "ru"
