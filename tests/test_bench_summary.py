"""The benchmarks' arithmetic over rounds (bench/summary.py, bench/trials.py): no servers."""

from __future__ import annotations

from bench.contestants import BRIDGE_SETTINGS
from bench.summary import Goal, Spread, added, ratio, summarize
from bench.trials import Rounds, rotate


def test_rotate_puts_each_contestant_first_in_turn() -> None:
    names = ["bridge", "bare", "direct"]
    assert [rotate(names, r)[0] for r in range(4)] == ["bridge", "bare", "direct", "bridge"]
    assert sorted(rotate(names, 2)) == sorted(names)


def test_spread_is_median_and_range() -> None:
    assert Spread.of([3.0, 1.0, 2.0]) == Spread(2.0, 1.0, 3.0)
    assert Spread.of([1.0, 2.0]).show() == "1.50 [1.00, 2.00]"
    assert Spread.of([4.0]).show(0) == "4"


def _throughput(seconds: float, cpu: float) -> dict[str, float]:
    return {"seconds": seconds, "rate": 100 / seconds, "cpu_server": cpu}


def _latency(p50: float, p99: float) -> dict[str, float]:
    return {"p50_ms": p50, "p99_ms": p99}


def test_ratios_and_differences_are_taken_round_by_round() -> None:
    res = Rounds(
        {
            "bridge": [_throughput(2.0, 1.0), _throughput(4.0, 3.0), _throughput(3.0, 2.0)],
            "bare": [_throughput(1.0, 0.5), _throughput(2.0, 1.0), _throughput(3.0, 1.0)],
        },
        {
            "100": {
                "bridge": [_latency(3, 9), _latency(4, 20), _latency(3, 8)],
                "bare": [_latency(1, 2), _latency(2, 4), _latency(2, 5)],
            }
        },
    )
    s = summarize(res)
    # Round by round, not the ratio of the medians (3.0 / 2.0).
    assert s.ratios["bridge/bare"]["wall"] == Spread(2.0, 1.0, 2.0)
    assert s.ratios["bridge/bare"]["cpu"] == Spread(2.0, 2.0, 3.0)
    assert s.latency["100"]["bridge - bare"]["p99_ms"] == Spread(7.0, 3.0, 16.0)
    assert s.throughput["bridge"]["seconds"].median == 3.0

    wall = Goal("wall", ratio("bridge/bare", "wall"), 2.0)
    assert wall.judge(s)["met"] is True
    p99 = Goal("p99", added("100", "p99_ms"), 7.0, strict=True)
    assert p99.judge(s)["met"] is False
    assert Goal("p99 at 50", added("50", "p99_ms"), 5).judge(s)["met"] is None


def test_a_goal_under_settings_is_judged_only_with_them() -> None:
    res = Rounds({"bridge": [_throughput(1.0, 1.0)], "bare": [_throughput(1.0, 1.0)]}, {})
    goal = Goal("off", ratio("bridge/bare", "wall"), 1.5, settings={"BRIDGE_X": ("off",)})
    assert goal.judge(summarize(res))["met"] is None
    BRIDGE_SETTINGS["BRIDGE_X"] = "off"
    try:
        assert goal.judge(summarize(res))["met"] is True
    finally:
        del BRIDGE_SETTINGS["BRIDGE_X"]
