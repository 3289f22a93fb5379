from django.urls import path

from subscriptions import views

app_name = "subscriptions"

urlpatterns = [
    path("webhook", views.panel_webhook, name="panel-webhook"),
]
