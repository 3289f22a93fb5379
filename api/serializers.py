"""Request parsing and response shapes (also the OpenAPI schema)."""

from __future__ import annotations

from django.conf import settings
from django.core.validators import RegexValidator
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from payments.models import Payment, StarSubscription
from subscriptions.models import Tariff

# Request text is taken as sent (not trimmed: the length the schema states is the length
# checked) and never holds a NUL character (refused by DRF; the schema's pattern says so).
NO_NUL = RegexValidator(r"^[^\x00]*$", message="Null characters are not allowed.")
TEXT = {"trim_whitespace": False, "validators": [NO_NUL]}
ITEM_ID = {"max_length": 32, "help_text": "Tariff code, e.g. `1m`.", **TEXT}
PROMO_CODE = {"max_length": 64, "required": False, "allow_blank": True, "allow_null": True, "default": None, **TEXT}
PURCHASE_TYPE = {"max_length": 32, "required": False, "default": "subscription", **TEXT}
# Where a client may say it started a purchase: a label only. Not "mock": a mock payment is
# one a mock completion paid (its charge says so), never one a client calls mock.
CLIENT_SOURCES = [Payment.Source.API, Payment.Source.BOT]
SUBSCRIPTION_STATES = ["none", "active", "expired", "disabled"]


class StrictUUIDField(serializers.UUIDField):
    """A UUID as a string only (DRF would also take an integer)."""

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid", value=data)
        return super().to_internal_value(data)


# --- Errors -------------------------------------------------------------------


class ErrorDetailSerializer(serializers.Serializer):
    code = serializers.CharField(help_text="Stable machine code, e.g. `validation_error`, `purchase_conflict`.")
    message = serializers.CharField(help_text="Human-readable explanation.")
    details = serializers.DictField(help_text="Structured context (field errors, reason, retry_after...).")


class ErrorSerializer(serializers.Serializer):
    error = ErrorDetailSerializer()


# --- Tariffs and quotes ---------------------------------------------------------


class TariffSerializer(serializers.ModelSerializer):
    """Title and description in the buyer's language (context "language": ru or en)."""

    item_id = serializers.CharField(source="code")
    title = serializers.SerializerMethodField()
    description = serializers.SerializerMethodField()
    price_per_month = serializers.IntegerField()

    class Meta:
        model = Tariff
        fields = [
            "item_id",
            "title",
            "description",
            "months",
            "days",
            "price_stars",
            "price_per_month",
            "renews_monthly",
        ]

    def _language(self) -> str:
        return self.context.get("language", "ru")

    def get_title(self, tariff: Tariff) -> str:
        return tariff.title_for(self._language())

    def get_description(self, tariff: Tariff) -> str:
        return tariff.description_for(self._language())


OPTION = {"required": False, "allow_null": True, "default": None, "min_value": 1, "max_value": 2**31 - 1}


class ConfigurationRequestMixin(serializers.Serializer):
    """The options chosen for the plan (ids from GET /api/v1/catalogue); a kind the plan offers
    once, or not at all, needs none."""

    devices = serializers.IntegerField(**OPTION, help_text="Device tier id.")
    traffic = serializers.IntegerField(**OPTION, help_text="Traffic tier id.")
    location = serializers.IntegerField(**OPTION, help_text="Location id.")


class QuoteRequestSerializer(ConfigurationRequestMixin):
    item_id = serializers.CharField(**ITEM_ID)
    promo_code = serializers.CharField(**PROMO_CODE)


class QuoteSerializer(serializers.Serializer):
    item_id = serializers.CharField(source="tariff.code")
    promo_code = serializers.CharField(source="promo.code", allow_null=True, default=None)
    price_stars = serializers.IntegerField(source="base_price")
    discount_stars = serializers.IntegerField(source="discount")
    amount_stars = serializers.IntegerField(source="amount")
    days = serializers.IntegerField()
    bonus_days = serializers.IntegerField()
    total_days = serializers.IntegerField()


class CatalogueOptionSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    title = serializers.CharField()
    price_stars = serializers.IntegerField(help_text="What the option adds to the plan's price for its period.")
    device_limit = serializers.IntegerField(
        required=False, allow_null=True, help_text="Devices: null = the panel's default, 0 = unlimited."
    )
    traffic_limit_bytes = serializers.IntegerField(required=False, help_text="Traffic: 0 = unlimited.")
    traffic_strategy = serializers.CharField(required=False, help_text="Traffic: NO_RESET, DAY, WEEK or MONTH.")


class CatalogueConfigurationSerializer(serializers.Serializer):
    devices = serializers.IntegerField(allow_null=True)
    traffic = serializers.IntegerField(allow_null=True)
    location = serializers.IntegerField(allow_null=True)
    price_stars = serializers.IntegerField(help_text="The configuration's price (before a promo code).")


class CatalogueOptionsSerializer(serializers.Serializer):
    devices = CatalogueOptionSerializer(many=True)
    traffic = CatalogueOptionSerializer(many=True)
    locations = CatalogueOptionSerializer(many=True)


class CataloguePlanSerializer(serializers.Serializer):
    item_id = serializers.CharField()
    title = serializers.CharField()
    description = serializers.CharField()
    months = serializers.IntegerField()
    days = serializers.IntegerField()
    price_stars = serializers.IntegerField(help_text="The plan's own price (its cheapest configuration's base).")
    renews_monthly = serializers.BooleanField()
    options = CatalogueOptionsSerializer(help_text="Each list with two or more entries is a choice the buyer makes.")
    configurations = CatalogueConfigurationSerializer(
        many=True, help_text="Every configuration on sale with its price (option ids as the invoice takes them)."
    )


class LocationChangeRequestSerializer(serializers.Serializer):
    location = serializers.IntegerField(min_value=1, max_value=2**31 - 1, help_text="Location id.")


class LocationSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    title = serializers.CharField()


# --- Purchases ------------------------------------------------------------------


# Stateless converters for the representations written out below.
_UUID = serializers.UUIDField()
_DATETIME = serializers.DateTimeField()


def _text(value) -> str | None:
    return None if value is None else str(value)


class PurchaseSerializer(serializers.Serializer):
    """A plain Serializer (not a ModelSerializer): it is built on every request, and
    model introspection would cost more than the rest of a read.

    The fields are declared for validation-free output and the OpenAPI schema;
    `to_representation` reads them directly. DRF deep-copies every declared field
    for each serializer it builds, which cost as much as the rest of a purchase
    read. tests/api/test_serializers.py holds the output to DRF's own rendering."""

    purchase_id = serializers.UUIDField()
    kind = serializers.ChoiceField(choices=Payment.Kind.choices)
    status = serializers.ChoiceField(choices=Payment.Status.choices)
    item_id = serializers.SerializerMethodField()
    purchase_type = serializers.CharField()
    source = serializers.ChoiceField(choices=Payment.Source.choices)
    method = serializers.ChoiceField(choices=Payment.Method.choices)
    price_stars = serializers.IntegerField(source="base_price")
    discount_stars = serializers.IntegerField(source="discount")
    amount_stars = serializers.IntegerField(source="amount")
    days = serializers.IntegerField()
    bonus_days = serializers.IntegerField()
    days_granted = serializers.IntegerField()
    created_at = serializers.DateTimeField()
    paid_at = serializers.DateTimeField(allow_null=True)
    refunded_at = serializers.DateTimeField(allow_null=True)
    configuration = serializers.DictField(
        help_text="What was bought at what price, frozen at invoice time: days, device_limit, "
        "traffic_limit_bytes, traffic_strategy, squads, the options chosen and the price's parts."
    )

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_item_id(self, payment: Payment) -> str | None:
        return payment.tariff.code if payment.tariff_id else None

    def to_representation(self, payment: Payment) -> dict:
        return {
            "purchase_id": _UUID.to_representation(payment.purchase_id),
            "kind": _text(payment.kind),
            "status": _text(payment.status),
            "item_id": self.get_item_id(payment),
            "purchase_type": _text(payment.purchase_type),
            "source": _text(payment.source),
            "method": _text(payment.method),
            "price_stars": int(payment.base_price),
            "discount_stars": int(payment.discount),
            "amount_stars": int(payment.amount),
            "days": int(payment.days),
            "bonus_days": int(payment.bonus_days),
            "days_granted": int(payment.days_granted),
            "created_at": _DATETIME.to_representation(payment.created_at),
            "paid_at": _DATETIME.to_representation(payment.paid_at),
            "refunded_at": _DATETIME.to_representation(payment.refunded_at),
            "configuration": payment.configuration or {},
        }


class InvoiceSerializer(PurchaseSerializer):
    """A purchase with where to pay it; `pay_url` and `reused` come from the context."""

    pay_url = serializers.SerializerMethodField(
        help_text="Telegram invoice link or the mock pay page; null unless pending."
    )
    reused = serializers.SerializerMethodField(help_text="True when an open invoice of the caller was returned.")

    @extend_schema_field(serializers.URLField(allow_null=True))
    def get_pay_url(self, payment: Payment) -> str | None:
        return self.context["pay_url"]

    @extend_schema_field(serializers.BooleanField())
    def get_reused(self, payment: Payment) -> bool:
        return self.context["reused"]

    def to_representation(self, payment: Payment) -> dict:
        return {
            **super().to_representation(payment),
            "pay_url": self.get_pay_url(payment),
            "reused": self.get_reused(payment),
        }


class InvoiceRequestSerializer(ConfigurationRequestMixin):
    item_id = serializers.CharField(**ITEM_ID)
    promo_code = serializers.CharField(**PROMO_CODE)
    purchase_type = serializers.CharField(**PURCHASE_TYPE)
    source = serializers.ChoiceField(
        choices=CLIENT_SOURCES,
        required=False,
        default=Payment.Source.API,
        help_text="Where the purchase was started (a label). How it is paid decides whether it is a mock payment.",
    )
    purchase_id = StrictUUIDField(
        required=False, allow_null=True, default=None, help_text="Client-chosen purchase id; reused if it is yours."
    )


class PurchaseCompleteRequestSerializer(serializers.Serializer):
    purchase_id = StrictUUIDField()
    item_id = serializers.CharField(
        required=False, allow_null=True, default=None, max_length=32, help_text="Creates the purchase when new.", **TEXT
    )
    promo_code = serializers.CharField(**PROMO_CODE)
    purchase_type = serializers.CharField(**PURCHASE_TYPE)


class PayFromBalanceRequestSerializer(ConfigurationRequestMixin):
    item_id = serializers.CharField(**ITEM_ID)
    promo_code = serializers.CharField(**PROMO_CODE)


class PayFromBalanceSerializer(PurchaseSerializer):
    balance_stars = serializers.IntegerField(source="user.stars_balance")

    def to_representation(self, payment: Payment) -> dict:
        return {**super().to_representation(payment), "balance_stars": int(payment.user.stars_balance)}


# --- Balance --------------------------------------------------------------------


class StarsAmountRequestSerializer(serializers.Serializer):
    amount = serializers.IntegerField(min_value=1, help_text="Whole Stars, at most BALANCE_TOPUP_MAX.")

    def get_fields(self):
        # The bound is a setting, read as the serializer is built: the OpenAPI schema states it too.
        fields = super().get_fields()
        fields["amount"] = serializers.IntegerField(
            min_value=1, max_value=settings.BALANCE_TOPUP_MAX, help_text="Whole Stars, at most BALANCE_TOPUP_MAX."
        )
        return fields


class BalanceSerializer(serializers.Serializer):
    balance_stars = serializers.IntegerField()


# --- Me -------------------------------------------------------------------------


class UserSerializer(serializers.Serializer):
    telegram_id = serializers.IntegerField(allow_null=True)
    username = serializers.CharField(source="telegram_username")
    first_name = serializers.CharField()
    last_name = serializers.CharField()
    language_code = serializers.CharField()


class SubscriptionStatusSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=SUBSCRIPTION_STATES)
    is_active = serializers.BooleanField()
    expires_at = serializers.DateTimeField(allow_null=True)
    days_left = serializers.IntegerField()
    subscription_url = serializers.CharField(allow_null=True, help_text="VPN subscription link, once provisioned.")


class AutoRenewalSerializer(serializers.Serializer):
    """The caller's native Telegram Star subscription (Telegram charges it every 30 days)."""

    status = serializers.ChoiceField(choices=StarSubscription.Status.choices)
    renews = serializers.BooleanField(help_text="True while Telegram renews it; false once canceled.")
    item_id = serializers.CharField(source="tariff.code")
    amount_stars = serializers.IntegerField(source="amount", help_text="Stars charged every period.")
    period_days = serializers.IntegerField()
    current_period_end = serializers.DateTimeField(
        help_text="Paid until; Telegram charges the next period then (while it renews)."
    )
    renewals_count = serializers.IntegerField()
    started_at = serializers.DateTimeField(source="created_at")
    canceled_at = serializers.DateTimeField(allow_null=True)


class TrafficSerializer(serializers.Serializer):
    """Traffic as the VPN panel counts it (read at most once a minute)."""

    used_bytes = serializers.IntegerField(help_text="Used in the current period.")
    limit_bytes = serializers.IntegerField(help_text="Per period; 0 = unlimited.")
    unlimited = serializers.SerializerMethodField()
    reset_strategy = serializers.CharField(
        source="strategy", help_text="NO_RESET, DAY, WEEK, MONTH or MONTH_ROLLING: when the panel resets the count."
    )
    last_reset_at = serializers.DateTimeField(allow_null=True)
    next_reset_at = serializers.DateTimeField(allow_null=True, help_text="Null when the count never resets.")

    @extend_schema_field(serializers.BooleanField())
    def get_unlimited(self, traffic) -> bool:
        return not traffic.limit_bytes


class MeSerializer(serializers.Serializer):
    user = UserSerializer()
    subscription = SubscriptionStatusSerializer()
    auto_renewal = AutoRenewalSerializer(
        allow_null=True, help_text="The auto-renewing Star subscription, while it renews or is paid for; else null."
    )
    balance_stars = serializers.IntegerField()
    traffic = TrafficSerializer(
        allow_null=True,
        required=False,
        help_text="Traffic used and the limit from the VPN panel; null without an active provisioned "
        "subscription or while the panel does not answer.",
    )


# --- Devices ----------------------------------------------------------------------


DEVICE_LIST_STATES = ["ok", "stale", "not_provisioned"]
DEVICE_LIMIT_KINDS = ["limited", "unlimited", "panel_default"]


class DeviceSerializer(serializers.Serializer):
    id = serializers.CharField(help_text="Opaque and stable; use it to remove the device.")
    platform = serializers.CharField(help_text="As the client app reported it, e.g. `iOS`; may be empty.")
    os_version = serializers.CharField()
    model = serializers.CharField()
    first_seen = serializers.DateTimeField(allow_null=True)
    last_seen = serializers.DateTimeField(allow_null=True)


class DeviceListSerializer(serializers.Serializer):
    state = serializers.ChoiceField(
        choices=DEVICE_LIST_STATES,
        help_text="`ok`: read from the panel now; `stale`: the panel did not answer, the last known list "
        "(as of `fetched_at`); `not_provisioned`: no VPN account yet, so no devices.",
    )
    devices = DeviceSerializer(many=True)
    used = serializers.IntegerField(help_text="How many devices are registered.")
    limit = serializers.IntegerField(allow_null=True, help_text="The device limit when `limit_kind` is `limited`.")
    limit_kind = serializers.ChoiceField(
        choices=DEVICE_LIMIT_KINDS,
        help_text="`limited`: at most `limit` devices; `unlimited`; `panel_default`: the panel's own default limit.",
    )
    fetched_at = serializers.DateTimeField(allow_null=True)

    def to_representation(self, listing) -> dict:
        return {
            "state": listing.state,
            "devices": DeviceSerializer(listing.devices, many=True).data,
            "used": listing.used,
            "limit": listing.limit.count,
            "limit_kind": listing.limit.kind,
            "fetched_at": _DATETIME.to_representation(listing.fetched_at) if listing.fetched_at else None,
        }


class DeviceRemovalSerializer(DeviceListSerializer):
    removed = serializers.BooleanField(
        help_text="False when the device was not in your list (already removed): still a success."
    )

    def to_representation(self, removal) -> dict:
        return {"removed": removal.removed, **super().to_representation(removal.devices)}
