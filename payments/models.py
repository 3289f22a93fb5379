import uuid

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils import timezone


class Payment(models.Model):
    """One purchase: a subscription bought with Stars, from
    the internal balance or free with a 100 % promo, or a balance top-up."""

    class Status(models.TextChoices):
        DRAFT = "draft", "draft"
        PENDING = "pending", "pending"
        SUCCEEDED = "succeeded", "succeeded"
        FAILED = "failed", "failed"
        EXPIRED = "expired", "expired"
        REFUNDED = "refunded", "refunded"

    class Kind(models.TextChoices):
        SUBSCRIPTION = "subscription", "subscription"
        TOPUP = "topup", "balance top-up"

    class Method(models.TextChoices):
        STARS = "stars", "Telegram Stars invoice"
        BALANCE = "balance", "internal balance"
        FREE = "free", "free (100 % promo or trial)"

    # purchase_type of the free trial's payment.
    TRIAL = "trial"
    # purchase_type of a Star subscription's first payment (its invoice renews every
    # 30 days) and of each renewal Telegram charges by itself.
    STAR_SUBSCRIPTION = "star_subscription"
    RENEWAL = "renewal"
    # Types the shop sets itself; a client's purchase_type label is never one of these.
    RESERVED_PURCHASE_TYPES = frozenset({TRIAL, STAR_SUBSCRIPTION, RENEWAL, "review", "topup"})

    class Source(models.TextChoices):
        BOT = "bot", "bot"
        API = "api", "API"
        ADMIN = "admin", "admin"
        MOCK = "mock", "mock"

    purchase_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="payments")
    kind = models.CharField(max_length=16, choices=Kind.choices, default=Kind.SUBSCRIPTION)
    method = models.CharField(max_length=16, choices=Method.choices, default=Method.STARS)
    source = models.CharField(max_length=16, choices=Source.choices, default=Source.BOT, db_index=True)
    tariff = models.ForeignKey(
        "subscriptions.Tariff", null=True, blank=True, on_delete=models.PROTECT, related_name="payments"
    )
    promo = models.ForeignKey(
        "promos.PromoCode", null=True, blank=True, on_delete=models.PROTECT, related_name="payments"
    )
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING, db_index=True)
    # Money, in whole Stars, copied from the tariff and promo at invoice time.
    base_price = models.PositiveIntegerField()
    discount = models.PositiveIntegerField(default=0)
    amount = models.PositiveIntegerField(help_text="Stars charged (base price minus discount).")
    currency = models.CharField(max_length=8, default="XTR")
    days = models.PositiveIntegerField(default=0, help_text="Tariff days the purchase grants.")
    bonus_days = models.PositiveIntegerField(default=0, help_text="Promo bonus days the purchase grants.")
    days_granted = models.PositiveIntegerField(default=0, help_text="Days actually added to the subscription.")
    invoice_payload = models.CharField(max_length=128, unique=True)
    telegram_payment_charge_id = models.CharField(max_length=255, unique=True, null=True, blank=True)
    provider_payment_charge_id = models.CharField(max_length=255, blank=True)
    purchase_type = models.CharField(max_length=32, default="subscription")
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    paid_at = models.DateTimeField(null=True, blank=True)
    refunded_at = models.DateTimeField(null=True, blank=True)
    failure_reason = models.CharField(max_length=255, blank=True)
    needs_review = models.BooleanField(default=False)
    review_reason = models.CharField(max_length=255, blank=True)
    # A review is resolved by a person (or by refunding the payment), never by clearing the flag:
    # the flag and its reason stay as the record of what happened.
    review_resolved_at = models.DateTimeField(null=True, blank=True)
    review_resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    review_note = models.CharField(max_length=500, blank=True)
    # The Star subscription this payment started or renewed.
    star_subscription = models.ForeignKey(
        "payments.StarSubscription", null=True, blank=True, on_delete=models.PROTECT, related_name="payments"
    )
    refund_shortfall = models.PositiveIntegerField(
        default=0,
        help_text="Stars Telegram refunded that were no longer on the balance (spent): what the buyer owes.",
    )

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["user", "status", "tariff"], name="payment_user_open_idx"),
            models.Index(fields=["status", "created_at"], name="payment_status_created_idx"),
            models.Index(
                fields=["created_at"],
                condition=Q(needs_review=True, review_resolved_at__isnull=True),
                name="payment_review_open_idx",
            ),
            models.Index(fields=["created_at"], condition=Q(refund_shortfall__gt=0), name="payment_refund_debt_idx"),
            # The admin's revenue dashboard: index-only scans over a date window.
            models.Index(
                fields=["paid_at"],
                include=["amount", "status", "method", "kind", "tariff", "promo", "created_at"],
                condition=Q(paid_at__isnull=False),
                name="payment_paid_cover_idx",
            ),
            models.Index(
                fields=["created_at"], include=["paid_at", "kind", "method"], name="payment_created_cover_idx"
            ),
            models.Index(
                fields=["refunded_at"],
                include=["amount", "method"],
                condition=Q(refunded_at__isnull=False),
                name="payment_refunded_cover_idx",
            ),
            # The admin's list filters, newest first.
            models.Index(fields=["promo", "created_at"], name="payment_promo_created_idx"),
            models.Index(fields=["source", "created_at"], name="payment_source_created_idx"),
            models.Index(fields=["created_at"], condition=Q(purchase_type="trial"), name="payment_trial_created_idx"),
        ]
        permissions = [
            ("refund_payment", "Can refund payments (admin)"),
            ("expire_stale_payments", "Can expire stale pending payments (admin)"),
            ("resolve_review", "Can resolve payments flagged for review (admin)"),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(base_price__gte=0), name="payment_base_price_non_negative"),
            models.CheckConstraint(condition=Q(discount__lte=F("base_price")), name="payment_discount_le_price"),
            models.CheckConstraint(
                condition=Q(amount=F("base_price") - F("discount")), name="payment_amount_is_price_minus_discount"
            ),
            models.CheckConstraint(
                condition=Q(method="free", amount=0) | Q(amount__gt=0), name="payment_amount_positive_unless_free"
            ),
            models.CheckConstraint(condition=Q(currency="XTR"), name="payment_currency_xtr"),
        ]

    def __str__(self) -> str:
        return f"{self.purchase_id} {self.status} {self.amount} XTR"

    @property
    def total_days(self) -> int:
        return self.days + self.bonus_days

    @property
    def review_open(self) -> bool:
        return self.needs_review and self.review_resolved_at is None


class StarSubscription(models.Model):
    """A native Telegram Star subscription: Telegram charges the buyer every 30 days by
    itself until it is canceled. Its first payment creates it; every renewal is a
    payment of its own (a new charge id, the first invoice's payload) that adds one
    period. Telegram names it by the first payment's charge id."""

    class Status(models.TextChoices):
        ACTIVE = "active", "active (renews)"
        CANCELED = "canceled", "canceled (paid until the period ends)"
        EXPIRED = "expired", "expired"

    class CanceledBy(models.TextChoices):
        BUYER = "buyer", "the buyer"
        ADMIN = "admin", "an admin"
        REFUND = "refund", "a refund of its first payment"

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="star_subscriptions")
    tariff = models.ForeignKey("subscriptions.Tariff", on_delete=models.PROTECT, related_name="star_subscriptions")
    # Every renewal carries the first invoice's payload: that is how a renewal finds it.
    invoice_payload = models.CharField(max_length=128, unique=True)
    first_charge_id = models.CharField(max_length=255, unique=True)
    amount = models.PositiveIntegerField(help_text="Stars Telegram charges every period.")
    period_days = models.PositiveIntegerField(default=30)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.ACTIVE, db_index=True)
    current_period_end = models.DateTimeField(help_text="Paid until (Telegram's subscription expiration date).")
    renewals_count = models.PositiveIntegerField(default=0)
    canceled_at = models.DateTimeField(null=True, blank=True)
    canceled_by = models.CharField(max_length=8, choices=CanceledBy.choices, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["status", "current_period_end"], name="star_sub_status_end_idx")]
        constraints = [models.CheckConstraint(condition=Q(amount__gt=0), name="star_subscription_amount_positive")]

    def __str__(self) -> str:
        return f"Star subscription of {self.user_id} ({self.status}, until {self.current_period_end:%Y-%m-%d})"

    @property
    def renews(self) -> bool:
        return self.status == self.Status.ACTIVE

    @property
    def is_paid(self) -> bool:
        """The current period is paid for (a canceled one too, until its end)."""
        return self.current_period_end > timezone.now()


class TrialClaim(models.Model):
    """The free trial, once per Telegram account: the unique id is the claim,
    so concurrent taps (or two processes) grant one trial. Its payment is a free
    Payment with purchase_type "trial", so reports and refunds see it like any purchase."""

    telegram_id = models.BigIntegerField(unique=True)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="trial_claims")
    purchase_id = models.UUIDField(unique=True)
    days = models.PositiveIntegerField()
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"trial of {self.telegram_id} ({self.days} days)"


class LedgerEntry(models.Model):
    """Append-only money rows (revenue and internal balance movements).

    `amount` is the signed Stars that moved through Telegram (revenue);
    `balance_delta` is the signed change of the user's internal balance.
    A gateway event can be booked only once: (kind, gateway_tx_id) is unique,
    and so is (payment, kind) for the one-per-payment kinds.
    """

    class Kind(models.TextChoices):
        PURCHASE = "purchase", "purchase"
        TOPUP = "topup", "top-up"
        BALANCE_SPEND = "balance_spend", "balance spend"
        REFUND = "refund", "refund"
        ADJUSTMENT = "adjustment", "manual adjustment"
        # A top-up's Stars are taken off the balance before Telegram is asked to refund
        # it, so they cannot be spent during the call; given back if Telegram refuses.
        REFUND_HOLD = "refund_hold", "held for a refund"
        REFUND_RELEASE = "refund_release", "refund hold released"

    ONE_PER_PAYMENT = (Kind.PURCHASE, Kind.TOPUP, Kind.BALANCE_SPEND, Kind.REFUND)

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="ledger_entries")
    payment = models.ForeignKey(Payment, null=True, blank=True, on_delete=models.PROTECT, related_name="ledger_entries")
    kind = models.CharField(max_length=16, choices=Kind.choices)
    amount = models.IntegerField(default=0, help_text="Signed Stars through Telegram (revenue).")
    balance_delta = models.IntegerField(default=0, help_text="Signed change of the internal balance.")
    gateway_tx_id = models.CharField(max_length=255, null=True, blank=True)
    reason = models.CharField(max_length=255, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name_plural = "ledger entries"
        indexes = [models.Index(fields=["kind", "created_at"], name="ledger_kind_created_idx")]
        constraints = [
            models.UniqueConstraint(
                fields=["kind", "gateway_tx_id"],
                condition=Q(gateway_tx_id__isnull=False),
                name="ledger_gateway_event_once",
            ),
            models.UniqueConstraint(
                fields=["payment", "kind"],
                condition=Q(kind__in=["purchase", "topup", "balance_spend", "refund"]),
                name="ledger_one_row_per_payment_kind",
            ),
            models.CheckConstraint(condition=~Q(amount=0) | ~Q(balance_delta=0), name="ledger_row_moves_something"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.amount:+d} / balance {self.balance_delta:+d}"


class PurchaseEvent(models.Model):
    """Append-only audit trail of a purchase (its event store)."""

    class Name(models.TextChoices):
        INVOICE_CREATED = "purchase_invoice_created"
        INVOICE_REUSED = "purchase_invoice_reused"
        SUCCEEDED = "purchase_succeeded"
        SUCCEEDED_IDEMPOTENT = "purchase_succeeded_idempotent"
        FAILED = "purchase_failed"
        EXPIRED = "purchase_expired"
        USER_MISMATCH = "purchase_user_mismatch"
        NEEDS_REVIEW = "purchase_needs_review"
        PRECHECKOUT_REJECTED = "purchase_precheckout_rejected"
        REFUNDED = "purchase_refunded"
        REFUND_IDEMPOTENT = "purchase_refund_idempotent"
        REFUND_HELD = "purchase_refund_held"
        REFUND_RELEASED = "purchase_refund_released"
        REFUND_PENDING = "purchase_refund_pending"
        REVIEW_RESOLVED = "purchase_review_resolved"
        BALANCE_ADJUSTED = "balance_adjusted"
        STAR_SUBSCRIPTION_STARTED = "star_subscription_started"
        STAR_SUBSCRIPTION_RENEWED = "star_subscription_renewed"
        STAR_SUBSCRIPTION_CANCELED = "star_subscription_canceled"
        STAR_SUBSCRIPTION_RESUMED = "star_subscription_resumed"
        STAR_SUBSCRIPTION_EXPIRED = "star_subscription_expired"
        STAR_SUBSCRIPTION_EDIT_FAILED = "star_subscription_edit_failed"

    name = models.CharField(max_length=48, choices=Name.choices, db_index=True)
    payment = models.ForeignKey(Payment, null=True, blank=True, on_delete=models.PROTECT, related_name="events")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    payload = models.JSONField(default=dict)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"{self.name} @ {self.created_at:%Y-%m-%d %H:%M:%S}"


class PendingRefund(models.Model):
    """Telegram's refunded_payment for a charge the shop has not recorded yet (its
    successful_payment is still waiting for a retry). Kept until that payment is
    recorded, which then books it as refunded and grants nothing."""

    charge_id = models.CharField(max_length=255, unique=True)
    telegram_user_id = models.BigIntegerField()
    amount = models.PositiveIntegerField(help_text="Stars Telegram returned.")
    received_at = models.DateTimeField(auto_now_add=True)
    applied_at = models.DateTimeField(null=True, blank=True)
    payment = models.OneToOneField(
        Payment, null=True, blank=True, on_delete=models.PROTECT, related_name="pending_refund"
    )

    class Meta:
        ordering = ["-received_at"]
        indexes = [
            models.Index(fields=["received_at"], condition=Q(applied_at__isnull=True), name="pending_refund_open_idx")
        ]

    def __str__(self) -> str:
        state = "applied" if self.applied_at else "waiting for its payment"
        return f"refund of {self.charge_id} ({state})"


class ReconciliationRun(models.Model):
    """One `reconcile_stars` run: Telegram's Star transactions against the local payments."""

    started_at = models.DateTimeField(db_index=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    transactions_seen = models.PositiveIntegerField(default=0)
    fixed_count = models.PositiveIntegerField(default=0)
    mismatch_count = models.PositiveIntegerField(default=0)
    ok = models.BooleanField(default=False, help_text="Finished without an error and found no mismatch.")
    report = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-started_at", "-id"]

    def __str__(self) -> str:
        state = "ok" if self.ok else "attention"
        return f"reconciliation {self.started_at:%Y-%m-%d %H:%M} {state}: {self.fixed_count} fixed"
