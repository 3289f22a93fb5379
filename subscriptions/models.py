from django.conf import settings
from django.core.validators import URLValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext, pgettext_lazy

# Telegram's only Star subscription period (subscription_period = 2592000 s) and its price limit.
STAR_SUBSCRIPTION_DAYS = 30
STAR_SUBSCRIPTION_MAX_PRICE = 10000


class TrafficStrategy(models.TextChoices):
    """When the panel resets a user's used traffic (Remnawave's trafficLimitStrategy)."""

    NO_RESET = "NO_RESET", _("never (per period)")
    DAY = "DAY", _("every day")
    WEEK = "WEEK", _("every week")
    MONTH = "MONTH", _("every month")


class CatalogueOption(models.Model):
    """An option a plan can offer the buyer: its price per 30 days on top of the plan's
    price (subscriptions/pricing.py turns it into the price of a period)."""

    title = models.CharField(_("title (English)"), max_length=64, blank=True)
    title_ru = models.CharField(_("title (Russian)"), max_length=64, blank=True)
    monthly_price = models.PositiveIntegerField(
        _("price per 30 days (Stars)"),
        default=0,
        help_text=_("Added to the plan's price for every 30 days of the period; 0 = included in the plan's price."),
    )
    is_active = models.BooleanField(_("offered"), default=True)
    sort_order = models.PositiveIntegerField(_("order"), default=0)

    class Meta:
        abstract = True
        ordering = ["sort_order", "pk"]

    def __str__(self) -> str:
        return self.title_ru or self.title or self.default_title()

    def title_for(self, language: str) -> str:
        return (self.title_ru if language == "ru" else "") or self.title or self.default_title()

    def default_title(self) -> str:
        return str(self.pk)


def device_limit_text(limit: int | None) -> str:
    """The three meanings of a device limit, in the active language."""
    if limit is None:
        return str(_("devices: the panel's default"))
    if limit == 0:
        return str(_("unlimited devices"))
    return ngettext("%(count)s device", "%(count)s devices", limit) % {"count": limit}


def traffic_limit_text(limit_bytes: int) -> str:
    if not limit_bytes:
        return str(_("unlimited traffic"))
    gib = limit_bytes / 1024**3
    return _("%(amount)s GB") % {"amount": f"{gib:g}" if gib >= 1 else f"{gib:.2g}"}


class DeviceTier(CatalogueOption):
    # The same three meanings as Tariff.device_limit (sent as hwidDeviceLimit).
    device_limit = models.PositiveIntegerField(
        null=True,
        blank=True,
        help_text=_("Empty = the panel's default device limit; 0 = unlimited devices; N = at most N devices."),
        verbose_name=_("device limit"),
    )

    class Meta(CatalogueOption.Meta):
        verbose_name = _("device tier")
        verbose_name_plural = _("device tiers")

    def default_title(self) -> str:
        return device_limit_text(self.device_limit)


class TrafficTier(CatalogueOption):
    traffic_limit_bytes = models.BigIntegerField(
        default=0,
        help_text=_("Traffic per reset period in bytes; 0 = unlimited."),
        verbose_name=_("traffic limit (bytes)"),
    )
    traffic_strategy = models.CharField(
        _("traffic reset"), max_length=8, choices=TrafficStrategy.choices, default=TrafficStrategy.MONTH
    )

    class Meta(CatalogueOption.Meta):
        verbose_name = _("traffic tier")
        verbose_name_plural = _("traffic tiers")
        constraints = [
            models.CheckConstraint(condition=Q(traffic_limit_bytes__gte=0), name="traffic_tier_non_negative"),
        ]

    def default_title(self) -> str:
        return traffic_limit_text(self.traffic_limit_bytes)


class Location(CatalogueOption):
    """A named group of the panel's internal squads (e.g. "🇳🇱 Нидерланды", "Все серверы")."""

    squads = models.JSONField(
        _("internal squads"),
        default=list,
        help_text=_("UUIDs of the panel's internal squads the buyer's user is put in."),
    )

    class Meta(CatalogueOption.Meta):
        verbose_name = _("location")
        verbose_name_plural = _("locations")


class Tariff(models.Model):
    """A plan: a period with its price, and the options (device tiers, traffic tiers,
    locations) the buyer may choose with it. Without options it is one fixed
    configuration (the limits below and REMNAWAVE_SQUADS). Payments keep a snapshot of
    the configuration and its price, so editing a tariff never changes a past payment."""

    code = models.SlugField(max_length=32, unique=True, verbose_name=_("code"))
    # Buyers read the title and description in their language (bot, invoice, API);
    # an empty Russian text falls back to the English one.
    title = models.CharField(_("title (English)"), max_length=64)
    title_ru = models.CharField(_("title (Russian)"), max_length=64, blank=True)
    description = models.CharField(_("description (English)"), max_length=200, blank=True)
    description_ru = models.CharField(_("description (Russian)"), max_length=200, blank=True)
    months = models.PositiveSmallIntegerField(default=1, verbose_name=_("months"))
    days = models.PositiveIntegerField(help_text=_("Days of access the tariff grants."), verbose_name=_("days"))
    price_stars = models.PositiveIntegerField(help_text=_("Price in Telegram Stars."), verbose_name=_("price (Stars)"))
    is_active = models.BooleanField(default=True, db_index=True, verbose_name=_("on sale"))
    sort_order = models.PositiveIntegerField(default=0, verbose_name=_("order"))
    # A native Telegram Star subscription: Telegram charges the price every 30 days
    # (the only period it allows, up to 10,000 Stars) until the buyer cancels.
    renews_monthly = models.BooleanField(
        _("renews monthly"),
        default=False,
        help_text=_(
            "Telegram charges the price every 30 days until the buyer cancels. Needs 30 days and at most 10,000 Stars."
        ),
    )
    traffic_limit_bytes = models.BigIntegerField(
        default=0,
        help_text=_("Traffic per reset period in bytes; 0 = unlimited."),
        verbose_name=_("traffic limit (bytes)"),
    )
    # Sent to the panel as hwidDeviceLimit on create and on every update, with one meaning:
    # empty = the panel's default limit, 0 = no limit at all, N = N devices.
    device_limit = models.PositiveIntegerField(
        null=True,
        blank=True,
        help_text=_("Empty = the panel's default device limit; 0 = unlimited devices; N = at most N devices."),
        verbose_name=_("device limit"),
    )
    # The price rule: with a monthly price the period's price is computed from it (minus the
    # period discount), and price_stars above is kept equal to the result by the admin.
    monthly_price = models.PositiveIntegerField(
        null=True,
        blank=True,
        help_text=_(
            "Empty = the price above. Set = the plan's price is this per 30 days × the period, minus the period "
            "discount, rounded up."
        ),
        verbose_name=_("price per 30 days (Stars)"),
    )
    period_discount_percent = models.PositiveSmallIntegerField(
        default=0,
        help_text=_("Discount for this period on the monthly prices (the price rule above and the options)."),
        verbose_name=_("period discount (%)"),
    )
    device_tiers = models.ManyToManyField(
        DeviceTier,
        blank=True,
        related_name="tariffs",
        help_text=_("Device choices offered with this plan; none = the device limit above, no choice."),
        verbose_name=_("device tiers"),
    )
    traffic_tiers = models.ManyToManyField(
        TrafficTier,
        blank=True,
        related_name="tariffs",
        help_text=_("Traffic choices offered with this plan; none = the traffic limit above, no choice."),
        verbose_name=_("traffic tiers"),
    )
    locations = models.ManyToManyField(
        Location,
        blank=True,
        related_name="tariffs",
        help_text=_("Locations offered with this plan; none = REMNAWAVE_SQUADS, no choice."),
        verbose_name=_("locations"),
    )
    created_at = models.DateTimeField(auto_now_add=True, verbose_name=_("created"))
    updated_at = models.DateTimeField(auto_now=True, verbose_name=_("updated"))

    class Meta:
        verbose_name = _("tariff")
        verbose_name_plural = _("tariffs")
        ordering = ["sort_order", "days"]
        constraints = [
            models.CheckConstraint(condition=Q(price_stars__gt=0), name="tariff_price_positive"),
            models.CheckConstraint(condition=Q(days__gt=0), name="tariff_days_positive"),
            models.CheckConstraint(condition=Q(traffic_limit_bytes__gte=0), name="tariff_traffic_non_negative"),
            models.CheckConstraint(condition=Q(period_discount_percent__lte=90), name="tariff_period_discount_le_90"),
            models.CheckConstraint(
                condition=Q(renews_monthly=False)
                | Q(days=STAR_SUBSCRIPTION_DAYS, price_stars__lte=STAR_SUBSCRIPTION_MAX_PRICE),
                name="tariff_renewing_is_30_days_within_limit",
                violation_error_message=_(
                    "A tariff that renews monthly needs 30 days and a price of at most "
                    "10,000 Stars (Telegram's Star subscription rules)."
                ),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.title} ({self.price_stars} XTR)"

    @property
    def price_per_month(self) -> int:
        return self.price_stars // max(self.months, 1)

    def title_for(self, language: str) -> str:
        return (self.title_ru if language == "ru" else "") or self.title

    def description_for(self, language: str) -> str:
        return (self.description_ru if language == "ru" else "") or self.description


class PlanPrice(models.Model):
    """One combination of a plan's options priced directly, or not offered at all. An empty
    option matches a plan that offers no choice of it. Combinations without a row are offered
    at the computed price."""

    tariff = models.ForeignKey(Tariff, on_delete=models.CASCADE, related_name="plan_prices", verbose_name=_("tariff"))
    device_tier = models.ForeignKey(
        DeviceTier, null=True, blank=True, on_delete=models.PROTECT, related_name="+", verbose_name=_("device tier")
    )
    traffic_tier = models.ForeignKey(
        TrafficTier, null=True, blank=True, on_delete=models.PROTECT, related_name="+", verbose_name=_("traffic tier")
    )
    location = models.ForeignKey(
        Location, null=True, blank=True, on_delete=models.PROTECT, related_name="+", verbose_name=_("location")
    )
    price_stars = models.PositiveIntegerField(
        null=True,
        blank=True,
        help_text=_("Empty = the computed price."),
        verbose_name=_("price (Stars)"),
    )
    is_offered = models.BooleanField(_("offered"), default=True)

    class Meta:
        verbose_name = _("price of a combination")
        verbose_name_plural = _("prices of combinations")
        constraints = [
            models.CheckConstraint(
                condition=Q(price_stars__isnull=True) | Q(price_stars__gt=0), name="plan_price_positive"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.tariff.code}: {self.price_stars or '—'}"


class Subscription(models.Model):
    class Status(models.TextChoices):
        NONE = "none", pgettext_lazy("subscription", "never bought")
        ACTIVE = "active", pgettext_lazy("subscription", "active")
        EXPIRED = "expired", pgettext_lazy("subscription", "expired")
        DISABLED = "disabled", pgettext_lazy("subscription", "disabled")

    class LinkState(models.TextChoices):
        NONE = "", _("nothing to send")
        DUE = "due", _("a purchase waits for its link message")
        SENDING = "sending", _("a worker is sending the link")
        SENT = "sent", _("sent")
        # The payment confirmation carried it (so only a resend of that confirmation carries it again).
        REPLIED = "replied", _("sent in the payment confirmation")

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="subscription", verbose_name=_("buyer")
    )
    # The tariff of the latest purchase: its traffic and device limits go to the panel.
    tariff = models.ForeignKey(
        Tariff, null=True, blank=True, on_delete=models.PROTECT, related_name="+", verbose_name=_("tariff")
    )
    # What the panel gets (subscriptions/pricing.py's snapshot of the latest purchase, its
    # location changed by the buyer since): devices, traffic, squads. Empty = the tariff's limits.
    configuration = models.JSONField(default=dict, blank=True, verbose_name=_("configuration"))
    expires_at = models.DateTimeField(null=True, blank=True, db_index=True, verbose_name=_("expires"))
    # The latest expiry the shop has ever set. A panel event reporting no more than this
    # carries time the shop gave (or took back with a refund), not an extension made
    # in the panel, so it is never adopted.
    expiry_high_water = models.DateTimeField(null=True, blank=True, verbose_name=_("latest expiry the shop set"))
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.NONE, verbose_name=_("status"))
    # Panel identity (filled by provisioning). 2.x panels identify users by
    # uuid, 3.x by a numeric id: keep both and the version they came from.
    panel_username = models.CharField(max_length=36, blank=True, verbose_name=_("panel username"))
    panel_user_uuid = models.CharField(max_length=64, blank=True, verbose_name=_("panel user UUID"))
    panel_user_id = models.BigIntegerField(null=True, blank=True, verbose_name=_("panel user id"))
    panel_short_uuid = models.CharField(max_length=64, blank=True, verbose_name=_("panel short UUID"))
    # The panel release the identity was read from, e.g. "2.8.1" ("<2.5" for a panel too old to say).
    panel_api_version = models.CharField(max_length=16, blank=True, verbose_name=_("panel version"))
    subscription_url = models.URLField(max_length=500, blank=True, verbose_name=_("subscription link"))
    # Each purchase gets exactly one message carrying the link: the payment
    # confirmation when the link is already known, else the worker's follow-up.
    # Whoever moves `due` on first (a conditional UPDATE) sends it.
    link_state = models.CharField(
        max_length=8, choices=LinkState.choices, blank=True, default=LinkState.NONE, verbose_name=_("link message")
    )
    link_sent_at = models.DateTimeField(null=True, blank=True, verbose_name=_("link sent"))
    # A Telegram Star subscription renews it around `expires_at` (kept by the payments app):
    # reminders say "renews automatically" instead of "expires".
    renews_automatically = models.BooleanField(default=False, verbose_name=_("renews automatically"))
    provisioned_at = models.DateTimeField(null=True, blank=True, verbose_name=_("provisioned"))
    created_at = models.DateTimeField(auto_now_add=True, verbose_name=_("created"))
    updated_at = models.DateTimeField(auto_now=True, verbose_name=_("updated"))

    class Meta:
        verbose_name = _("subscription")
        verbose_name_plural = _("subscriptions")
        permissions = [("adjust_subscription", "Can extend or shorten a subscription (admin)")]

    def __str__(self) -> str:
        return (
            f"subscription of {self.user} until {self.expires_at:%Y-%m-%d %H:%M}"
            if self.expires_at
            else (f"subscription of {self.user} (none)")
        )

    @property
    def is_active(self) -> bool:
        return bool(self.expires_at and self.expires_at > timezone.now() and self.status != self.Status.DISABLED)

    @property
    def days_left(self) -> int:
        """Whole days left, rounded to the nearest day: a fresh 30-day purchase shows 30, not 29."""
        if not self.is_active:
            return 0
        seconds = (self.expires_at - timezone.now()).total_seconds()
        return max(int((seconds + 43200) // 86400), 0)


# Notes the worker leaves on finished tasks, which the alert selector reads back.
COALESCED_NOTE_PREFIX = "coalesced into #"  # + the id of the task that ran instead
PANEL_NOTE_PREFIX = "panel: "  # + the panel's action: the state was pushed to the panel


class ProvisioningTask(models.Model):
    """Outbox row: "make the panel match this user's subscription".

    Written in the same transaction as the change that needs it; after commit
    a background task claims and runs it; failures are retried with backoff
    (the sweeper hands due rows to the queue again). It carries no delta: the
    worker always sends the absolute expiry the database holds.
    """

    class Status(models.TextChoices):
        PENDING = "pending", _("pending")
        RUNNING = "running", _("running")
        RETRYING = "retrying", _("retrying")
        DONE = "done", _("done")
        FAILED = "failed", _("failed")

    class Kind(models.TextChoices):
        SYNC = "sync", _("make the panel match the subscription")
        LINK = "link", _("send the subscription link in Telegram")
        BONUS = "bonus", _("tell the user about bonus days in Telegram")

    class Reason(models.TextChoices):
        PURCHASE = "purchase", _("purchase")
        REFUND = "refund", _("refund")
        ADMIN = "admin", _("admin change")
        PANEL = "panel", _("panel sync")
        REFERRAL = "referral", _("referral bonus")
        # A Star subscription renewed by Telegram: the panel learns the new expiry; the
        # buyer has the link already, so no link message is due.
        RENEWAL = "renewal", _("automatic renewal")
        LOCATION = "location", _("location changed")

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="provisioning_tasks", verbose_name=_("buyer")
    )
    # The purchase that caused the task, if any (a reference, not a foreign key:
    # subscriptions sit below payments and never import them).
    purchase_id = models.UUIDField(null=True, blank=True, db_index=True, verbose_name=_("purchase id"))
    reason = models.CharField(max_length=16, choices=Reason.choices, verbose_name=_("reason"))
    kind = models.CharField(max_length=8, choices=Kind.choices, default=Kind.SYNC, verbose_name=_("kind"))
    # A bonus notice says how many days were given (the subscription says until when).
    days = models.PositiveIntegerField(default=0, verbose_name=_("days"))
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING, verbose_name=_("status"))
    attempts = models.PositiveIntegerField(default=0, verbose_name=_("attempts"))
    next_attempt_at = models.DateTimeField(default=timezone.now, verbose_name=_("next attempt"))
    # Set while a worker runs the task; a task whose lease ran out (the worker died) is claimable again.
    locked_until = models.DateTimeField(null=True, blank=True, verbose_name=_("locked until"))
    # host:pid of the process running it, so a restarted host frees its dead runs before the lease ends.
    locked_by = models.CharField(max_length=128, blank=True, verbose_name=_("locked by"))
    # When a run was last handed to the task queue (the sweeper does not hand it over again at once).
    enqueued_at = models.DateTimeField(null=True, blank=True, verbose_name=_("handed to the queue"))
    last_error = models.TextField(blank=True, verbose_name=_("last error"))
    note = models.CharField(max_length=255, blank=True, verbose_name=_("note"))
    created_at = models.DateTimeField(auto_now_add=True, verbose_name=_("created"))
    updated_at = models.DateTimeField(auto_now=True, verbose_name=_("updated"))
    done_at = models.DateTimeField(null=True, blank=True, verbose_name=_("done"))

    class Meta:
        verbose_name = _("provisioning task")
        verbose_name_plural = _("provisioning tasks")
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["status", "next_attempt_at"], name="provisioning_due_idx")]

    def __str__(self) -> str:
        return f"provisioning #{self.pk} for {self.user_id} ({self.status})"


class ExpiryReminder(models.Model):
    """One expiry reminder per user, kind and subscription period.

    The row is inserted (the unique constraint is the claim) before the message
    is sent, so overlapping runs of `send_expiry_reminders` send it once. A
    renewal moves `expires_at`, which starts a new period with new reminders.
    """

    class Kind(models.TextChoices):
        DAYS_3 = "3d", _("3 days before expiry")  # the values are notifications.messages' reminder kinds
        DAYS_1 = "1d", _("1 day before expiry")
        EXPIRED = "expired", _("expired")

    class Status(models.TextChoices):
        SENDING = "sending", _("sending")
        SENT = "sent", _("sent")
        FAILED = "failed", _("failed")

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="expiry_reminders", verbose_name=_("buyer")
    )
    subscription = models.ForeignKey(
        Subscription, on_delete=models.CASCADE, related_name="expiry_reminders", verbose_name=_("subscription")
    )
    kind = models.CharField(max_length=8, choices=Kind.choices, verbose_name=_("reminder"))
    period_expires_at = models.DateTimeField(verbose_name=_("expiry it is about"))
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.SENDING, verbose_name=_("status"))
    attempts = models.PositiveIntegerField(default=1, verbose_name=_("attempts"))
    last_error = models.TextField(blank=True, verbose_name=_("last error"))
    created_at = models.DateTimeField(auto_now_add=True, verbose_name=_("created"))
    sent_at = models.DateTimeField(null=True, blank=True, verbose_name=_("sent"))

    class Meta:
        verbose_name = _("expiry reminder")
        verbose_name_plural = _("expiry reminders sent")
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["user", "kind", "period_expires_at"], name="expiry_reminder_once"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} reminder for {self.user_id} ({self.status})"


class ClientApp(models.Model):
    """A VPN client app offered on the connect screen, per platform. The button
    opens `url`, an https page (a store page or a download page): Telegram
    refuses app schemes such as happ:// in inline buttons."""

    class Platform(models.TextChoices):
        IOS = "ios", "iOS"
        ANDROID = "android", "Android"
        WINDOWS = "windows", "Windows"
        MACOS = "macos", "macOS"
        LINUX = "linux", "Linux"

    platform = models.CharField(max_length=16, choices=Platform.choices, verbose_name=_("platform"))
    name = models.CharField(max_length=40, verbose_name=_("name"))
    url = models.URLField(
        max_length=500,
        validators=[URLValidator(schemes=["https"])],
        help_text=_("An https page (a store or download page); Telegram refuses app schemes like happ:// in buttons."),
        verbose_name=_("link"),
    )
    sort_order = models.PositiveIntegerField(default=0, verbose_name=_("order"))
    is_active = models.BooleanField(default=True, verbose_name=_("shown"))

    class Meta:
        verbose_name = _("client app")
        verbose_name_plural = _("client apps")
        ordering = ["platform", "sort_order", "pk"]
        constraints = [
            models.CheckConstraint(condition=Q(url__startswith="https://"), name="client_app_url_https"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.get_platform_display()})"


class ShopSettings(models.Model):
    """Settings admins change while the shop runs (one row). An empty field
    follows the environment (TRIAL_DAYS, REFERRAL_BONUS_DAYS), so the
    environment stays the default until an admin decides otherwise."""

    SINGLETON_PK = 1

    trial_days = models.PositiveIntegerField(
        null=True,
        blank=True,
        help_text=_("Free trial length in days; 0 switches the trial off; empty = TRIAL_DAYS."),
        verbose_name=_("free trial (days)"),
    )
    referral_bonus_days = models.PositiveIntegerField(
        null=True,
        blank=True,
        help_text=_(
            "Days a referrer gets for an invited buyer's first paid purchase; 0 = none; empty = REFERRAL_BONUS_DAYS."
        ),
        verbose_name=_("referral bonus (days)"),
    )
    updated_at = models.DateTimeField(auto_now=True, verbose_name=_("updated"))

    class Meta:
        verbose_name = _("shop settings")
        verbose_name_plural = _("shop settings")
        constraints = [models.CheckConstraint(condition=Q(pk=1), name="shop_settings_singleton")]

    def __str__(self) -> str:
        return "shop settings"


class PanelProblem(models.Model):
    """A reason the panel refuses the shop that only the owner can fix (the token, its
    permissions, the squads), recorded once per cause however many calls met it; open
    until the panel check finds it gone. Provisioning waits meanwhile instead of retrying."""

    cause = models.CharField(max_length=80, unique=True, verbose_name=_("cause"))
    message = models.TextField(verbose_name=_("what the panel said"))
    first_seen_at = models.DateTimeField(default=timezone.now, verbose_name=_("first seen"))
    last_seen_at = models.DateTimeField(default=timezone.now, verbose_name=_("last seen"))
    occurrences = models.PositiveIntegerField(default=1, verbose_name=_("times met"))
    resolved_at = models.DateTimeField(null=True, blank=True, db_index=True, verbose_name=_("resolved"))

    class Meta:
        verbose_name = _("panel configuration problem")
        verbose_name_plural = _("panel configuration problems")
        ordering = ["-last_seen_at"]

    def __str__(self) -> str:
        return self.cause


class PanelCheck(models.Model):
    """The latest panel check (one row): what the readiness endpoint and the admin show."""

    checked_at = models.DateTimeField(verbose_name=_("checked"))
    reachable = models.BooleanField(default=False, verbose_name=_("reachable"))
    version = models.CharField(max_length=16, blank=True, verbose_name=_("panel version"))
    missing_permissions = models.JSONField(default=list, blank=True, verbose_name=_("missing permissions"))
    unknown_squads = models.JSONField(default=list, blank=True, verbose_name=_("unknown squads"))
    squads = models.JSONField(default=list, blank=True, verbose_name=_("squads the token can see"))
    error = models.TextField(blank=True, verbose_name=_("error"))

    class Meta:
        verbose_name = _("panel check")
        verbose_name_plural = _("panel checks")

    def __str__(self) -> str:
        return f"{self.version or '?'} @ {self.checked_at:%Y-%m-%d %H:%M}"

    @property
    def ok(self) -> bool:
        return self.reachable and not self.missing_permissions and not self.unknown_squads and not self.error
