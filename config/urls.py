from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/", include("api.urls")),
    path("telegram/", include("telegram_bot.urls")),
    path("panel/", include("subscriptions.urls")),
    path("", include("payments.urls")),
]

# JSON error bodies under /api/, Django's usual pages elsewhere.
handler404 = "api.errors.handler404"
handler500 = "api.errors.handler500"
