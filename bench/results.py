"""The benchmarks' table: every run's value per measure and system, medians, ratios."""

from __future__ import annotations

import statistics
from collections import Counter
from dataclasses import dataclass, field

from environment import FLUX, OURS


@dataclass
class Results:
    rows: dict[tuple[str, str], list[float]] = field(default_factory=dict)
    units: dict[str, str] = field(default_factory=dict)
    failed: Counter[tuple[str, str]] = field(default_factory=Counter)

    def add(self, measure: str, system: str, value: float | None, unit: str) -> None:
        """Record one run's value; None (a timeout) is counted, not averaged."""
        self.units[measure] = unit
        self.rows.setdefault((measure, system), [])
        if value is None:
            self.failed[(measure, system)] += 1
        else:
            self.rows[(measure, system)].append(value)

    def median(self, measure: str, system: str) -> float | None:
        values = self.rows.get((measure, system))
        return statistics.median(values) if values else None

    def print(self) -> None:
        measures = list(dict.fromkeys(m for m, _ in self.rows))
        print("\n| measure | ours (median) | Flux (median) | ours/Flux | runs |")
        print("| --- | --- | --- | --- | --- |")
        for measure in measures:
            unit = self.units[measure]
            ours, theirs = self.median(measure, OURS), self.median(measure, FLUX)
            ratio = f"{ours / theirs:.2f}" if ours is not None and theirs else ""
            runs = "/".join(str(len(self.rows.get((measure, s), []))) for s in (OURS, FLUX))
            if any(self.failed[(measure, s)] for s in (OURS, FLUX)):
                runs += (
                    " (timed out: "
                    + "/".join(str(self.failed[(measure, s)]) for s in (OURS, FLUX))
                    + ")"
                )
            print(f"| {measure} | {_fmt(ours, unit)} | {_fmt(theirs, unit)} | {ratio} | {runs} |")


def _fmt(value: float | None, unit: str) -> str:
    if value is None:
        return "-"
    if unit == "MiB":
        return f"{value:.0f} MiB"
    if unit == "%":
        return f"{value:.2f} %"
    if unit == "/min":
        return f"{value:.1f}/min"
    return f"{value:.2f} {unit}"
