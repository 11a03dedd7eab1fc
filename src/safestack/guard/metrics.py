"""Prometheus metrics in the text exposition format (version 0.0.4), written by hand: counters and histograms
with labels, thread-safe. ``prometheus_client`` is not needed."""

from __future__ import annotations

import threading
from collections import defaultdict

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


def _labels(items: tuple[tuple[str, str], ...]) -> str:
    if not items:
        return ""
    esc = lambda v: str(v).replace("\\", "\\\\").replace("\"", "\\\"").replace("\n", "\\n")  # noqa: E731
    return "{" + ",".join(f'{k}="{esc(v)}"' for k, v in items) + "}"


class Metrics:
    def __init__(self, prefix: str = "safestack_guard"):
        self.prefix = prefix
        self.lock = threading.Lock()
        self.counters: dict[str, dict[tuple, float]] = defaultdict(lambda: defaultdict(float))
        self.hists: dict[str, dict[tuple, list[float]]] = defaultdict(dict)  # buckets…, sum, count
        self.help: dict[str, tuple[str, str]] = {}

    def inc(self, name: str, help_: str, value: float = 1.0, **labels: str) -> None:
        key = tuple(sorted(labels.items()))
        with self.lock:
            self.help.setdefault(name, ("counter", help_))
            self.counters[name][key] += value

    def observe(self, name: str, help_: str, seconds: float, **labels: str) -> None:
        key = tuple(sorted(labels.items()))
        with self.lock:
            self.help.setdefault(name, ("histogram", help_))
            h = self.hists[name].get(key)
            if h is None:
                h = self.hists[name][key] = [0.0] * (len(LATENCY_BUCKETS) + 2)
            for i, b in enumerate(LATENCY_BUCKETS):
                if seconds <= b:
                    h[i] += 1
            h[-2] += seconds
            h[-1] += 1

    def render(self) -> str:
        lines = []
        with self.lock:
            for name, (kind, help_) in sorted(self.help.items()):
                full = f"{self.prefix}_{name}"
                lines.append(f"# HELP {full} {help_}")
                lines.append(f"# TYPE {full} {kind}")
                if kind == "counter":
                    for key, v in sorted(self.counters[name].items()):
                        lines.append(f"{full}{_labels(key)} {v:g}")
                else:
                    for key, h in sorted(self.hists[name].items()):
                        for i, b in enumerate(LATENCY_BUCKETS):
                            lines.append(f"{full}_bucket{_labels(key + (('le', f'{b:g}'),))} {h[i]:g}")
                        lines.append(f"{full}_bucket{_labels(key + (('le', '+Inf'),))} {h[-1]:g}")
                        lines.append(f"{full}_sum{_labels(key)} {h[-2]:.6f}")
                        lines.append(f"{full}_count{_labels(key)} {h[-1]:g}")
        return "\n".join(lines) + "\n"
