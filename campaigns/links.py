"""The /start payload: one grammar for campaign, promo and referral deep links.

    t.me/<bot>?start=<part>[__<part>[__<part>]]

    part := c_<slug>        a campaign        (slug: a-z, 0-9, "-"; campaigns.models.SLUG_PATTERN)
          | promo_<CODE>    a promo code      (A-Z, a-z, 0-9, "-", single "_")
          | ref_<CODE>      a friend's invitation

Parts are joined by a double underscore, in any order, each kind at most once (a repeated
kind keeps its first value). Telegram passes at most 64 characters of [A-Za-z0-9_-]; a longer
payload, or one with other characters (someone typing "/start ..." by hand), applies nothing.
A part that is not one of these is skipped and the others still apply, except that a payload
whose only known part is a leading `promo_` reads as it always did: everything after `promo_` is
the code (an old link whose code holds "__" still works).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from campaigns.models import SLUG_PATTERN
from referrals.services import DEEP_LINK_PREFIX as REFERRAL_PREFIX

MAX_PAYLOAD = 64  # Telegram's limit for a start parameter
PAYLOAD_ALPHABET = re.compile(r"^[A-Za-z0-9_-]+$")
SEPARATOR = "__"
CAMPAIGN_PREFIX = "c_"
PROMO_PREFIX = "promo_"

_SLUG = re.compile(SLUG_PATTERN)
_CODE = re.compile(r"^[A-Za-z0-9-]+(?:_[A-Za-z0-9-]+)*$")


@dataclass(frozen=True)
class StartLink:
    """What a /start payload asks for; empty strings for what it does not name."""

    campaign: str = ""
    promo: str = ""
    referral: str = ""

    @property
    def empty(self) -> bool:
        return not (self.campaign or self.promo or self.referral)


def _part(text: str) -> tuple[str, str] | None:
    """(kind, value) of one part, or None when it is none of ours."""
    for kind, prefix, pattern in (
        ("campaign", CAMPAIGN_PREFIX, _SLUG),
        ("promo", PROMO_PREFIX, _CODE),
        ("referral", REFERRAL_PREFIX, _CODE),
    ):
        if text.startswith(prefix):
            value = text[len(prefix) :]
            return (kind, value) if pattern.match(value) else None
    return None


def start_link_parse(payload: str) -> StartLink:
    """The parts of a /start payload (see the module docstring); never raises."""
    payload = (payload or "").strip()
    if not payload or len(payload) > MAX_PAYLOAD or not PAYLOAD_ALPHABET.match(payload):
        return StartLink()
    parts = [_part(text) for text in payload.split(SEPARATOR)]
    known = [part for part in parts if part is not None]
    if len(known) < len(parts) and len(known) == 1 and parts[0] is not None and parts[0][0] == "promo":
        # Nothing but a leading promo and parts of no kind: a promo code with "__" in it, as it always read.
        return StartLink(promo=payload[len(PROMO_PREFIX) :])
    found: dict[str, str] = {}
    for kind, value in known:
        found.setdefault(kind, value)
    return StartLink(**found)


def start_payload(*, campaign: str = "", promo: str = "", referral: str = "") -> str:
    """The payload for these parts (campaign first); ValueError when a part cannot be read back
    or the whole is longer than Telegram takes."""
    parts = []
    if campaign:
        parts.append(CAMPAIGN_PREFIX + campaign)
    if promo:
        parts.append(PROMO_PREFIX + promo)
    if referral:
        parts.append(REFERRAL_PREFIX + referral)
    payload = SEPARATOR.join(parts)
    if start_link_parse(payload) != StartLink(campaign=campaign, promo=promo, referral=referral):
        raise ValueError(f"{payload!r} is not a start link this bot can read")
    return payload


def start_url(*, bot_username: str, payload: str) -> str:
    return f"https://t.me/{bot_username}?start={payload}"
