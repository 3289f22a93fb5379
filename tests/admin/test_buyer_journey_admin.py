"""Admin for the buyer's journey: the shop settings (trial, referral bonus), the
client app list, tariff texts per language, referrals, free trials and the
dashboard's trial figures."""

from datetime import timedelta

import pytest
from django.contrib.auth.models import Group
from django.urls import reverse
from django.utils import timezone

from payments.gateways.free import trial_start
from payments.models import Payment, TrialClaim
from referrals.services import referral_attach, referral_code_for
from subscriptions.models import ClientApp, ShopSettings, Tariff
from subscriptions.selectors import referral_bonus_days, trial_days
from tests.admin.conftest import paid_payment
from tests.users.factories import UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def trial_on(settings):
    settings.TRIAL_DAYS = 3


def test_shop_settings_open_on_their_one_row_and_show_what_is_in_force(admin_client_for, finance_user, settings):
    settings.TRIAL_DAYS = 2
    client = admin_client_for(finance_user)

    listing = client.get(reverse("admin:subscriptions_shopsettings_changelist"))
    page = client.get(listing.url)

    assert listing.status_code == 302 and listing.url.endswith("/shopsettings/1/change/")
    assert "free trial: 2 days (environment: TRIAL_DAYS=2)" in page.content.decode()


def test_finance_changes_the_trial_and_the_bonus_without_a_restart(admin_client_for, finance_user, settings):
    settings.TRIAL_DAYS = 0
    settings.REFERRAL_BONUS_DAYS = 7
    url = reverse("admin:subscriptions_shopsettings_change", args=[1])
    client = admin_client_for(finance_user)
    client.get(reverse("admin:subscriptions_shopsettings_changelist"))

    response = client.post(url, {"trial_days": "5", "referral_bonus_days": "0"})

    assert response.status_code == 302
    assert (trial_days(), referral_bonus_days()) == (5, 0)
    assert ShopSettings.objects.count() == 1


def test_an_empty_setting_follows_the_environment(settings):
    settings.TRIAL_DAYS = 4
    ShopSettings.objects.create(pk=1, trial_days=None)

    assert trial_days() == 4


def test_support_may_look_but_not_change_the_settings(admin_client_for, support_user):
    client = admin_client_for(support_user)
    client.get(reverse("admin:subscriptions_shopsettings_changelist"))
    url = reverse("admin:subscriptions_shopsettings_change", args=[1])

    assert client.get(url).status_code == 200
    client.post(url, {"trial_days": "30"})
    assert ShopSettings.objects.get().trial_days is None


def test_the_client_app_list_is_edited_in_the_admin(admin_client_for, finance_user, client_apps):
    client = admin_client_for(finance_user)

    response = client.post(
        reverse("admin:subscriptions_clientapp_add"),
        {
            "platform": "android",
            "name": "NekoBox",
            "url": "https://github.com/MatsuriDayo/NekoBoxForAndroid",
            "sort_order": 9,
            "is_active": "on",
        },
    )
    refused = client.post(
        reverse("admin:subscriptions_clientapp_add"),
        {"platform": "ios", "name": "Scheme", "url": "happ://add/x", "sort_order": 0, "is_active": "on"},
    )

    assert response.status_code == 302
    assert ClientApp.objects.filter(name="NekoBox", platform="android").exists()
    assert refused.status_code == 200 and not ClientApp.objects.filter(name="Scheme").exists()  # https only


def test_tariff_titles_and_descriptions_are_edited_per_language(admin_client_for, finance_user, tariff_1m):
    page = admin_client_for(finance_user).get(reverse("admin:subscriptions_tariff_change", args=[tariff_1m.pk]))

    content = page.content.decode()
    for field in ("title", "title_ru", "description", "description_ru"):
        assert f'name="{field}"' in content


def test_the_migration_gave_existing_tariffs_russian_titles():
    existing = Tariff.objects.exclude(renews_monthly=True)  # the monthly renewing one came later, titled
    assert dict(existing.values_list("code", "title_ru")) == {
        "1m": "1 месяц",
        "3m": "3 месяца",
        "6m": "6 месяцев",
        "12m": "12 месяцев",
    }


def test_referrals_are_listed_and_searchable_with_per_user_stats(admin_client_for, support_user):
    referrer = UserFactory(date_joined=timezone.now() - timedelta(days=3))
    invited = UserFactory()
    referral_attach(invited=invited, code=referral_code_for(user=referrer))
    client = admin_client_for(support_user)

    listing = client.get(reverse("admin:referrals_referral_changelist"), {"q": str(invited.telegram_id)})
    profile = client.get(reverse("admin:users_user_change", args=[referrer.pk]))

    assert listing.status_code == 200 and str(referrer) in listing.content.decode()
    assert "invited 1, of whom 0 bought; bonus earned: 0 days" in profile.content.decode()
    assert client.get(reverse("admin:referrals_referralbonus_changelist")).status_code == 200


def test_free_trials_are_listed_and_filterable(admin_client_for, support_user, trial_on):
    user = UserFactory()
    trial_start(user=user)
    client = admin_client_for(support_user)

    claims = client.get(reverse("admin:payments_trialclaim_changelist"), {"q": str(user.telegram_id)})
    payments = client.get(reverse("admin:payments_payment_changelist"), {"trial": "yes"})

    assert claims.status_code == 200 and str(user.telegram_id) in claims.content.decode()
    assert [p.purchase_type for p in payments.context["cl"].result_list] == ["trial"]


def test_the_dashboard_counts_trials_and_those_that_paid(admin_client_for, support_user, trial_on, tariff_1m):
    converted, idle = UserFactory(), UserFactory()
    trial_start(user=converted)
    trial_start(user=idle)
    Payment.objects.filter(purchase_type="trial").update(paid_at=timezone.now() - timedelta(hours=1))
    TrialClaim.objects.update(created_at=timezone.now() - timedelta(hours=1))
    paid_payment(user=converted, charge_prefix="stxCHARGE")  # not a mock payment: those are left out

    page = admin_client_for(support_user).get(reverse("admin:payments_payment_dashboard"))

    trials = page.context["data"].trials
    assert (trials.started, trials.converted, trials.conversion_percent) == (2, 1, 50.0)
    assert "Free trials → paid" in page.content.decode()


def test_both_groups_can_view_the_new_models():
    for name in ("Support", "Finance"):
        rights = set(Group.objects.get(name=name).permissions.values_list("content_type__app_label", "codename"))
        assert {
            ("referrals", "view_referral"),
            ("payments", "view_trialclaim"),
            ("subscriptions", "view_clientapp"),
        } <= rights
    finance = set(Group.objects.get(name="Finance").permissions.values_list("codename", flat=True))
    assert {"change_shopsettings", "change_clientapp"} <= finance
