"""Everything about Slack: listeners, Block Kit rendering, the outbox sender."""
