"""Clients for the outside world (the Telegram Bot API, the Remnawave panel); they import
only settings, the standard library, their SDKs and core."""
