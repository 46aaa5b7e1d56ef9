"""What a run of rounds comes to: each figure's median over the rounds and its range, the
ratios and differences taken round by round, and the targets of issue #14 beside them."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from statistics import median
from typing import Any

from bench.contestants import BRIDGE_SETTINGS
from bench.trials import Rounds, Trials

# The figures of a throughput trial and of a latency trial that are summed up over rounds.
THROUGHPUT = (
    "rate",
    "seconds",
    "acked_seconds",
    "cpu_server_ms_per_unit",
    "cpu_server_sys_ms_per_unit",
    "cpu_server_main_ms_per_unit",
    "cpu_server_switches",
    "cpu_fakes",
    "cpu_loadgen",
    "cpu_others",
    "cpu_steal",
)
LATENCY = ("p50_ms", "p99_ms", "max_ms", "late_p99_ms", "cpu_server_ms_per_unit")
BASELINE = "bare"  # what the latency trials compare the bridge with


@dataclass(frozen=True)
class Spread:
    """One figure over the rounds: its median, lowest and highest."""

    median: float
    low: float
    high: float

    @classmethod
    def of(cls, values: Iterable[float]) -> Spread:
        data = sorted(values)
        return cls(median(data), data[0], data[-1])

    def show(self, digits: int = 2) -> str:
        """`1.79 [1.62, 1.95]`; the median alone when every round gave the same."""
        mid = f"{self.median:.{digits}f}"
        if self.low == self.high:
            return mid
        return f"{mid} [{self.low:.{digits}f}, {self.high:.{digits}f}]"


Figures = dict[str, Spread]  # figure -> its spread over the rounds


@dataclass(frozen=True)
class Summary:
    """A run's figures over its rounds."""

    rounds: int
    throughput: dict[str, Figures]  # contestant -> its figures
    # "bridge/bare" -> "wall" (seconds over seconds) and "cpu" (server CPU over server CPU),
    # each ratio taken within a round.
    ratios: dict[str, Figures]
    # rate ("100") -> contestant, or "bridge - bare" (taken within a round) -> figures.
    latency: dict[str, dict[str, Figures]]

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


def _spreads(trials: list[dict[str, float]], names: Iterable[str]) -> Figures:
    return {k: Spread.of(t[k] for t in trials) for k in names if k in trials[0]}


def _paired(
    trials: Trials, a: str, b: str, figure: str, op: Callable[[float, float], float]
) -> Spread:
    """`op(a's figure, b's figure)` round by round."""
    return Spread.of(op(x[figure], y[figure]) for x, y in zip(trials[a], trials[b], strict=True))


def summarize(res: Rounds) -> Summary:
    """Medians and ranges of every contestant's figures; bridge/other per round."""
    throughput = {name: _spreads(trials, THROUGHPUT) for name, trials in res.throughput.items()}
    ratios: dict[str, Figures] = {}
    for other in res.throughput:
        if other == "bridge":
            continue
        pair = {"wall": _paired(res.throughput, "bridge", other, "seconds", _over)}
        if "cpu_server" in res.throughput[other][0]:
            pair["cpu"] = _paired(res.throughput, "bridge", other, "cpu_server", _over)
        ratios[f"bridge/{other}"] = pair
    latency: dict[str, dict[str, Figures]] = {}
    for rate, trials in res.latency.items():
        latency[rate] = {name: _spreads(runs, LATENCY) for name, runs in trials.items()}
        latency[rate][f"bridge - {BASELINE}"] = {
            k: _paired(trials, "bridge", BASELINE, k, _minus) for k in ("p50_ms", "p99_ms")
        }
    return Summary(len(res.throughput["bridge"]), throughput, ratios, latency)


def _over(a: float, b: float) -> float:
    return a / b


def _minus(a: float, b: float) -> float:
    return a - b


def ratio(name: str, kind: str) -> Callable[[Summary], Spread | None]:
    """The figure of a goal on `name`'s ratio ("bridge/bare"), `kind` "wall" or "cpu"."""
    return lambda s: s.ratios.get(name, {}).get(kind)


def added(rate: str, figure: str) -> Callable[[Summary], Spread | None]:
    """The figure of a goal on what the bridge adds to the bare forwarder's latency."""
    return lambda s: s.latency.get(rate, {}).get(f"bridge - {BASELINE}", {}).get(figure)


@dataclass(frozen=True)
class Goal:
    """A target issue #14 sets: what it bounds, the bound, and the bridge settings it
    holds under (setting -> the values that count)."""

    label: str
    pick: Callable[[Summary], Spread | None]
    most: float
    strict: bool = False  # "<" rather than "<="
    settings: dict[str, tuple[str, ...]] = field(default_factory=dict)

    def bound(self) -> str:
        return f"{'<' if self.strict else '<='} {self.most:g}"

    def judge(self, s: Summary) -> dict[str, Any]:
        """This run's median against the bound: met (True/False), or None and why not."""
        spread = self.pick(s)
        out: dict[str, Any] = {"goal": self.label, "bound": self.bound(), "spread": None}
        if spread is None:
            return out | {"met": None, "why": "not measured in this run"}
        out["spread"] = asdict(spread)
        for name, values in self.settings.items():
            if BRIDGE_SETTINGS.get(name) not in values:
                why = f"it holds with --set {name}={values[0]}"
                return out | {"met": None, "why": why}
        met = spread.median < self.most if self.strict else spread.median <= self.most
        return out | {"met": met, "why": ""}
