from django.contrib import admin
from django.urls import include, path

from telegram_bot.views import telegram_webhook

urlpatterns = [
    # Staff two-factor enrolment, inside the admin (before the admin's catch-all).
    path("admin/two-factor/", include("staff.urls")),
    path("admin/", admin.site.urls),
    # Telegram's webhook, also under the API's prefix for clients that expect it there.
    path("api/v1/purchase/webhook", telegram_webhook, name="purchase-webhook"),
    path("api/", include("api.urls")),
    path("telegram/", include("telegram_bot.urls")),
    path("panel/", include("subscriptions.urls")),
    path("", include("payments.urls")),
]

# JSON error bodies under /api/, Django's usual pages elsewhere.
handler404 = "api.errors.handler404"
handler500 = "api.errors.handler500"
