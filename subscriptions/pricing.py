"""Every price rule of the shop, in one place: the price of a plan's period, of its options,
the period discount, directly set prices, and a promo's discount. The doors (bot, API,
admin) only display what this computes; promos/services.py adds the promo code's checks.

A configuration is a plan (a Tariff: the period) with one choice per option the plan
offers (device tier, traffic tier, location). Its price:

- set directly: a PlanPrice row for exactly that combination with a price; else
- computed: the plan's price (price_stars, or its price rule: monthly price × days / 30,
  minus the period discount) + each chosen option's monthly price × days / 30, minus the
  period discount. Each part is rounded up to a whole Star (in the shop's favour, by less
  than one Star a part).

A payment keeps a snapshot (`snapshot`) of the configuration and its price; pre-checkout
asks `snapshot_refusal` whether the catalogue still sells it at that price.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from django.db.models import CharField, Value
from django.utils import translation
from django.utils.translation import gettext_lazy as _

from core.errors import ApplicationError
from subscriptions.models import (
    STAR_SUBSCRIPTION_MAX_PRICE,
    DeviceTier,
    Location,
    PlanPrice,
    Tariff,
    TrafficTier,
)

SNAPSHOT_VERSION = 1
DAYS_PER_MONTH = 30

# The three options of a plan, in the order the buyer chooses them (after the period).
DEVICES, TRAFFIC, LOCATION = "devices", "traffic", "location"
OPTION_KINDS = (DEVICES, TRAFFIC, LOCATION)


class ConfigurationInvalid(ApplicationError):
    """A choice of options the plan does not sell (now); `reason` is a stable machine code."""

    code = "configuration_invalid"
    status = 422

    MESSAGES = {
        "choose": _("Choose one of the offered options first."),
        "unknown_option": _("This option is not offered with this plan."),
        "not_offered": _("This combination is not offered. Please choose another one."),
        "price_changed": _("The price has changed since this invoice was issued. Please start a new purchase."),
        "too_expensive_to_renew": _("This combination costs more than Telegram allows for an auto-renewing plan."),
    }

    def __init__(self, reason: str, *, option: str = ""):
        self.reason = reason
        super().__init__(self.MESSAGES[reason], details={"reason": reason, "option": option})


# --- Rules ------------------------------------------------------------------------------


def ceil_div(numerator: int, denominator: int) -> int:
    return -(-numerator // denominator)


def for_period(*, monthly: int, days: int, discount_percent: int) -> int:
    """A monthly price for `days` days, minus the period discount, rounded up to a whole Star."""
    if monthly <= 0:
        return 0
    return ceil_div(monthly * days * (100 - discount_percent), DAYS_PER_MONTH * 100)


def plan_price(tariff: Tariff) -> int:
    """The plan's own price for its period: its price rule when it has one, else price_stars."""
    if tariff.monthly_price is None:
        return tariff.price_stars
    rule = for_period(monthly=tariff.monthly_price, days=tariff.days, discount_percent=tariff.period_discount_percent)
    return max(rule, 1)


def promo_discount(*, price: int, percent: int) -> int:
    """A promo's discount in whole Stars, rounded down (the shop's favour), never leaving a
    paid price below 1 Star: only a 100 % promo makes a purchase free."""
    if percent >= 100:
        return price
    discount = price * percent // 100
    return max(min(discount, price - 1), 0)


# --- Choices ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Selection:
    """The option ids a buyer chose (None: not chosen, or nothing to choose)."""

    devices: int | None = None
    traffic: int | None = None
    location: int | None = None

    SEPARATOR = "."

    def as_kwargs(self) -> dict[str, int | None]:
        return {DEVICES: self.devices, TRAFFIC: self.traffic, LOCATION: self.location}

    def with_choice(self, kind: str, option_id: int) -> Selection:
        return Selection(**{**self.as_kwargs(), kind: option_id})

    def encode(self) -> str:
        """Short, for a button's callback data: "3.-.7"."""
        return self.SEPARATOR.join("-" if value is None else str(value) for value in self.as_kwargs().values())

    @classmethod
    def decode(cls, text: str) -> Selection:
        """The inverse of encode; anything malformed is no choice at all."""
        parts = (text or "").split(cls.SEPARATOR)
        if len(parts) != 3:
            return cls()
        values = [int(part) if part.isdigit() and len(part) < 10 else None for part in parts]
        return cls(*values)


# --- Configurations -----------------------------------------------------------------------


@dataclass(frozen=True)
class PlanOptions:
    """What a plan offers (active options only, in the owner's order)."""

    devices: list[DeviceTier] = field(default_factory=list)
    traffic: list[TrafficTier] = field(default_factory=list)
    locations: list[Location] = field(default_factory=list)

    def of(self, kind: str) -> list:
        return {DEVICES: self.devices, TRAFFIC: self.traffic, LOCATION: self.locations}[kind]

    def has_choice(self, kind: str) -> bool:
        return len(self.of(kind)) > 1

    @property
    def has_any_choice(self) -> bool:
        return any(self.has_choice(kind) for kind in OPTION_KINDS)


def plan_options(tariff: Tariff) -> PlanOptions:
    """The plan's active options: one query for a plan without any (a simple shop's every
    plan), then one per kind it offers."""
    links = [
        (DEVICES, Tariff.device_tiers.through, "devicetier"),
        (TRAFFIC, Tariff.traffic_tiers.through, "traffictier"),
        (LOCATION, Tariff.locations.through, "location"),
    ]
    queries = [
        through.objects.filter(tariff_id=tariff.pk, **{f"{name}__is_active": True})
        .annotate(kind=Value(kind, output_field=CharField()))
        .values_list("kind", f"{name}_id")
        for kind, through, name in links
    ]
    ids: dict[str, list[int]] = {kind: [] for kind in OPTION_KINDS}
    for kind, option_id in queries[0].union(*queries[1:], all=True):
        ids[kind].append(option_id)

    def load(model, kind: str) -> list:
        return list(model.objects.filter(pk__in=ids[kind]).order_by("sort_order", "pk")) if ids[kind] else []

    return PlanOptions(
        devices=load(DeviceTier, DEVICES), traffic=load(TrafficTier, TRAFFIC), locations=load(Location, LOCATION)
    )


@dataclass(frozen=True)
class Configuration:
    """A plan with one choice per option it offers (None: the plan offers none of that kind)."""

    tariff: Tariff
    device_tier: DeviceTier | None = None
    traffic_tier: TrafficTier | None = None
    location: Location | None = None

    @property
    def is_fixed(self) -> bool:
        return self.device_tier is None and self.traffic_tier is None and self.location is None

    @property
    def device_limit(self) -> int | None:
        return self.device_tier.device_limit if self.device_tier else self.tariff.device_limit

    @property
    def traffic_limit_bytes(self) -> int:
        return self.traffic_tier.traffic_limit_bytes if self.traffic_tier else self.tariff.traffic_limit_bytes

    @property
    def traffic_strategy(self) -> str | None:
        """None: the environment's REMNAWAVE_TRAFFIC_STRATEGY (a plan without traffic tiers)."""
        return self.traffic_tier.traffic_strategy if self.traffic_tier else None

    @property
    def squads(self) -> list[str] | None:
        """None: the environment's REMNAWAVE_SQUADS (a plan without locations)."""
        return list(self.location.squads) if self.location else None

    def option_ids(self) -> tuple[int | None, int | None, int | None]:
        return (
            self.device_tier.pk if self.device_tier else None,
            self.traffic_tier.pk if self.traffic_tier else None,
            self.location.pk if self.location else None,
        )


def _chosen(options: list, wanted: int | None, kind: str):
    if not options:
        if wanted is not None:
            raise ConfigurationInvalid("unknown_option", option=kind)
        return None
    if wanted is None:
        if len(options) == 1:
            return options[0]
        raise ConfigurationInvalid("choose", option=kind)
    for option in options:
        if option.pk == wanted:
            return option
    raise ConfigurationInvalid("unknown_option", option=kind)


def configuration_for(
    *,
    tariff: Tariff,
    devices: int | None = None,
    traffic: int | None = None,
    location: int | None = None,
    options: PlanOptions | None = None,
) -> Configuration:
    """The configuration these choices (option ids) make with this plan; a kind with one
    option needs no choice. Raises ConfigurationInvalid for a choice the plan does not offer."""
    options = options if options is not None else plan_options(tariff)
    configuration = Configuration(
        tariff=tariff,
        device_tier=_chosen(options.devices, devices, DEVICES),
        traffic_tier=_chosen(options.traffic, traffic, TRAFFIC),
        location=_chosen(options.locations, location, LOCATION),
    )
    return configuration


def _direct_price(configuration: Configuration) -> PlanPrice | None:
    """The owner's row for exactly this combination (only configurations with options have one)."""
    if configuration.is_fixed:
        return None
    device, traffic, location = configuration.option_ids()
    return (
        PlanPrice.objects.filter(
            tariff_id=configuration.tariff.pk, device_tier_id=device, traffic_tier_id=traffic, location_id=location
        )
        .order_by("pk")
        .first()
    )


@dataclass(frozen=True)
class Price:
    """A configuration's list price (before any promo), in whole Stars, by part."""

    plan: int
    devices: int = 0
    traffic: int = 0
    location: int = 0
    discount_percent: int = 0  # the period discount applied to the monthly prices
    direct: bool = False  # set directly by the owner (the parts are then informative only)
    total_override: int | None = None

    @property
    def total(self) -> int:
        if self.total_override is not None:
            return self.total_override
        return self.plan + self.devices + self.traffic + self.location

    def as_dict(self) -> dict:
        return {
            "plan": self.plan,
            "devices": self.devices,
            "traffic": self.traffic,
            "location": self.location,
            "discount_percent": self.discount_percent,
            "direct": self.direct,
            "total": self.total,
        }


def configuration_price(configuration: Configuration, *, check_offered: bool = True) -> Price:
    """The list price of a configuration (see the module's rules)."""
    tariff = configuration.tariff
    percent = tariff.period_discount_percent

    def part(option) -> int:
        if option is None:
            return 0
        return for_period(monthly=option.monthly_price, days=tariff.days, discount_percent=percent)

    price = Price(
        plan=plan_price(tariff),
        devices=part(configuration.device_tier),
        traffic=part(configuration.traffic_tier),
        location=part(configuration.location),
        discount_percent=percent,
    )
    direct = _direct_price(configuration)
    if direct is not None:
        if check_offered and not direct.is_offered:
            raise ConfigurationInvalid("not_offered")
        if direct.price_stars:
            price = Price(
                plan=price.plan,
                devices=price.devices,
                traffic=price.traffic,
                location=price.location,
                discount_percent=percent,
                direct=True,
                total_override=direct.price_stars,
            )
    if tariff.renews_monthly and price.total > STAR_SUBSCRIPTION_MAX_PRICE:
        raise ConfigurationInvalid("too_expensive_to_renew")
    return price


# --- The snapshot a payment keeps -------------------------------------------------------------


def _option_ref(option) -> dict | None:
    if option is None:
        return None
    titles = {}
    for language in ("en", "ru"):
        with translation.override(language):  # a generated title ("3 devices") in that language
            titles[language] = str(option.title_for(language))
    return {"id": option.pk, "title": titles["en"], "title_ru": titles["ru"]}


def snapshot(configuration: Configuration, price: Price) -> dict:
    """What was bought at what price, as plain JSON (kept on the payment, then on the subscription)."""
    tariff = configuration.tariff
    return {
        "v": SNAPSHOT_VERSION,
        "plan": {"id": tariff.pk, "code": tariff.code, "title": tariff.title},
        "days": tariff.days,
        "devices": _option_ref(configuration.device_tier),
        "traffic": _option_ref(configuration.traffic_tier),
        "location": _option_ref(configuration.location),
        "device_limit": configuration.device_limit,
        "traffic_limit_bytes": configuration.traffic_limit_bytes,
        "traffic_strategy": configuration.traffic_strategy,
        "squads": configuration.squads,
        "price": price.as_dict(),
    }


def snapshot_option_id(data: dict, kind: str) -> int | None:
    ref = (data or {}).get(kind)
    return ref.get("id") if isinstance(ref, dict) else None


def snapshot_label(data: dict, kind: str, *, language: str) -> str:
    ref = (data or {}).get(kind)
    if not isinstance(ref, dict):
        return ""
    return (ref.get("title_ru") if language == "ru" else "") or ref.get("title") or ""


def snapshot_refusal(*, tariff: Tariff, data: dict, base_price: int) -> ConfigurationInvalid | None:
    """Why the catalogue no longer sells this snapshot at `base_price` (the payment's price
    before its promo), or None. A fixed configuration is checked without a query (pre-checkout
    answers within Telegram's 10 seconds); one with options reads the options again."""
    ids = {kind: snapshot_option_id(data, kind) for kind in OPTION_KINDS}
    if not any(ids.values()):
        return None if plan_price(tariff) == base_price else ConfigurationInvalid("price_changed")
    try:
        configuration = Configuration(
            tariff=tariff,
            device_tier=_reload(DeviceTier, tariff, ids[DEVICES], "device_tiers"),
            traffic_tier=_reload(TrafficTier, tariff, ids[TRAFFIC], "traffic_tiers"),
            location=_reload(Location, tariff, ids[LOCATION], "locations"),
        )
        price = configuration_price(configuration)
    except ConfigurationInvalid as exc:
        return exc
    if price.total != base_price:
        return ConfigurationInvalid("price_changed")
    return None


def _reload(model, tariff: Tariff, option_id: int | None, relation: str):
    """The option, still offered with this plan (one indexed read), or ConfigurationInvalid."""
    if option_id is None:
        return None
    option = model.objects.filter(pk=option_id, is_active=True, tariffs=tariff).first()
    if option is None:
        raise ConfigurationInvalid("unknown_option", option=relation)
    return option


def next_choice(options: PlanOptions, selection: Selection) -> str | None:
    """The next option kind the buyer must choose (period → devices → traffic → location), or None
    when the selection is complete; a kind with one value (or none) is never asked."""
    chosen = selection.as_kwargs()
    for kind in OPTION_KINDS:
        if options.has_choice(kind) and chosen[kind] is None:
            return kind
    return None


def option_prices(tariff: Tariff, options: PlanOptions) -> dict[tuple[str, int], int]:
    """What each option adds to this plan's price for its period (computed rule; a combination
    priced directly may differ, its total is in the quote)."""
    percent = tariff.period_discount_percent
    return {
        (kind, option.pk): for_period(monthly=option.monthly_price, days=tariff.days, discount_percent=percent)
        for kind in OPTION_KINDS
        for option in options.of(kind)
    }


# --- The catalogue as the doors list it ---------------------------------------------------------

MAX_CONFIGURATIONS = 500  # per plan: the listing stays bounded whatever the owner enables


def configurations_on_sale(tariff: Tariff, options: PlanOptions) -> list[tuple[Configuration, Price]]:
    """Every configuration of the plan the owner sells, with its price."""
    found = []
    for device in options.devices or [None]:
        for traffic in options.traffic or [None]:
            for location in options.locations or [None]:
                configuration = Configuration(
                    tariff=tariff, device_tier=device, traffic_tier=traffic, location=location
                )
                try:
                    found.append((configuration, configuration_price(configuration)))
                except ConfigurationInvalid:
                    continue  # not offered, or too expensive to renew
                if len(found) >= MAX_CONFIGURATIONS:
                    return found
    return found
