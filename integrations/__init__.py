"""Clients for the outside world: the Telegram Bot API and the Remnawave panel."""
