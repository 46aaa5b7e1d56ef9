"""Benchmarks of the bridge against the fake Slack and fake bot (see bench/RESULTS.md)."""
