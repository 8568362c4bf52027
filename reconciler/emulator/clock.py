"""The simulated clock: `sim_now = anchor_sim + (real_now - anchor_real) * time_scale`.

The anchor is persisted, and every request stores the simulated time it saw, so a restarted
emulator (or the next CLI command's embedded one) continues from where the last one stopped:
simulated time passes only while an emulator runs. Everything time-dependent (file processing,
job progress, operations, expiry) is derived from `now()` when it is read.
"""

from __future__ import annotations

import sqlite3
import threading
import time

from reconciler.emulator.store import get_meta, set_meta


class SimClock:
    def __init__(self, time_scale: float) -> None:
        if time_scale <= 0:
            raise ValueError("time_scale must be positive")
        self.time_scale = time_scale
        self.anchor_sim = time.time()
        self.anchor_real = time.monotonic()
        self.lock = threading.Lock()

    def open(self, db: sqlite3.Connection) -> None:
        """Continue from the last simulated time the state file recorded (or from real now)."""
        last = get_meta(db, "sim_last")
        with self.lock:
            self.anchor_sim = float(last) if last is not None else time.time()
            self.anchor_real = time.monotonic()
        self.persist(db)

    def now(self) -> float:
        with self.lock:
            return self.anchor_sim + (time.monotonic() - self.anchor_real) * self.time_scale

    def advance(self, seconds: float) -> float:
        with self.lock:
            self.anchor_sim += seconds
        return self.now()

    def persist(self, db: sqlite3.Connection, now: float | None = None) -> None:
        set_meta(db, "sim_last", repr(self.now() if now is None else now))

    def real_seconds(self, sim_seconds: float) -> float:
        return max(0.0, sim_seconds / self.time_scale)
