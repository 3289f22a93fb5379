"""pytest fixtures for the fake Remnawave panel (filled in by the provisioning work)."""
