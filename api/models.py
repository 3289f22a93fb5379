import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _


class Scope(models.TextChoices):
    """What an API key may do for the Telegram user it names (X-Telegram-User-Id)."""

    PURCHASES_READ = "purchases:read", _("read the user's purchases and account (not the VPN link)")
    VPN_LINK_READ = "vpn_link:read", _("read the user's VPN subscription link")
    INVOICES_CREATE = "invoices:create", _("quote prices and create invoices (subscriptions and top-ups)")
    BALANCE_PAY = "balance:pay", _("pay with the user's Stars balance")
    MOCK_COMPLETE = "mock:complete", _("complete purchases and add test Stars with mock payments")
    AUTO_RENEWAL_MANAGE = "auto_renewal:manage", _("cancel or resume the user's auto-renewing Star subscription")
    DEVICES_MANAGE = "devices:manage", _("remove devices from the user's VPN subscription")
    LOCATION_CHANGE = "location:change", _("move the user's subscription to another location of their plan")


# A key made without choosing scopes (and every key that existed before scopes) can
# neither read a user's VPN link nor spend their balance.
DEFAULT_SCOPES = [Scope.PURCHASES_READ.value, Scope.INVOICES_CREATE.value]


def default_scopes() -> list[str]:
    return list(DEFAULT_SCOPES)


class ApiKey(models.Model):
    """A key for a trusted backend. Only `prefix` (to find it) and the sha256 of
    the whole key are stored; the key itself is shown once, at creation."""

    name = models.CharField(max_length=100, verbose_name=_("name"))
    scopes = models.JSONField(
        default=default_scopes, blank=True, help_text=_("What the key may do for a user."), verbose_name=_("scopes")
    )
    prefix = models.CharField(max_length=16, unique=True, editable=False, verbose_name=_("prefix"))
    secret_hash = models.CharField(max_length=64, editable=False, verbose_name=_("secret hash"))
    created_at = models.DateTimeField(auto_now_add=True, verbose_name=_("created"))
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        editable=False,
        verbose_name=_("created by"),
    )
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False, verbose_name=_("last used"))
    revoked_at = models.DateTimeField(null=True, blank=True, editable=False, verbose_name=_("revoked"))

    class Meta:
        verbose_name = _("API key")
        verbose_name_plural = _("API keys")
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None

    def allows(self, scope: str) -> bool:
        return scope in (self.scopes or [])


class IdempotencyKey(models.Model):
    """One claimed Idempotency-Key of one principal, with the response it produced."""

    class Status(models.TextChoices):
        IN_PROGRESS = "in_progress", _("in progress")
        DONE = "done", _("done")
        RETRYABLE = "retryable", _("failed with a server error: a retry runs it again")

    principal = models.CharField(max_length=64, verbose_name=_("caller"))
    key = models.CharField(max_length=255, verbose_name=_("key"))
    # Handed to the view, which keys its effect with it (a purchase_id, a ledger reference):
    # a retry that takes this claim over after a crash finds that effect instead of repeating it.
    reference = models.UUIDField(default=uuid.uuid4, editable=False, verbose_name=_("reference"))
    fingerprint = models.CharField(
        max_length=64, help_text=_("sha256 of method, path, acting user and body."), verbose_name=_("fingerprint")
    )
    status = models.CharField(
        max_length=16, choices=Status.choices, default=Status.IN_PROGRESS, verbose_name=_("status")
    )
    response_status = models.PositiveSmallIntegerField(null=True, blank=True, verbose_name=_("response status"))
    response_body = models.JSONField(null=True, blank=True, verbose_name=_("response body"))
    created_at = models.DateTimeField(auto_now_add=True, verbose_name=_("created"))
    expires_at = models.DateTimeField(db_index=True, verbose_name=_("expires"))

    class Meta:
        verbose_name = _("idempotency key")
        verbose_name_plural = _("idempotency keys")
        constraints = [models.UniqueConstraint(fields=["principal", "key"], name="idempotency_key_once_per_principal")]

    def __str__(self) -> str:
        return f"{self.principal} {self.key} ({self.status})"


class InvoiceLink(models.Model):
    """The Telegram invoice link made for a payment (createInvoiceLink), cached so
    a reused invoice answers without another Bot API call."""

    payment = models.OneToOneField(
        "payments.Payment", on_delete=models.CASCADE, related_name="invoice_link", verbose_name=_("payment")
    )
    url = models.URLField(max_length=500, verbose_name=_("link"))
    created_at = models.DateTimeField(auto_now_add=True, verbose_name=_("created"))

    class Meta:
        verbose_name = _("invoice link")
        verbose_name_plural = _("invoice links")
        constraints = [models.CheckConstraint(condition=~Q(url=""), name="invoice_link_url_not_empty")]

    def __str__(self) -> str:
        return self.url
