"""Prometheus metrics: one registry per bridge, served at `GET /metrics`.

Enough for an operator to tell from it alone whether the bridge keeps up: how much waits in
each outbox and for how long, how deliveries end, Slack's 429s, and how long people wait.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

LATENCY_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 3600)
HUMAN_BUCKETS = (15, 30, 60, 120, 300, 600, 1800, 3600, 7200, 14400, 43200, 86400)


class Metrics:
    def __init__(self) -> None:
        r = self.registry = CollectorRegistry()
        self.outbox_depth = Gauge(
            "hitl_outbox_depth", "Rows waiting to be delivered.", ["target"], registry=r
        )
        self.outbox_oldest = Gauge(
            "hitl_outbox_oldest_age_seconds",
            "Age of the oldest row waiting to be delivered (0 when none).",
            ["target"],
            registry=r,
        )
        self.dead_letters = Gauge(
            "hitl_outbox_dead_letters",
            "Rows given up on (kept as failed).",
            ["target"],
            registry=r,
        )
        self.deliveries = Counter(
            "hitl_deliveries",
            "Delivery attempts by outcome: delivered, retried, failed, deferred (paced).",
            ["target", "outcome"],
            registry=r,
        )
        self.latency = Histogram(
            "hitl_delivery_latency_seconds",
            "From the row being written to its delivery.",
            ["target"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.ratelimited = Counter(
            "hitl_slack_ratelimited",
            "429 answers from Slack, per method (and channel, for posts).",
            ["method", "channel"],
            registry=r,
        )
        self.conversations = Gauge(
            "hitl_conversations", "Conversations by status.", ["status"], registry=r
        )
        self.first_reply = Histogram(
            "hitl_time_to_first_agent_reply_seconds",
            "From the handoff to the first agent reply relayed to the bot.",
            buckets=HUMAN_BUCKETS,
            registry=r,
        )
        self.approvals = Counter(
            "hitl_approvals",
            "Approval requests settled, by outcome: approved, edited, rejected, expired.",
            ["outcome"],
            registry=r,
        )
        self.approval_time = Histogram(
            "hitl_time_to_approval_decision_seconds",
            "From an approval request to an agent's decision on it.",
            buckets=HUMAN_BUCKETS,
            registry=r,
        )
        self.approvals_pending = Gauge(
            "hitl_approvals_pending", "Approval requests waiting for a decision.", registry=r
        )

    def render(self) -> bytes:
        return generate_latest(self.registry)
