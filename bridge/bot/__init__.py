"""Everything about the bot: the /v1 API, its wire models, the webhook sender."""
