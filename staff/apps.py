from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class StaffConfig(AppConfig):
    name = "staff"
    verbose_name = _("Staff sign-in")

    def ready(self) -> None:
        from django.contrib import admin

        from staff import signals  # noqa: F401 - connects the sign-in and lockout receivers
        from staff.forms import StaffLoginForm

        # The admin's sign-in asks for the second factor of those who set one up.
        admin.site.login_form = StaffLoginForm
        admin.site.login_template = "staff/login.html"
