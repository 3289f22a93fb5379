from django.urls import path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from api import device_views, views
from api.errors import json_not_found

app_name = "api"

urlpatterns = [
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="api:schema"), name="docs"),
    path("v1/ping", views.PingView.as_view(), name="ping"),
    path("v1/tariffs", views.TariffListView.as_view(), name="tariffs"),
    path("v1/catalogue", views.CatalogueView.as_view(), name="catalogue"),
    path("v1/subscription/location", views.LocationChangeView.as_view(), name="subscription-location"),
    path("v1/promos/quote", views.PromoQuoteView.as_view(), name="promo-quote"),
    path("v1/purchase/invoice", views.InvoiceCreateView.as_view(), name="purchase-invoice"),
    path("v1/purchase/pay-from-balance", views.PayFromBalanceView.as_view(), name="purchase-pay-from-balance"),
    path("v1/purchase", views.PurchaseCompleteView.as_view(), name="purchase-complete"),
    path("v1/purchases", views.PurchaseListView.as_view(), name="purchases"),
    path("v1/purchases/<uuid:purchase_id>", views.PurchaseDetailView.as_view(), name="purchase-detail"),
    path("v1/me", views.MeView.as_view(), name="me"),
    path("v1/devices", device_views.DeviceListView.as_view(), name="devices"),
    path("v1/devices/<str:device_id>", device_views.DeviceDetailView.as_view(), name="device-detail"),
    path("v1/auto-renewal/cancel", views.AutoRenewalCancelView.as_view(), name="auto-renewal-cancel"),
    path("v1/auto-renewal/resume", views.AutoRenewalResumeView.as_view(), name="auto-renewal-resume"),
    path("v1/balance/topup", views.BalanceTopupView.as_view(), name="balance-topup"),
    path("v1/dev/add-stars", views.DevAddStarsView.as_view(), name="dev-add-stars"),
    path("v1/mock-pay/<uuid:purchase_id>", views.mock_pay, name="mock-pay"),
    # Unknown URLs under /api/ answer in the API's error shape.
    re_path(r"^.*$", json_not_found),
]
