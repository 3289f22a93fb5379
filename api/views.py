"""Thin views: parse with serializers, call services, render."""

from __future__ import annotations

import dataclasses
import uuid

from django.http import HttpResponse, JsonResponse
from django.utils import translation
from django.utils.html import escape
from django.views.decorators.csrf import csrf_exempt
from drf_spectacular.utils import OpenApiExample, extend_schema
from rest_framework import status
from rest_framework.exceptions import ValidationError
from rest_framework.pagination import PageNumberPagination
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from api import serializers as s
from api.errors import error_body
from api.idempotency import idempotent, reference_of
from api.models import Scope
from api.permissions import api_key_allows
from api.schema import IDEMPOTENCY_KEY, errors, post_errors
from api.services import (
    invoice_create,
    mock_pay_owner_complete,
    mock_payments_ensure_enabled,
    pay_url_for,
    payments_ensure_available,
    purchase_for_caller,
    purchase_mock_record,
)
from core.errors import ApplicationError
from payments.gateways.balance import purchase_pay_from_balance
from payments.gateways.stars_subscription import star_subscription_cancel, star_subscription_resume
from payments.ledger import dev_add_stars
from payments.models import Payment
from payments.services import quote_for_sale, tariff_for_sale, topup_create_invoice
from payments.star_subscriptions import star_subscription_live_for
from subscriptions.devices import traffic_for
from subscriptions.pricing import OPTION_KINDS, Selection, configurations_on_sale, option_prices, plan_options
from subscriptions.selectors import subscription_view, tariffs_on_sale
from subscriptions.services import subscription_location_change
from users.models import language_of

INVOICE_EXAMPLE = {
    "purchase_id": "3f2b8c1e-5a7d-4c1b-9a51-0d4c2f7e9b10",
    "kind": "subscription",
    "status": "pending",
    "item_id": "1m",
    "purchase_type": "subscription",
    "source": "api",
    "method": "stars",
    "price_stars": 100,
    "discount_stars": 10,
    "amount_stars": 90,
    "days": 30,
    "bonus_days": 0,
    "days_granted": 0,
    "created_at": "2025-10-22T10:00:00Z",
    "paid_at": None,
    "refunded_at": None,
    "pay_url": "https://t.me/$AbCdEf",
    "reused": False,
}


def _invoice_response(request, payment: Payment, *, created: bool) -> Response:
    pay_url = pay_url_for(payment=payment, build_absolute_uri=request.build_absolute_uri)
    data = s.InvoiceSerializer(payment, context={"pay_url": pay_url, "reused": not created}).data
    return Response(data, status=status.HTTP_201_CREATED if created else status.HTTP_200_OK)


class PingView(APIView):
    """The benchmark's baseline: authentication, throttling and rendering, nothing else."""

    @extend_schema(exclude=True)
    def get(self, request):
        return Response({"pong": True})


def buyer_language(request) -> str:
    """The Telegram buyer's language (their choice in the bot wins), else the request's (Accept-Language)."""
    user = request.user
    if getattr(user, "is_authenticated", False) and getattr(user, "telegram_id", None):
        return user.language
    return language_of(language_code=translation.get_language())


class TariffListView(APIView):
    permission_classes = [AllowAny]

    @extend_schema(
        operation_id="tariffs_list",
        summary="Tariffs on sale",
        auth=[{"tma": []}, {"apiKey": [], "telegramUser": []}, {"staffSession": []}, {}],
        responses={200: s.TariffSerializer(many=True)} | errors(),
        examples=[
            OpenApiExample(
                "tariffs",
                value=[
                    {
                        "item_id": "1m",
                        "title": "1 month",
                        "description": "",
                        "months": 1,
                        "days": 30,
                        "price_stars": 100,
                        "price_per_month": 100,
                    }
                ],
                response_only=True,
            )
        ],
    )
    def get(self, request):
        context = {"language": buyer_language(request)}
        return Response(s.TariffSerializer(tariffs_on_sale(), many=True, context=context).data)


def _selection(body: dict) -> Selection:
    return Selection(devices=body.get("devices"), traffic=body.get("traffic"), location=body.get("location"))


def _option_row(kind: str, option, *, language: str, prices: dict) -> dict:
    row = {"id": option.pk, "title": option.title_for(language), "price_stars": prices[(kind, option.pk)]}
    if kind == "devices":
        row["device_limit"] = option.device_limit
    elif kind == "traffic":
        row["traffic_limit_bytes"] = option.traffic_limit_bytes
        row["traffic_strategy"] = option.traffic_strategy
    return row


def _catalogue_plan(tariff, *, language: str) -> dict:
    options = plan_options(tariff)
    prices = option_prices(tariff, options)
    lists = {
        kind: [_option_row(kind, option, language=language, prices=prices) for option in options.of(kind)]
        for kind in OPTION_KINDS
    }
    return {
        "item_id": tariff.code,
        "title": tariff.title_for(language),
        "description": tariff.description_for(language),
        "months": tariff.months,
        "days": tariff.days,
        "price_stars": tariff.price_stars,
        "renews_monthly": tariff.renews_monthly,
        "options": {"devices": lists["devices"], "traffic": lists["traffic"], "locations": lists["location"]},
        "configurations": [
            dict(zip(OPTION_KINDS, configuration.option_ids(), strict=True), price_stars=price.total)
            for configuration, price in configurations_on_sale(tariff, options)
        ],
    }


class CatalogueView(APIView):
    permission_classes = [AllowAny]

    @extend_schema(
        operation_id="catalogue",
        summary="Plans on sale with their options and the price of every configuration",
        description="A plan offers device tiers, traffic tiers and locations; a list with two or more "
        "entries is a choice the buyer makes (pass its id as `devices`, `traffic` or `location` to the quote, "
        "invoice and pay-from-balance endpoints). A plan without options is one fixed configuration.",
        auth=[{"tma": []}, {"apiKey": [], "telegramUser": []}, {"staffSession": []}, {}],
        responses={200: s.CataloguePlanSerializer(many=True)} | errors(),
    )
    def get(self, request):
        language = buyer_language(request)
        return Response([_catalogue_plan(tariff, language=language) for tariff in tariffs_on_sale()])


class LocationChangeView(APIView):
    required_scope = Scope.LOCATION_CHANGE

    @extend_schema(
        operation_id="subscription_location",
        summary="Move your subscription to another location of its plan (free)",
        description="The panel gets the location's squads at once; the period, devices and traffic stay as "
        "bought. `location_unavailable` (409) without an active subscription or for a location the plan "
        "does not offer.",
        request=s.LocationChangeRequestSerializer,
        parameters=[IDEMPOTENCY_KEY],
        responses={200: s.LocationSerializer} | post_errors(409),
        examples=[OpenApiExample("change", value={"location": 2}, request_only=True)],
    )
    @idempotent
    def post(self, request):
        body = _valid(s.LocationChangeRequestSerializer, request)
        location = subscription_location_change(user=request.user, location_id=body["location"])
        return Response({"id": location.pk, "title": location.title_for(buyer_language(request))})


class PromoQuoteView(APIView):
    required_scope = Scope.INVOICES_CREATE

    @extend_schema(
        operation_id="promos_quote",
        summary="Price of a tariff with a promo code (or the refusal reason as promo_invalid)",
        request=s.QuoteRequestSerializer,
        parameters=[IDEMPOTENCY_KEY],
        responses={200: s.QuoteSerializer} | post_errors(404),
        examples=[
            OpenApiExample("quote request", value={"item_id": "1m", "promo_code": "SPRING10"}, request_only=True),
            OpenApiExample(
                "quote",
                value={
                    "item_id": "1m",
                    "promo_code": "SPRING10",
                    "price_stars": 100,
                    "discount_stars": 10,
                    "amount_stars": 90,
                    "days": 30,
                    "bonus_days": 0,
                    "total_days": 30,
                },
                response_only=True,
            ),
        ],
    )
    @idempotent
    def post(self, request):
        body = _valid(s.QuoteRequestSerializer, request)
        tariff = tariff_for_sale(tariff=body["item_id"])
        quote = quote_for_sale(
            user=request.user, tariff=tariff, promo_code=body["promo_code"], selection=_selection(body)
        )
        return Response(s.QuoteSerializer(quote).data)


class InvoiceCreateView(APIView):
    required_scope = Scope.INVOICES_CREATE

    @extend_schema(
        operation_id="purchase_invoice",
        summary="Create a pending purchase with its pay URL, or return your open one",
        request=s.InvoiceRequestSerializer,
        parameters=[IDEMPOTENCY_KEY],
        responses={201: s.InvoiceSerializer, 200: s.InvoiceSerializer} | post_errors(404, 503),
        examples=[
            OpenApiExample(
                "invoice request",
                value={"item_id": "1m", "promo_code": "SPRING10", "purchase_id": INVOICE_EXAMPLE["purchase_id"]},
                request_only=True,
            ),
            OpenApiExample("invoice", value=INVOICE_EXAMPLE, response_only=True, status_codes=["201", "200"]),
        ],
    )
    @idempotent
    def post(self, request):
        body = _valid(s.InvoiceRequestSerializer, request)
        result = invoice_create(
            user=request.user,
            tariff=body["item_id"],
            promo_code=body["promo_code"],
            purchase_id=body["purchase_id"] or reference_of(request),
            purchase_type=body["purchase_type"],
            source=body["source"],
            selection=_selection(body),
        )
        return _invoice_response(request, result.payment, created=result.created)


class PurchaseCompleteView(APIView):
    required_scope = Scope.MOCK_COMPLETE

    @extend_schema(
        operation_id="purchase_complete",
        summary="Complete a purchase with mock payments; idempotent",
        description="Only with MOCK_PAYMENTS on (else 403 mock_payments_disabled). A repeat returns the same purchase.",
        request=s.PurchaseCompleteRequestSerializer,
        parameters=[IDEMPOTENCY_KEY],
        responses={200: s.PurchaseSerializer} | post_errors(403, 404, 503),
        examples=[
            OpenApiExample("complete", value={"purchase_id": INVOICE_EXAMPLE["purchase_id"]}, request_only=True),
        ],
    )
    @idempotent
    def post(self, request):
        body = _valid(s.PurchaseCompleteRequestSerializer, request)
        result = purchase_mock_record(
            user=request.user,
            purchase_id=body["purchase_id"],
            tariff=body["item_id"],
            promo_code=body["promo_code"],
            purchase_type=body["purchase_type"],
        )
        return Response(s.PurchaseSerializer(result.payment).data)


class PurchasePagination(PageNumberPagination):
    """`page` and `page_size` are whole numbers in their range, else 400 (never a silent
    default or a silent cut); a page past the last one is 404. The schema states the ranges."""

    page_size = 20
    page_size_query_param = "page_size"
    max_page_size = 100
    last_page_strings = ()

    def get_page_size(self, request) -> int:
        return _query_int(request, self.page_size_query_param, default=self.page_size, maximum=self.max_page_size)

    def get_page_number(self, request, paginator) -> int:
        return _query_int(request, self.page_query_param, default=1)

    def get_schema_operation_parameters(self, view):
        parameters = super().get_schema_operation_parameters(view)
        for parameter in parameters:
            parameter["schema"]["minimum"] = 1
            if parameter["name"] == self.page_size_query_param:
                parameter["schema"]["maximum"] = self.max_page_size
                parameter["description"] = f"Results per page, 1 to {self.max_page_size} (default {self.page_size})."
        return parameters


def _query_int(request, name: str, *, default: int, maximum: int | None = None) -> int:
    raw = request.query_params.get(name)
    if raw is None:
        return default
    value = int(raw) if raw.isascii() and raw.isdigit() else 0
    if not 1 <= value <= (maximum or value):
        bound = f"from 1 to {maximum}" if maximum else "of at least 1"
        raise ValidationError({name: [f"A whole number {bound}."]})
    return value


class PurchaseListView(APIView):
    required_scope = Scope.PURCHASES_READ
    # Known to drf-spectacular: it documents the page parameters and the paginated envelope.
    pagination_class = PurchasePagination

    @extend_schema(
        operation_id="purchases_list",
        summary="Your purchases, newest first",
        description="`page` and `page_size` out of range → 400 validation_error; a page past the last → 404.",
        responses={200: s.PurchaseSerializer(many=True)} | errors(400, 404),
    )
    def get(self, request):
        paginator = PurchasePagination()
        payments = (
            Payment.objects.filter(user_id=request.user.pk).select_related("tariff").order_by("-created_at", "-pk")
        )
        page = paginator.paginate_queryset(payments, request, view=self)
        return paginator.get_paginated_response(s.PurchaseSerializer(page, many=True).data)


class PurchaseDetailView(APIView):
    required_scope = Scope.PURCHASES_READ

    @extend_schema(
        operation_id="purchases_retrieve",
        summary="One of your purchases",
        responses={200: s.PurchaseSerializer} | errors(404, 409),
    )
    def get(self, request, purchase_id: uuid.UUID):
        return Response(s.PurchaseSerializer(purchase_for_caller(user=request.user, purchase_id=purchase_id)).data)


class MeView(APIView):
    required_scope = Scope.PURCHASES_READ

    @extend_schema(
        operation_id="me",
        summary="The caller, their subscription and internal Stars balance",
        description="`subscription.subscription_url` is null for an API key without the vpn_link:read scope. "
        "`traffic` comes from the VPN panel (read at most once a minute; null while it does not answer).",
        responses={200: s.MeSerializer} | errors(),
    )
    def get(self, request):
        user = request.user
        subscription = dataclasses.asdict(subscription_view(user=user))
        if not api_key_allows(request, Scope.VPN_LINK_READ):
            subscription["subscription_url"] = None
        me = {
            "user": user,
            "subscription": subscription,
            "auto_renewal": star_subscription_live_for(user=user),
            "balance_stars": user.stars_balance,
            "traffic": traffic_for(user=user) if subscription["is_active"] else None,
        }
        return Response(s.MeSerializer(me).data)


class AutoRenewalCancelView(APIView):
    required_scope = Scope.AUTO_RENEWAL_MANAGE

    @extend_schema(
        operation_id="auto_renewal_cancel",
        summary="Stop the auto-renewing Star subscription (paid time stays)",
        description="Asks Telegram (editUserStarSubscription) to charge no further period; the VPN stays "
        "active to the end of the paid period. Cancelling a canceled subscription changes nothing. "
        "`telegram_refused` (502) when Telegram did not accept the change: nothing changed, retry later.",
        request=None,
        parameters=[IDEMPOTENCY_KEY],
        responses={200: s.AutoRenewalSerializer} | post_errors(404, 502),
    )
    @idempotent
    def post(self, request):
        return Response(s.AutoRenewalSerializer(star_subscription_cancel(user=request.user)).data)


class AutoRenewalResumeView(APIView):
    required_scope = Scope.AUTO_RENEWAL_MANAGE

    @extend_schema(
        operation_id="auto_renewal_resume",
        summary="Renew a canceled Star subscription again (before its paid period ends)",
        description="Asks Telegram to charge the next periods again. Resuming a renewing subscription changes "
        "nothing; one whose paid period ended cannot be resumed (409 star_subscription_ended; subscribe again).",
        request=None,
        parameters=[IDEMPOTENCY_KEY],
        responses={200: s.AutoRenewalSerializer} | post_errors(404, 409, 502),
    )
    @idempotent
    def post(self, request):
        return Response(s.AutoRenewalSerializer(star_subscription_resume(user=request.user)).data)


class BalanceTopupView(APIView):
    required_scope = Scope.INVOICES_CREATE

    @extend_schema(
        operation_id="balance_topup",
        summary="An invoice to top up your internal Stars balance",
        request=s.StarsAmountRequestSerializer,
        parameters=[IDEMPOTENCY_KEY],
        responses={201: s.InvoiceSerializer, 200: s.InvoiceSerializer} | post_errors(503),
        examples=[OpenApiExample("top-up", value={"amount": 250}, request_only=True)],
    )
    @idempotent
    def post(self, request):
        body = _valid(s.StarsAmountRequestSerializer, request)
        payments_ensure_available()
        result = topup_create_invoice(user=request.user, amount=body["amount"], source=Payment.Source.API)
        return _invoice_response(request, result.payment, created=result.created)


class PayFromBalanceView(APIView):
    required_scope = Scope.BALANCE_PAY

    @extend_schema(
        operation_id="purchase_pay_from_balance",
        summary="Buy a tariff with your internal Stars balance",
        request=s.PayFromBalanceRequestSerializer,
        parameters=[IDEMPOTENCY_KEY],
        responses={201: s.PayFromBalanceSerializer} | post_errors(404),
        examples=[OpenApiExample("pay", value={"item_id": "1m"}, request_only=True)],
    )
    @idempotent
    def post(self, request):
        body = _valid(s.PayFromBalanceRequestSerializer, request)
        # Keyed by the Idempotency-Key: a retry after a crash finds this purchase instead of paying again.
        payment = purchase_pay_from_balance(
            user=request.user,
            tariff=body["item_id"],
            promo_code=body["promo_code"],
            source=Payment.Source.API,
            purchase_id=reference_of(request),
            selection=_selection(body),
        )
        payment.user.refresh_from_db(fields=["stars_balance"])
        return Response(s.PayFromBalanceSerializer(payment).data, status=status.HTTP_201_CREATED)


class DevAddStarsView(APIView):
    required_scope = Scope.MOCK_COMPLETE

    @extend_schema(
        operation_id="dev_add_stars",
        summary="Credit test Stars to your balance (MOCK_PAYMENTS only)",
        request=s.StarsAmountRequestSerializer,
        parameters=[IDEMPOTENCY_KEY],
        responses={200: s.BalanceSerializer} | post_errors(403),
        examples=[OpenApiExample("add", value={"amount": 500}, request_only=True)],
    )
    @idempotent
    def post(self, request):
        body = _valid(s.StarsAmountRequestSerializer, request)
        dev_add_stars(user=request.user, amount=body["amount"], reference=reference_of(request))
        request.user.refresh_from_db(fields=["stars_balance"])
        return Response({"balance_stars": request.user.stars_balance})


def _valid(serializer_class, request) -> dict:
    if not isinstance(request.data, dict):
        raise ApplicationError("The body must be a JSON object.", code="validation_error", status=400)
    serializer = serializer_class(data=request.data)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


# --- Outside the JSON API: the mock pay page ------------------------------------------

MOCK_PAGE = """<!doctype html><html><head><meta charset="utf-8"><title>Mock payment</title></head>
<body><h1>Mock payment</h1><p>Purchase {purchase_id}</p>
<form method="post"><button type="submit">Pay (mock)</button></form></body></html>"""


@csrf_exempt
def mock_pay(request, purchase_id: uuid.UUID):
    """GET: a page with a Pay button; POST: completes the purchase (MOCK_PAYMENTS only:
    otherwise neither the page nor the payment exists, whatever the purchase)."""
    if request.method not in ("GET", "POST"):
        return JsonResponse(error_body(code="method_not_allowed", message="Use GET or POST."), status=405)
    try:
        mock_payments_ensure_enabled()
        if request.method == "GET":
            if not Payment.objects.filter(purchase_id=purchase_id).exists():
                raise ApplicationError("Purchase not found.", code="not_found", status=404)
            return HttpResponse(MOCK_PAGE.format(purchase_id=escape(str(purchase_id))))
        result = mock_pay_owner_complete(purchase_id=purchase_id)
    except ApplicationError as exc:
        return JsonResponse(error_body(code=exc.code, message=exc.message, details=exc.details), status=exc.status)
    return JsonResponse(s.PurchaseSerializer(result.payment).data)
