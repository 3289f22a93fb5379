"""The /start payload grammar: every combination of campaign, promo and invitation, and
payloads that apply nothing (or only what is well formed)."""

import pytest

from campaigns.links import StartLink, start_link_parse, start_payload, start_url


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        ("", StartLink()),
        ("c_spring-ads", StartLink(campaign="spring-ads")),
        ("promo_PROMO10", StartLink(promo="PROMO10")),
        ("ref_ABCD2345", StartLink(referral="ABCD2345")),
        ("c_spring-ads__promo_PROMO10", StartLink(campaign="spring-ads", promo="PROMO10")),
        ("promo_PROMO10__c_spring-ads", StartLink(campaign="spring-ads", promo="PROMO10")),
        ("c_blog__ref_ABCD2345", StartLink(campaign="blog", referral="ABCD2345")),
        ("ref_ABCD2345__promo_SPRING_SALE", StartLink(promo="SPRING_SALE", referral="ABCD2345")),
        ("c_yt__promo_X1__ref_ABCD2345", StartLink(campaign="yt", promo="X1", referral="ABCD2345")),
        ("ref_ABCD2345__c_yt__promo_X1", StartLink(campaign="yt", promo="X1", referral="ABCD2345")),
    ],
)
def test_every_combination_reads_back(payload, expected):
    assert start_link_parse(payload) == expected


@pytest.mark.parametrize(
    "payload",
    [
        "c_" + "a" * 63,  # longer than Telegram's 64 characters
        "c_ads promo_X",  # a space: typed by hand, never from a link
        "c_реклама",
        "c_ads__promo_X<b>",
        "   ",
        "c_",  # a prefix with nothing after it
        "promo_",
        "ref_",
        "c_Ads",  # slugs are lowercase
        "c_-ads",  # a slug starts with a letter or digit
        "hello",
        "__",
        "c_ads_promo_X",  # one underscore does not separate parts: an invalid slug
    ],
)
def test_malformed_payloads_apply_nothing(payload):
    assert start_link_parse(payload) == StartLink()


def test_a_malformed_part_is_skipped_and_the_others_apply():
    assert start_link_parse("c_ads__junk__ref_ABCD2345") == StartLink(campaign="ads", referral="ABCD2345")
    assert start_link_parse("c_BAD__promo_X1") == StartLink(promo="X1")


def test_a_repeated_kind_keeps_its_first_value():
    assert start_link_parse("c_first__c_second") == StartLink(campaign="first")


def test_an_old_promo_link_whose_code_holds_a_double_underscore_still_reads_as_one_code():
    assert start_link_parse("promo_SUMMER__24") == StartLink(promo="SUMMER__24")


def test_a_promo_with_a_double_underscore_next_to_a_campaign_is_read_as_parts():
    assert start_link_parse("promo_SUMMER__c_ads") == StartLink(campaign="ads", promo="SUMMER")


def test_the_builder_writes_what_the_parser_reads():
    payload = start_payload(campaign="spring-ads", promo="PROMO10", referral="ABCD2345")

    assert payload == "c_spring-ads__promo_PROMO10__ref_ABCD2345"
    assert start_link_parse(payload) == StartLink(campaign="spring-ads", promo="PROMO10", referral="ABCD2345")
    assert start_url(bot_username="shop_bot", payload="c_x") == "https://t.me/shop_bot?start=c_x"


@pytest.mark.parametrize(
    "parts",
    [
        {"campaign": "Bad_Slug"},
        {"promo": "ENDS_"},
        {"campaign": "a" * 32, "promo": "P" * 30},  # 70 characters: more than Telegram takes
    ],
)
def test_the_builder_refuses_what_could_not_be_read_back(parts):
    with pytest.raises(ValueError):
        start_payload(**parts)
