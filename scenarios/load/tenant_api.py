"""What Gauntlet's load profiles share: the tenant api user and a staged load shape.

Not a profile itself: the profiles (smoke.py, steady.py, ramp.py, spike.py) import from here,
which works under plain ``locust -f scenarios/load/steady.py`` too (Locust puts the
locustfile's directory on ``sys.path``). Everything is tunable from the environment, so the
harness and plain Locust run the very same file:

- ``GAUNTLET_LOAD_USERS``: peak users (default: the profile's)
- ``GAUNTLET_LOAD_DURATION_S``: length of the whole profile; stages scale with it
- ``GAUNTLET_LOAD_RPS_PER_USER``: requests per second per user (default 10; 0 = no pause,
  as fast as the service answers: the closed-loop mode benchmarks use)
- ``GAUNTLET_LOAD_HOLD=1``: after the last stage keep its users until stopped (chaos
  experiments run under the profile's load for as long as they take)
"""

from __future__ import annotations

import os
import random

from locust import FastHttpUser, LoadTestShape, constant, constant_throughput, task

USERS_ENV = "GAUNTLET_LOAD_USERS"
DURATION_ENV = "GAUNTLET_LOAD_DURATION_S"
RATE_ENV = "GAUNTLET_LOAD_RPS_PER_USER"
HOLD_ENV = "GAUNTLET_LOAD_HOLD"
ITEMS = 1000
MAX_SPAWN_RATE = 100.0  # Locust warns above 100 users/s


def env_float(name: str, default: float) -> float:
    value = os.environ.get(name, "").strip()
    if not value:
        return default
    try:
        number = float(value)
    except ValueError:
        raise SystemExit(f"{name}={value!r}: expected a number") from None
    if number < 0:
        raise SystemExit(f"{name}={value!r}: must not be negative")
    return number


class TenantApiUser(FastHttpUser):
    """A client of a tenant's api behind the platform's ingress. It sends only what the
    reference blueprint's L7 rules let the gateway send (``GET /api/v1/health`` and
    ``GET /api/v1/items/<n>``): anything else would measure the proxy's 403s, not the api."""

    _rps = env_float(RATE_ENV, 10.0)
    wait_time = constant_throughput(_rps) if _rps > 0 else constant(0)

    @task(1)
    def health(self) -> None:
        self.client.get("/api/v1/health")

    @task(9)
    def item(self) -> None:
        # One name for every id, so Locust's own statistics group them.
        self.client.get(f"/api/v1/items/{random.randint(1, ITEMS)}", name="/api/v1/items/[n]")


Stage = tuple[str, float, float, bool]
"""(phase name, end as a fraction of the duration, users as a fraction of the peak, ramp:
spread the change in users over the whole stage instead of making it at once)."""


class StagedShape(LoadTestShape):
    """Users over time as named stages; Gauntlet marks the phases in its report (``phase_at``)."""

    abstract = True
    users = 10
    """Peak users (``GAUNTLET_LOAD_USERS`` overrides)."""
    duration_s = 60.0
    """Length of the profile (``GAUNTLET_LOAD_DURATION_S`` overrides)."""
    stages: tuple[Stage, ...] = (("ramp", 0.2, 1.0, True), ("steady", 1.0, 1.0, False))

    def __init__(self) -> None:
        super().__init__()
        self.peak = max(1, round(env_float(USERS_ENV, self.users)))
        self.total_s = env_float(DURATION_ENV, self.duration_s) or self.duration_s

    def stage_at(self, t: float) -> tuple[str, float, float, int, int, bool] | None:
        """(phase, start s, end s, users before, users during, ramp) at ``t``; None after."""
        start, before = 0.0, 0
        for name, end_fraction, users_fraction, ramp in self.stages:
            end = end_fraction * self.total_s
            target = max(1, round(users_fraction * self.peak))
            if t < end:
                return name, start, end, before, target, ramp
            start, before = end, target
        return None

    def phase_at(self, t: float) -> str | None:
        stage = self.stage_at(t)
        if stage is None and self.hold:
            return "hold"
        return None if stage is None else stage[0]

    @property
    def hold(self) -> bool:
        return os.environ.get(HOLD_ENV, "") == "1"

    def tick(self) -> tuple[int, float] | None:
        stage = self.stage_at(self.get_run_time())
        if stage is None and self.hold:
            last = self.stages[-1]
            return max(1, round(last[2] * self.peak)), MAX_SPAWN_RATE
        if stage is None:
            return None
        _, start, end, before, target, ramp = stage
        change = max(1, abs(target - before))
        rate = change / max(end - start, 0.1) if ramp else change * 2.0
        return target, min(rate, MAX_SPAWN_RATE)
