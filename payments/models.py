import uuid

from django.conf import settings
from django.db import models
from django.db.models import Case, F, Q, Value, When
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

MOCK_CHARGE_PREFIX = "mock_"  # the charge ids of mock completions


def is_mock_charge(*, charge_id: str | None) -> bool:
    """A payment completed without money (the rule of Payment.is_mock, for a row not saved yet).

    Only the charge says so: a mock completion writes a "mock_" charge id, Telegram never does.
    The payment's `source` is where the purchase was started (a client may name it) and
    says nothing about how the money arrived."""
    return (charge_id or "").startswith(MOCK_CHARGE_PREFIX)


class Payment(models.Model):
    """One purchase: a subscription bought with Stars, from
    the internal balance or free with a 100 % promo, or a balance top-up."""

    class Status(models.TextChoices):
        DRAFT = "draft", _("draft")
        PENDING = "pending", _("pending")
        SUCCEEDED = "succeeded", _("succeeded")
        FAILED = "failed", _("failed")
        EXPIRED = "expired", _("expired")
        REFUNDED = "refunded", _("refunded")

    class Kind(models.TextChoices):
        SUBSCRIPTION = "subscription", _("subscription")
        TOPUP = "topup", _("balance top-up")

    class Method(models.TextChoices):
        STARS = "stars", _("Telegram Stars invoice")
        BALANCE = "balance", _("internal balance")
        FREE = "free", _("free (100 % promo or trial)")

    # purchase_type of the free trial's payment.
    TRIAL = "trial"
    # purchase_type of a Star subscription's first payment (its invoice renews every
    # 30 days) and of each renewal Telegram charges by itself.
    STAR_SUBSCRIPTION = "star_subscription"
    RENEWAL = "renewal"
    # Types the shop sets itself; a client's purchase_type label is never one of these.
    RESERVED_PURCHASE_TYPES = frozenset({TRIAL, STAR_SUBSCRIPTION, RENEWAL, "review", "topup"})

    class Source(models.TextChoices):
        BOT = "bot", _("bot")
        API = "api", "API"
        ADMIN = "admin", _("admin")
        MOCK = "mock", _("mock")

    purchase_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False, verbose_name=_("purchase id"))
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="payments", verbose_name=_("buyer")
    )
    kind = models.CharField(max_length=16, choices=Kind.choices, default=Kind.SUBSCRIPTION, verbose_name=_("kind"))
    method = models.CharField(max_length=16, choices=Method.choices, default=Method.STARS, verbose_name=_("paid with"))
    source = models.CharField(
        max_length=16, choices=Source.choices, default=Source.BOT, db_index=True, verbose_name=_("source")
    )
    tariff = models.ForeignKey(
        "subscriptions.Tariff",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="payments",
        verbose_name=_("tariff"),
    )
    promo = models.ForeignKey(
        "promos.PromoCode",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="payments",
        verbose_name=_("promo code"),
    )
    status = models.CharField(
        max_length=16, choices=Status.choices, default=Status.PENDING, db_index=True, verbose_name=_("status")
    )
    # Money, in whole Stars, copied from the tariff and promo at invoice time.
    base_price = models.PositiveIntegerField(verbose_name=_("base price (Stars)"))
    discount = models.PositiveIntegerField(default=0, verbose_name=_("discount (Stars)"))
    amount = models.PositiveIntegerField(
        help_text=_("Stars charged (base price minus discount)."), verbose_name=_("amount (Stars)")
    )
    currency = models.CharField(max_length=8, default="XTR", verbose_name=_("currency"))
    days = models.PositiveIntegerField(
        default=0, help_text=_("Tariff days the purchase grants."), verbose_name=_("days")
    )
    bonus_days = models.PositiveIntegerField(
        default=0, help_text=_("Promo bonus days the purchase grants."), verbose_name=_("bonus days")
    )
    days_granted = models.PositiveIntegerField(
        default=0, help_text=_("Days actually added to the subscription."), verbose_name=_("days granted")
    )
    # What was bought at what price, frozen at invoice time (subscriptions/pricing.py's
    # snapshot: period, devices, traffic, location squads, the price's parts). Pre-checkout
    # checks it against the catalogue again; provisioning sends its limits and squads.
    configuration = models.JSONField(default=dict, blank=True, verbose_name=_("configuration"))
    invoice_payload = models.CharField(max_length=128, unique=True, verbose_name=_("invoice payload"))
    telegram_payment_charge_id = models.CharField(
        max_length=255, unique=True, null=True, blank=True, verbose_name=_("Telegram charge id")
    )
    provider_payment_charge_id = models.CharField(max_length=255, blank=True, verbose_name=_("provider charge id"))
    purchase_type = models.CharField(max_length=32, default="subscription", verbose_name=_("purchase type"))
    created_at = models.DateTimeField(auto_now_add=True, db_index=True, verbose_name=_("created"))
    paid_at = models.DateTimeField(null=True, blank=True, verbose_name=_("paid"))
    refunded_at = models.DateTimeField(null=True, blank=True, verbose_name=_("refunded"))
    failure_reason = models.CharField(max_length=255, blank=True, verbose_name=_("failure reason"))
    needs_review = models.BooleanField(default=False, verbose_name=_("flagged for review"))
    review_reason = models.CharField(max_length=255, blank=True, verbose_name=_("review reason"))
    # A review is resolved by a person (or by refunding the payment), never by clearing the flag:
    # the flag and its reason stay as the record of what happened.
    review_resolved_at = models.DateTimeField(null=True, blank=True, verbose_name=_("review resolved at"))
    review_resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("review resolved by"),
    )
    review_note = models.CharField(max_length=500, blank=True, verbose_name=_("resolution note"))
    # The Star subscription this payment started or renewed.
    star_subscription = models.ForeignKey(
        "payments.StarSubscription",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="payments",
        verbose_name=_("Star subscription"),
    )
    refund_shortfall = models.PositiveIntegerField(
        default=0,
        help_text=_("Stars Telegram refunded that were no longer on the balance (spent): what the buyer owes."),
        verbose_name=_("owed from a refund (Stars)"),
    )
    # Completed without money (mock payments: the demo, a development server): left out of
    # every revenue and buyer figure. Computed by the database from the charge id the
    # completion recorded (how the money arrived, never the client-named source), so no
    # writer can forget it (is_mock_charge says the same before the row is saved).
    is_mock = models.GeneratedField(
        expression=Case(
            When(telegram_payment_charge_id__startswith=MOCK_CHARGE_PREFIX, then=Value(True)),
            default=Value(False),
        ),
        output_field=models.BooleanField(),
        db_persist=True,
        verbose_name=_("mock payment"),
    )
    # Set when the payment becomes paid, under the buyer's lock (payments.buyers): the buyer's
    # first payment that moved money, and first such subscription. They make "new buyers" and
    # "renewals" counts over a date window, without looking up every buyer's history.
    first_paid = models.BooleanField(
        default=False,
        editable=False,
        verbose_name=_("buyer's first payment"),
        help_text=_("The buyer's first payment that moved money (Stars or the balance)."),
    )
    first_paid_subscription = models.BooleanField(
        default=False,
        editable=False,
        verbose_name=_("buyer's first paid subscription"),
        help_text=_("The buyer's first subscription paid with Stars or from the balance."),
    )

    class Meta:
        verbose_name = _("payment")
        verbose_name_plural = _("payments")
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
            # The admin's dashboard: index-only scans over a date window (PostgreSQL).
            models.Index(
                fields=["paid_at"],
                include=[
                    "amount",
                    "status",
                    "method",
                    "kind",
                    "tariff",
                    "promo",
                    "created_at",
                    "user",
                    "is_mock",
                    "first_paid",
                    "first_paid_subscription",
                ],
                condition=Q(paid_at__isnull=False),
                name="payment_paid_window_idx",
            ),
            models.Index(
                fields=["created_at"],
                include=["paid_at", "kind", "method", "is_mock"],
                name="payment_created_window_idx",
            ),
            models.Index(
                fields=["refunded_at"],
                include=["amount", "method", "is_mock"],
                condition=Q(refunded_at__isnull=False),
                name="payment_refunded_window_idx",
            ),
            # A buyer's paid payments in time order: first purchase (new or returning buyers),
            # the latest subscription price (MRR), one index probe per buyer.
            models.Index(
                fields=["user", "paid_at"],
                include=["kind", "method", "status", "amount", "days", "is_mock"],
                condition=Q(paid_at__isnull=False),
                name="payment_user_paid_idx",
            ),
            # The admin's list filters, newest first.
            models.Index(fields=["promo", "created_at"], name="payment_promo_created_idx"),
            models.Index(fields=["source", "created_at"], name="payment_source_created_idx"),
            models.Index(fields=["created_at"], condition=Q(purchase_type="trial"), name="payment_trial_created_idx"),
            # The dashboard's automatic renewals of Star subscriptions over a window.
            models.Index(fields=["paid_at"], condition=Q(purchase_type="renewal"), name="payment_renewal_paid_idx"),
            # Buyers who have paid at all, and for a subscription (buyer filters, lapsed subscribers).
            models.Index(fields=["user"], condition=Q(first_paid=True), name="payment_first_paid_idx"),
            models.Index(fields=["user"], condition=Q(first_paid_subscription=True), name="payment_first_sub_idx"),
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
        ACTIVE = "active", _("active (renews)")
        CANCELED = "canceled", _("canceled (paid until the period ends)")
        EXPIRED = "expired", _("ended")

    class CanceledBy(models.TextChoices):
        BUYER = "buyer", _("the buyer")
        ADMIN = "admin", _("an admin")
        REFUND = "refund", _("a refund of its first payment")

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="star_subscriptions", verbose_name=_("buyer")
    )
    tariff = models.ForeignKey(
        "subscriptions.Tariff", on_delete=models.PROTECT, related_name="star_subscriptions", verbose_name=_("tariff")
    )
    # Every renewal carries the first invoice's payload: that is how a renewal finds it.
    invoice_payload = models.CharField(max_length=128, unique=True, verbose_name=_("invoice payload"))
    first_charge_id = models.CharField(max_length=255, unique=True, verbose_name=_("first payment's charge id"))
    amount = models.PositiveIntegerField(
        help_text=_("Stars Telegram charges every period."), verbose_name=_("Stars per period")
    )
    period_days = models.PositiveIntegerField(default=30, verbose_name=_("period (days)"))
    status = models.CharField(
        max_length=16, choices=Status.choices, default=Status.ACTIVE, db_index=True, verbose_name=_("status")
    )
    current_period_end = models.DateTimeField(
        help_text=_("Paid until (Telegram's subscription expiration date)."), verbose_name=_("paid until")
    )
    renewals_count = models.PositiveIntegerField(default=0, verbose_name=_("renewals"))
    canceled_at = models.DateTimeField(null=True, blank=True, verbose_name=_("canceled"))
    canceled_by = models.CharField(max_length=8, choices=CanceledBy.choices, blank=True, verbose_name=_("canceled by"))
    created_at = models.DateTimeField(auto_now_add=True, db_index=True, verbose_name=_("started"))
    updated_at = models.DateTimeField(auto_now=True, verbose_name=_("updated"))

    class Meta:
        ordering = ["-created_at"]
        verbose_name = _("Star subscription")
        verbose_name_plural = _("Star subscriptions")
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

    telegram_id = models.BigIntegerField(unique=True, verbose_name=_("Telegram id"))
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="trial_claims", verbose_name=_("buyer")
    )
    purchase_id = models.UUIDField(unique=True, verbose_name=_("purchase id"))
    days = models.PositiveIntegerField(verbose_name=_("days"))
    created_at = models.DateTimeField(auto_now_add=True, db_index=True, verbose_name=_("claimed"))

    class Meta:
        verbose_name = _("free trial")
        verbose_name_plural = _("free trials")
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
        PURCHASE = "purchase", _("purchase")
        TOPUP = "topup", _("top-up")
        BALANCE_SPEND = "balance_spend", _("balance spend")
        REFUND = "refund", _("refund")
        ADJUSTMENT = "adjustment", _("manual adjustment")
        # A top-up's Stars are taken off the balance before Telegram is asked to refund
        # it, so they cannot be spent during the call; given back if Telegram refuses.
        REFUND_HOLD = "refund_hold", _("held for a refund")
        REFUND_RELEASE = "refund_release", _("refund hold released")

    ONE_PER_PAYMENT = (Kind.PURCHASE, Kind.TOPUP, Kind.BALANCE_SPEND, Kind.REFUND)

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="ledger_entries", verbose_name=_("user")
    )
    payment = models.ForeignKey(
        Payment,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="ledger_entries",
        verbose_name=_("payment"),
    )
    kind = models.CharField(max_length=16, choices=Kind.choices, verbose_name=_("kind"))
    amount = models.IntegerField(
        default=0, help_text=_("Signed Stars through Telegram (revenue)."), verbose_name=_("revenue (Stars)")
    )
    balance_delta = models.IntegerField(
        default=0, help_text=_("Signed change of the internal balance."), verbose_name=_("balance change (Stars)")
    )
    gateway_tx_id = models.CharField(max_length=255, null=True, blank=True, verbose_name=_("gateway transaction id"))
    reason = models.CharField(max_length=255, blank=True, verbose_name=_("reason"))
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("booked by"),
    )
    created_at = models.DateTimeField(auto_now_add=True, db_index=True, verbose_name=_("booked"))

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("ledger entry")
        verbose_name_plural = _("ledger entries")
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

    name = models.CharField(max_length=48, choices=Name.choices, db_index=True, verbose_name=_("event"))
    payment = models.ForeignKey(
        Payment, null=True, blank=True, on_delete=models.PROTECT, related_name="events", verbose_name=_("payment")
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("user"),
    )
    payload = models.JSONField(default=dict, verbose_name=_("details"))
    created_at = models.DateTimeField(auto_now_add=True, db_index=True, verbose_name=_("time"))

    class Meta:
        verbose_name = _("purchase event")
        verbose_name_plural = _("purchase events")
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"{self.name} @ {self.created_at:%Y-%m-%d %H:%M:%S}"


class PendingRefund(models.Model):
    """Telegram's refunded_payment for a charge the shop has not recorded yet (its
    successful_payment is still waiting for a retry). Kept until that payment is
    recorded, which then books it as refunded and grants nothing."""

    charge_id = models.CharField(max_length=255, unique=True, verbose_name=_("Telegram charge id"))
    telegram_user_id = models.BigIntegerField(verbose_name=_("Telegram user id"))
    amount = models.PositiveIntegerField(help_text=_("Stars Telegram returned."), verbose_name=_("amount (Stars)"))
    received_at = models.DateTimeField(auto_now_add=True, verbose_name=_("received"))
    applied_at = models.DateTimeField(null=True, blank=True, verbose_name=_("applied"))
    payment = models.OneToOneField(
        Payment,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="pending_refund",
        verbose_name=_("payment"),
    )

    class Meta:
        verbose_name = _("refund waiting for its payment")
        verbose_name_plural = _("refunds waiting for their payment")
        ordering = ["-received_at"]
        indexes = [
            models.Index(fields=["received_at"], condition=Q(applied_at__isnull=True), name="pending_refund_open_idx")
        ]

    def __str__(self) -> str:
        state = "applied" if self.applied_at else "waiting for its payment"
        return f"refund of {self.charge_id} ({state})"


class ReconciliationRun(models.Model):
    """One `reconcile_stars` run: Telegram's Star transactions against the local payments."""

    started_at = models.DateTimeField(db_index=True, verbose_name=_("started"))
    finished_at = models.DateTimeField(null=True, blank=True, verbose_name=_("finished"))
    transactions_seen = models.PositiveIntegerField(default=0, verbose_name=_("transactions seen"))
    fixed_count = models.PositiveIntegerField(default=0, verbose_name=_("fixed"))
    mismatch_count = models.PositiveIntegerField(default=0, verbose_name=_("mismatches"))
    ok = models.BooleanField(
        default=False, help_text=_("Finished without an error and found no mismatch."), verbose_name=_("ok")
    )
    report = models.JSONField(default=dict, blank=True, verbose_name=_("report"))

    class Meta:
        verbose_name = _("reconciliation run")
        verbose_name_plural = _("reconciliation runs")
        ordering = ["-started_at", "-id"]

    def __str__(self) -> str:
        state = "ok" if self.ok else "attention"
        return f"reconciliation {self.started_at:%Y-%m-%d %H:%M} {state}: {self.fixed_count} fixed"


class SubscriberSnapshot(models.Model):
    """The subscribers of one day (UTC) as the periodic count last saw them that day.

    Subscription rows only know the present; these rows are the dashboard's history of
    active subscribers and MRR (its chart, the trend, churn's starting base). One row per
    day, overwritten by each count during that day."""

    day = models.DateField(unique=True, verbose_name=_("day"))
    active = models.PositiveIntegerField(verbose_name=_("active subscribers"))
    paid_active = models.PositiveIntegerField(verbose_name=_("active paid subscribers"))
    mrr = models.PositiveIntegerField(verbose_name=_("MRR (Stars per month)"))
    recorded_at = models.DateTimeField(verbose_name=_("counted at"))

    class Meta:
        verbose_name = _("subscriber count of a day")
        verbose_name_plural = _("subscriber counts by day")
        ordering = ["-day"]

    def __str__(self) -> str:
        return f"{self.day}: {self.active} active, {self.paid_active} paid, MRR {self.mrr} XTR"
