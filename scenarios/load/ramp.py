"""Ramp load: users grow linearly to 40 over the first half, then hold (5 minutes in all).

Finds where latency starts to bend: the series shows req/s and p95 against users.
Plain Locust: ``locust -f scenarios/load/ramp.py --headless --host http://HOST``.
"""

from tenant_api import StagedShape, TenantApiUser

__all__ = ["RampShape", "TenantApiUser"]


class RampShape(StagedShape):
    users = 40
    duration_s = 300.0
    stages = (("ramp", 0.5, 1.0, True), ("steady", 1.0, 1.0, False))
