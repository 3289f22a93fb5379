"""pytest fixtures for the fake Remnawave panel.

`fake_panel` starts a panel speaking the 3.0 profile (3.0.0 - 3.3.2) by default; pass a
profile with `@pytest.mark.parametrize("fake_panel", ["2.0", "2.8"], indirect=True)` ("2" and
"3" still mean "2.7" and "3.0"), or use the `every_panel_release` mark below to run a test
against every profile. It points the settings at the panel (PROVISIONING_BACKEND=remnawave)
with short timeouts and backoff, and resets the cached provisioning backend.
"""

from __future__ import annotations

import pytest

from tests.fakes.remnawave_panel import DEFAULT_SQUAD, PROFILES, FakeRemnawavePanel

# The one internal squad the fake panel has unless told otherwise (named "Default").
TEST_SQUAD = DEFAULT_SQUAD

every_panel_release = pytest.mark.parametrize(
    "fake_panel", list(PROFILES), indirect=True, ids=[f"panel{profile}" for profile in PROFILES]
)
both_panel_versions = every_panel_release  # the older name


@pytest.fixture
def fake_panel(request, settings):
    from subscriptions.backends import reset_backend

    panel = FakeRemnawavePanel(profile=str(getattr(request, "param", "3.0"))).start()
    settings.PROVISIONING_BACKEND = "remnawave"
    settings.REMNAWAVE_URL = panel.url
    settings.REMNAWAVE_TOKEN = panel.token
    settings.REMNAWAVE_API_VERSION = "auto"
    settings.REMNAWAVE_SQUADS = [TEST_SQUAD]
    settings.REMNAWAVE_TIMEOUT = 0.5
    settings.REMNAWAVE_READ_TIMEOUT = 0.5
    settings.REMNAWAVE_MAX_RETRIES = 2
    settings.REMNAWAVE_RETRY_BACKOFF = 0.01
    settings.PROVISIONING_BACKOFF_SECONDS = 30
    reset_backend()
    yield panel
    reset_backend()
    panel.stop()
