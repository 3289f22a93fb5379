"""Offers: each tariff on sale priced for a buyer, with their promo code where it applies."""

from __future__ import annotations

from dataclasses import dataclass

from promos.services import PromoInvalid, Quote, promo_quote, quote_for
from subscriptions.models import Tariff
from subscriptions.pricing import Configuration
from subscriptions.selectors import tariffs_on_sale
from users.models import User


@dataclass(frozen=True)
class Offer:
    tariff: Tariff
    quote: Quote
    promo_refused: str = ""  # why the applied promo does not work for this tariff


def offer_for(*, user: User, tariff: Tariff, promo_code: str, configuration: Configuration | None = None) -> Offer:
    """The tariff's price (in `configuration`, else its fixed one) for this buyer: with their promo when it applies."""
    if promo_code:
        try:
            quote = promo_quote(tariff=tariff, user=user, code=promo_code, configuration=configuration)
            return Offer(tariff=tariff, quote=quote)
        except PromoInvalid as exc:
            quote = quote_for(tariff=tariff, promo=None, configuration=configuration)
            return Offer(tariff=tariff, quote=quote, promo_refused=str(exc.message))
    return Offer(tariff=tariff, quote=quote_for(tariff=tariff, promo=None, configuration=configuration))


def offers_for(*, user: User, promo_code: str) -> list[Offer]:
    return [offer_for(user=user, tariff=tariff, promo_code=promo_code) for tariff in tariffs_on_sale()]
