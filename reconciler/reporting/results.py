"""`results.csv` → series by column: steps and values, blanks left out (validation is logged on
fewer steps than training, full validation at epoch ends only)."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field

from reconciler.localruns import RESULTS_COLUMNS

COLUMNS = RESULTS_COLUMNS[1:]  # Azure's columns after `step`


@dataclass(frozen=True)
class Series:
    steps: tuple[int, ...] = ()
    values: tuple[float, ...] = ()

    @property
    def last(self) -> float | None:
        return self.values[-1] if self.values else None


@dataclass(frozen=True)
class Results:
    series: dict[str, Series] = field(default_factory=dict)

    def __getitem__(self, column: str) -> Series:
        return self.series.get(column, Series())

    @property
    def steps(self) -> int:
        return max((s.steps[-1] for s in self.series.values() if s.steps), default=0)


def read_results(text: str) -> Results:
    rows = list(csv.DictReader(io.StringIO(text)))
    series = {}
    for column in COLUMNS:
        points = [
            (int(float(r["step"])), float(r[column])) for r in rows if (r.get(column) or "").strip()
        ]
        if points:
            steps, values = zip(*points, strict=True)
            series[column] = Series(tuple(steps), tuple(values))
    return Results(series)
