"""Constants shared by the update loop, the webhook and the webhook commands."""

# Telegram keeps the previous list when none is given, so every getUpdates/setWebhook passes this.
# successful_payment and refunded_payment arrive inside "message".
ALLOWED_UPDATES = ["message", "callback_query", "pre_checkout_query"]
