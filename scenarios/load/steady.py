"""Steady load: ramp to 20 users over the first 10 %, then hold (~200 req/s) for 2 minutes.

Plain Locust: ``locust -f scenarios/load/steady.py --headless --host http://HOST``.
"""

from tenant_api import StagedShape, TenantApiUser

__all__ = ["SteadyShape", "TenantApiUser"]


class SteadyShape(StagedShape):
    users = 20
    duration_s = 120.0
    stages = (("ramp", 0.1, 1.0, True), ("steady", 1.0, 1.0, False))
