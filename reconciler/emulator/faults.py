"""Injected faults: throttling (429), server errors (500, 503), dropped connections, latency.

`--faults SPEC` syntax: groups separated by `;`, each a comma-separated list of `key=value`:

    429=0.3,503=0.1,latency_ms=50            global probabilities and latency
    op=Files_Upload|FineTuning_Create,drop=0.5   a group for some operations (swagger operationIds)
    seed=7                                   seeds the random draws (reproducible runs)
    retry_after_ms=10                        the Retry-After the 429/503 answers carry
    times=1                                  the group injects at most this many faults, then
                                             lets its requests through (e.g. one failed part)

e.g. `429=0.3,503=0.1;op=Files_Upload,drop=1;seed=7`. A group with `op=` applies to those
operations instead of the global group. Probabilities are per request, drawn in the order
429, 500, 503, drop, drop_after; their sum must not exceed 1. `/_emulator/*` is never faulted.

`drop` closes the connection before the request is handled (nothing happened); `drop_after`
handles and commits it, then closes the connection without answering (it happened, but the
client cannot know: what a crash or network cut after a write looks like).

429 and 503 carry `retry-after-ms` and `Retry-After` in (fractional) seconds, which both SDKs parse
as floats, so their own retries are fast; the presence of Retry-After also makes azure-core retry
POST/PATCH. 500 carries neither.
"""

from __future__ import annotations

import random
from dataclasses import asdict, dataclass, field
from typing import Any

OUTCOMES = ("429", "500", "503", "drop", "drop_after")


@dataclass
class FaultRule:
    p429: float = 0.0
    p500: float = 0.0
    p503: float = 0.0
    drop: float = 0.0
    drop_after: float = 0.0
    latency_ms: float = 0.0
    retry_after_ms: int = 10
    times: int | None = None  # faults left to inject; None: no limit

    def probabilities(self) -> list[tuple[str, float]]:
        values = (self.p429, self.p500, self.p503, self.drop, self.drop_after)
        return list(zip(OUTCOMES, values, strict=True))

    def check(self) -> None:
        values = [p for _, p in self.probabilities()]
        if any(p < 0 or p > 1 for p in values) or sum(values) > 1 + 1e-9:
            raise ValueError("fault probabilities must be in [0, 1] and sum to at most 1")
        if self.latency_ms < 0 or self.retry_after_ms < 0 or (self.times or 0) < 0:
            raise ValueError("latency_ms, retry_after_ms and times must not be negative")


_KEYS = {"429": "p429", "500": "p500", "503": "p503", "drop": "drop", "drop_after": "drop_after"}


@dataclass
class Faults:
    default: FaultRule = field(default_factory=FaultRule)
    per_operation: dict[str, FaultRule] = field(default_factory=dict)
    seed: int | None = None
    rng: random.Random = field(default_factory=random.Random, repr=False)

    @classmethod
    def parse(cls, spec: str | None) -> Faults:
        faults = cls()
        for group in (spec or "").split(";"):
            items = [item.strip() for item in group.split(",") if item.strip()]
            if items:
                faults._add_group(dict(_pair(item) for item in items))
        faults.reseed()
        return faults

    @classmethod
    def from_json(cls, body: dict[str, Any]) -> Faults:
        """`{"spec": "..."}`, or `{"seed": 1, "rules": [{"op": [...], "429": 0.3, ...}]}`, or one
        flat rule `{"429": 0.3, "op": "Files_Upload"}`."""
        if "spec" in body:
            return cls.parse(str(body["spec"]))
        faults = cls()
        rules = body.get("rules")
        if rules is None:
            rules = (
                [{k: v for k, v in body.items() if k != "seed"}]
                if len(body) > ("seed" in body)
                else []
            )
        for rule in rules:
            faults._add_group({str(k): v for k, v in rule.items()})
        if body.get("seed") is not None:
            faults.seed = int(body["seed"])
        faults.reseed()
        return faults

    def _add_group(self, values: dict[str, Any]) -> None:
        if "seed" in values:
            self.seed = int(values.pop("seed"))
        ops = values.pop("op", None)
        if not values:
            return
        rule = FaultRule()
        for key, value in values.items():
            if key in _KEYS:
                setattr(rule, _KEYS[key], float(value))
            elif key == "latency_ms":
                rule.latency_ms = float(value)
            elif key == "retry_after_ms":
                rule.retry_after_ms = int(value)
            elif key == "times":
                rule.times = int(value)
            else:
                raise ValueError(f"unknown fault key '{key}'")
        rule.check()
        if ops is None:
            self.default = rule
            return
        names = ops if isinstance(ops, list) else str(ops).split("|")
        for name in names:
            self.per_operation[str(name)] = rule

    def reseed(self) -> None:
        self.rng = random.Random(self.seed)

    def rule_for(self, operation: str | None) -> FaultRule:
        if operation is not None and operation in self.per_operation:
            return self.per_operation[operation]
        return self.default

    def draw(self, operation: str | None) -> tuple[FaultRule, str | None]:
        """The rule that applies and the fault to inject now (None: answer normally)."""
        rule = self.rule_for(operation)
        roll = self.rng.random()
        if rule.times is not None and rule.times <= 0:
            return rule, None
        for outcome, probability in rule.probabilities():
            if roll < probability:
                if rule.times is not None:
                    rule.times -= 1
                return rule, outcome
            roll -= probability
        return rule, None

    def as_json(self) -> dict[str, Any]:
        return {
            "seed": self.seed,
            "default": asdict(self.default),
            "operations": {name: asdict(rule) for name, rule in self.per_operation.items()},
        }


def _pair(item: str) -> tuple[str, str]:
    key, sep, value = item.partition("=")
    if not sep:
        raise ValueError(f"fault spec item '{item}' is not key=value")
    return key.strip(), value.strip()
