"""Benchmarks of the bridge against the fake Slack and fake bot (see bench/RESULTS.md).

The two directions (`overhead`: bot -> Slack, `reverse`: Slack -> bot) are each one
`harness.Benchmark`; what they share lives in modules named for what they hold:

- `marks`: the clock and the markers that tag each message with its trial;
- `procs`: child processes on free ports, their logs, stopping them;
- `control`: the `bench.fakes` process, its control API, the fake workspace;
- `contestants`: the bridge and the bare forwarder started against the fakes, and the bot
  API's client (`bridge.client.BridgeClient`) that sets up handoffs in them;
- `load`: what is sent to whom, in a closed loop or paced;
- `cpu`: CPU seconds from /proc, and waiting for a quiet machine;
- `trials`: the timed throughput and latency trials, run in interleaved rounds;
- `summary`: medians and ranges over the rounds, ratios taken round by round, the targets;
- `report`: the machine, the tables, the summary, the wrap-up and the JSON;
- `args`: the command line both directions share.
"""
