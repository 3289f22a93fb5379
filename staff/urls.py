from django.urls import path

from staff import views

app_name = "staff"

urlpatterns = [
    path("", views.two_factor, name="two_factor"),
    path("recovery-codes/", views.recovery_codes, name="recovery_codes"),
]
