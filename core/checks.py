"""The shop's own system checks of its settings (Django's check framework).

They run with `manage.py check` and before every management command that checks (runserver,
runbot, release's deploy check). gunicorn runs no system checks: the web process calls
`raise_config_errors` when it starts (config/wsgi.py), so a bad setting stops it at once
instead of breaking a command for every buyer later.
"""

from __future__ import annotations

from django.core import checks
from django.core.exceptions import ImproperlyConfigured

# The tag of the checks of the shop's settings.
CONFIG_TAG = "shop_config"


def raise_config_errors() -> None:
    """ImproperlyConfigured listing every error of the shop's settings checks, if any."""
    errors = [message for message in checks.run_checks(tags=[CONFIG_TAG]) if message.is_serious()]
    errors = [message for message in errors if not message.is_silenced()]
    if errors:
        raise ImproperlyConfigured("\n".join(str(message) for message in errors))
