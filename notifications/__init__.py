"""Every message the shop sends on its own initiative (not as the reply to an
update): texts and keyboards built from plain values in the user's language,
sent through the outbound Telegram client."""
