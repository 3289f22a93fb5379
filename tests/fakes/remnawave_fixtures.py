"""pytest fixtures for the fake Remnawave panel.

`fake_panel` starts a panel speaking API generation 2.x by default; use
`@pytest.mark.parametrize("fake_panel", ["2", "3"], indirect=True)` (or the
`both_panel_versions` mark below) to run a test against both generations.
It points the settings at the panel (PROVISIONING_BACKEND=remnawave) with short
timeouts and backoff, and resets the cached provisioning backend.
"""

from __future__ import annotations

import pytest

from tests.fakes.remnawave_panel import FakeRemnawavePanel

TEST_SQUAD = "6f1e8a2c-1111-4222-8333-944455556666"

both_panel_versions = pytest.mark.parametrize("fake_panel", ["2", "3"], indirect=True, ids=["panel2x", "panel3x"])


@pytest.fixture
def fake_panel(request, settings):
    from subscriptions.backends import reset_backend

    version = str(getattr(request, "param", "2"))
    panel = FakeRemnawavePanel(version=version).start()
    settings.PROVISIONING_BACKEND = "remnawave"
    settings.REMNAWAVE_URL = panel.url
    settings.REMNAWAVE_TOKEN = panel.token
    settings.REMNAWAVE_API_VERSION = "auto"
    settings.REMNAWAVE_SQUADS = [TEST_SQUAD]
    settings.REMNAWAVE_TIMEOUT = 0.5
    settings.REMNAWAVE_MAX_RETRIES = 2
    settings.REMNAWAVE_RETRY_BACKOFF = 0.01
    settings.PROVISIONING_BACKOFF_SECONDS = 30
    reset_backend()
    yield panel
    reset_backend()
    panel.stop()
