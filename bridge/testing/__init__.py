"""Fakes of the outside parties (Slack, a bot) for tests, benchmarks and the demo."""
